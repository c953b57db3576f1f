"""bench/quicklook.py runs end to end on a tiny model and prints every way of fitting and looking, with ratios."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.personalization import bench_scripts


def test_bench_quicklook_smoke(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = bench_scripts.load("quicklook")
    assert module.main(["--model", str(tiny_model), "--seeds", "3", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    for figure in ("single", "strangers", "crowded", "crowded_f1"):
        line = next(line for line in out.splitlines() if line.startswith(f"  {figure}: "))
        for way in ("owner/whole", "owner/parts", "everyday/whole", "everyday/parts"):
            assert f"{way} " in line
        assert "ratio of everyday/parts to owner/whole" in line and "to owner/parts" in line
    assert out.count("seed 3:") == 1
