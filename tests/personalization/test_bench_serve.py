"""bench/serve.py's generated-answers section runs on the tiny model (the figure itself is a GPU's)."""

from __future__ import annotations

from pathlib import Path

from personalization import Engine
from tests.personalization import bench_scripts


def test_bench_serve_answers_smoke(tiny_model: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    module = bench_scripts.load("serve")
    engine = Engine.load(str(tiny_model), device="cpu")
    kept = engine.inference.max_new_tokens
    speed_up = module.bench_answers(engine, n=3, tokens=4)
    printed = capsys.readouterr().out
    assert speed_up > 0 and "answers N=3, 4 tokens each" in printed and "of 3 answers the same" in printed
    assert engine.inference.max_new_tokens == kept != 4  # put back as it was
