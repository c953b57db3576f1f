"""The seam between the bot and the models: the service the assistant calls.

A `ModelService` is one object per bot process. It takes and gives the engine's plain data
(personalization/types.py), so the same request can be served by a child process on this
machine (client.py) or by a Ray actor on another (cluster/).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, Union

from personalization.types import (
    CancelToken,
    ConceptRef,
    Pause,
    ProgressCallback,
    Recognition,
    Segments,
    TextCallback,
    TrainingCancelled,
    TrainProgress,
    TrainRequest,
    TrainResult,
)

__all__ = ["Answer", "CancelToken", "ConceptRef", "Describe", "Draw", "Engine", "ModelService",
           "ModelUnavailable", "ProgressCallback", "Prototype", "Recognise", "Recognition", "Request", "Segments",
           "TextCallback", "Train", "TrainingCancelled", "TrainProgress", "TrainRequest", "TrainResult"]


class ModelService(Protocol):
    """What the assistant needs from the models: one object per bot process."""

    model_id: str
    # Said after every reply resting on this model's output, where its answers mean nothing (a smoke
    # run's tiny random model); empty for a real model. The assistant adds it (Services.labelled).
    label: str

    async def recognise(self, photo: bytes, concepts: Sequence[ConceptRef]) -> list[Recognition]: ...

    async def answer(self, question: Segments, concepts: Sequence[ConceptRef], photo: bytes | None = None,
                     on_text: TextCallback | None = None) -> str:
        """The model's answer. `on_text`, when given, is called on the event loop with the answer
        so far while it is written (a service that cannot stream may never call it); the returned
        text is the whole answer, which is what to show in the end."""
        ...

    async def describe(self, photos: Sequence[bytes]) -> str: ...

    async def prototype(self, positives: Sequence[bytes], negatives: Sequence[bytes],
                        negatives_dir: str | None = None) -> bytes:
        """The instant recogniser of a concept: usable in ConceptRef.prototype at once. Its negatives:
        `negatives` and the everyday photos of `negatives_dir` most like the positives."""
        ...

    async def train(self, request: TrainRequest, progress: ProgressCallback | None = None,
                    cancel: CancelToken | None = None) -> TrainResult: ...

    async def draw(self, segments: Segments, concepts: Sequence[ConceptRef], n: int = 1,
                   seed: int | None = None) -> list[bytes]:
        """n PNG images (1-4) of the text, concepts named by index; the same seed gives the same
        images. Raises ModelUnavailable, saying so, when the model does not draw (only the model
        knows: Janus-Pro does, LLaVA does not)."""
        ...

    async def close(self) -> None: ...


class ModelUnavailable(Exception):
    """The model (or its worker) could not serve the request; str() says why, for the user."""


# -- one request per operation, as it travels to a worker (a pipe, a Ray call) ---------------------
# Each says what it asks and what its reply is; Worker (worker.py) runs it on an `Engine`.

@dataclass(frozen=True)
class Recognise:
    """Is each concept in the photo? Reply: list[Recognition], one per concept."""

    photo: bytes
    concepts: list[ConceptRef]


@dataclass(frozen=True)
class Answer:
    """A question (concepts named by index), about a photo or not. Reply: str."""

    question: Segments
    concepts: list[ConceptRef]
    photo: bytes | None = None


@dataclass(frozen=True)
class Draw:
    """n pictures of the text; the same seed, the same pictures. Reply: list[bytes] (PNG)."""

    segments: Segments
    concepts: list[ConceptRef]
    n: int = 1
    seed: int | None = None


@dataclass(frozen=True)
class Describe:
    """One sentence about the subject of the photos. Reply: str."""

    photos: list[bytes]


@dataclass(frozen=True)
class Prototype:
    """The quick look's recogniser of a concept. Reply: bytes, for ConceptRef.prototype."""

    positives: list[bytes]
    negatives: list[bytes]
    negatives_dir: str | None = None  # everyday photos, on the worker's disk (TrainRequest.negatives_dir)


@dataclass(frozen=True)
class Train:
    """Learn a concept. Reply: TrainResult; progress messages (TrainProgress) before it."""

    request: TrainRequest


Request = Union[Recognise, Answer, Draw, Describe, Prototype, Train]
# The requests a worker answers many at once, in one pass of the model.
BATCHED = (Recognise, Answer, Draw)


class Engine(Protocol):
    """What a worker needs of the engine it serves (personalization.Engine is one)."""

    @property
    def model_id(self) -> str: ...

    @property
    def can_draw(self) -> bool: ...

    def recognise_batch(self, requests: Sequence[tuple[bytes, Sequence[ConceptRef]]]) -> list[list[Recognition]]: ...

    def answer_batch(self, requests: Sequence[tuple[Segments, Sequence[ConceptRef], bytes | None]],
                     on_text: Sequence[TextCallback | None] | None = None) -> list[str]: ...

    def draw_batch(self, requests: Sequence[tuple[Segments, Sequence[ConceptRef], int, int | None]]
                   ) -> list[list[bytes]]: ...

    def describe(self, photos: Sequence[bytes]) -> str: ...

    def prototype(self, positives: Sequence[bytes], negatives: Sequence[bytes],
                  negatives_dir: str | None = None) -> bytes: ...

    def train(self, request: TrainRequest, progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None, between: Pause | None = None) -> TrainResult: ...
