"""Fixtures every test folder may use: the tiny models, built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random LLaVA saved like a real checkpoint (answers mean nothing)."""
    from personalization.engine.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "llava", seed=0)


@pytest.fixture(scope="session")
def toyworld_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, float]]:
    """The toy-world stand-in: the tiny LLaVA pretrained on the procedural world, built once per run
    through the command line (`yo tiny-model DIR --pretrain toyworld`, about ten minutes on two cores),
    with the accuracies on its own held-out questions that the command prints last."""
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("toyworld") / "llava"
    done = subprocess.run([sys.executable, "-m", "bot.cli", "tiny-model", str(folder), "--pretrain", "toyworld"],
                          capture_output=True, text=True, timeout=2400)
    assert done.returncode == 0, done.stderr[-3000:]
    report = [line for line in done.stdout.splitlines() if line.startswith("toyworld: seconds=")][-1]
    print(report)
    figures = dict(item.split("=") for item in report.removeprefix("toyworld: ").split())
    return folder, {k: float(v) for k, v in figures.items()}
