"""bench/draw.py runs end to end on the tiny Janus (a few steps of each side) and prints its ratios."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def test_bench_draw_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(__file__).resolve().parents[2] / "bench" / "draw.py"
    spec = importlib.util.spec_from_file_location("bench_draw", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_draw"] = module
    spec.loader.exec_module(module)
    assert module.main(["--seconds", "0.2", "--requests", "2", "--images", "2"]) == 0
    out = capsys.readouterr().out
    assert "s/image" in out and "published loop" in out and "time per concept" in out
