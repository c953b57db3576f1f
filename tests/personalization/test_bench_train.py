"""bench/train.py runs end to end (a few steps of each side) and prints its ratio."""

from __future__ import annotations

import pytest

from tests.personalization import bench_scripts


def test_bench_train_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    module = bench_scripts.load("train")
    assert module.main(["--seconds", "0.3", "--rounds", "1", "--negatives", "6", "--batch-size", "4"]) == 0
    out = capsys.readouterr().out
    assert "yo trainer" in out and "recipe as written" in out and "speed-up, samples/s" in out
