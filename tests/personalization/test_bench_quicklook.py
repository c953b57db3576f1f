"""bench/quicklook.py runs end to end on a tiny model and prints both ways of looking and their ratio."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.personalization import bench_scripts


def test_bench_quicklook_smoke(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = bench_scripts.load("quicklook")
    assert module.main(["--model", str(tiny_model), "--seeds", "3", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    for figure in ("single", "crowded", "crowded_f1"):
        assert f"  {figure}: whole photo" in out and "with parts" in out
    assert out.count("seed 3:") == 1 and "ratio" in out
