"""bench/quicklook.py runs end to end on a tiny model and prints the three ways of looking and the ratios."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.personalization import bench_scripts


def test_bench_quicklook_smoke(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = bench_scripts.load("quicklook")
    assert module.main(["--model", str(tiny_model), "--seeds", "3", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    for figure in ("single", "crowded", "crowded_f1"):
        line = next(line for line in out.splitlines() if line.startswith(f"  {figure}: "))
        assert "whole " in line and "standout " in line and "parts " in line
        assert "ratio now to whole" in line and "to standout" in line
    assert out.count("seed 3:") == 1
