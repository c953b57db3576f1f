"""bench/train.py runs end to end (a few steps of each side) and prints its ratio."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def test_bench_train_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(__file__).resolve().parents[2] / "bench" / "train.py"
    spec = importlib.util.spec_from_file_location("bench_train", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_train"] = module
    spec.loader.exec_module(module)
    assert module.main(["--seconds", "0.3", "--rounds", "1", "--negatives", "6", "--batch-size", "4"]) == 0
    out = capsys.readouterr().out
    assert "yo trainer" in out and "recipe as written" in out and "speed-up, samples/s" in out
