"""bench/quicklook.py runs end to end on a tiny model and prints both ways of looking and their ratio."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def test_bench_quicklook_smoke(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(__file__).resolve().parents[2] / "bench" / "quicklook.py"
    spec = importlib.util.spec_from_file_location("bench_quicklook", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_quicklook"] = module
    spec.loader.exec_module(module)
    assert module.main(["--model", str(tiny_model), "--seeds", "3", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    for figure in ("single", "crowded", "crowded_f1"):
        assert f"  {figure}: whole photo" in out and "with parts" in out
    assert out.count("seed 3:") == 1 and "ratio" in out
