"""Fixtures every test folder may use: the tiny models, built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random LLaVA saved like a real checkpoint (answers mean nothing)."""
    from personalization.engine.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "llava", seed=0)
