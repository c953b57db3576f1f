"""bench/draw.py runs end to end on the tiny Janus (a few steps of each side) and prints its ratios."""

from __future__ import annotations

import pytest

from tests.personalization import bench_scripts


def test_bench_draw_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    module = bench_scripts.load("draw")
    assert module.main(["--seconds", "0.2", "--requests", "2", "--images", "2"]) == 0
    out = capsys.readouterr().out
    assert "s/image" in out and "published loop" in out and "time per concept" in out
