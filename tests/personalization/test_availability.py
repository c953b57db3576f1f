"""Saying plainly why a model can't be served, before trying to."""

from __future__ import annotations

from pathlib import Path

from serving.availability import problems


def test_a_folder_without_a_checkpoint(tmp_path: Path) -> None:
    errors, _ = problems(str(tmp_path))
    assert errors == [f"{tmp_path} is a folder but has no config.json: point YO_MODEL at a saved checkpoint."]


def test_a_hub_model_that_is_not_downloaded_while_offline(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    errors, _ = problems("llava-hf/llava-1.5-13b-hf")
    assert len(errors) == 1 and "isn't downloaded and HF_HUB_OFFLINE=1 forbids fetching it" in errors[0]


def test_a_tiny_local_checkpoint_is_fine_on_a_cpu(tiny_model: Path) -> None:
    assert problems(str(tiny_model), "cpu") == ([], [])


def test_a_gpu_asked_for_where_there_is_none(tiny_model: Path) -> None:
    import torch

    errors, _ = problems(str(tiny_model), "cuda")
    assert bool(errors) != torch.cuda.is_available()
