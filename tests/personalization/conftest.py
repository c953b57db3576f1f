"""The engine's tests: a loaded engine on the tiny model (tests/conftest.py builds it once per session),
a second tiny model with other weights, engines of every kind of base model for the tests that hold
for any backend (`any_engine`), and photos drawn on the fly."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable

import pytest
import torch
from PIL import Image, ImageDraw

from personalization import Engine, TrainConfig
from lab.tiny import QWEN_KINDS, build_tiny_model

torch.set_num_threads(1)  # the machine is shared; tiny models gain nothing from more

# Small enough that a training run takes a second or two on a CPU.
# A random model is never fitted: no extra epochs.
TINY_TRAIN = TrainConfig(epochs=2, extra_epochs=0, batch_size=4, hard_per_positive=3, easy_negatives=2,
                         positive_turns=4, qa_per_photo=2, qa_answer_tokens=6, k=4)


@pytest.fixture(scope="session")
def other_tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Same architecture, other weights: concepts learned on one must not load on the other."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-other") / "llava", seed=1)


@pytest.fixture(scope="session")
def engine(tiny_model: Path) -> Engine:
    return Engine.load(str(tiny_model), device="cpu", n_slots=4, k=8, config=TINY_TRAIN)


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random Qwen2.5-VL and Qwen3-VL checkpoints, by kind."""
    return {kind: build_tiny_model(tmp_path_factory.mktemp(kind) / kind, kind=kind, seed=0) for kind in QWEN_KINDS}


@pytest.fixture(scope="session", params=("llava", *QWEN_KINDS))
def any_engine(request: pytest.FixtureRequest, engine: Engine, tiny_qwen: dict[str, Path]) -> Engine:
    """The same tests on every kind of base model the engine runs: LLaVA and the Qwen-VL family."""
    if request.param == "llava":
        return engine
    return Engine.load(str(tiny_qwen[request.param]), device="cpu", n_slots=4, k=8, config=TINY_TRAIN)


def photo(colour: tuple[int, int, int], shape: str = "circle", size: tuple[int, int] = (80, 72),
          fmt: str = "PNG") -> bytes:
    image = Image.new("RGB", size, (235, 235, 225))
    draw = ImageDraw.Draw(image)
    box = (size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4)
    (draw.ellipse if shape == "circle" else draw.rectangle)(box, fill=colour)
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


@pytest.fixture
def make_photo() -> Callable[..., bytes]:
    return photo
