"""The serialisable interface between the bot side and a model worker.

Everything here is plain data (bytes, str, numbers, lists, dicts) so that the same
requests can go to a thread, a child process or a machine elsewhere.

Text that mentions concepts travels as a list of segments: a `str` is literal user
text, an `int` is an index into the request's `concepts`. The engine turns an index
into that concept's identifier token; user text is never parsed for control tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Callable, Sequence

Segments = list[str | int]


@dataclass(frozen=True)
class ConceptRef:
    """A learned (or still learning) concept as a request carries it."""

    name: str  # display name, used in answers
    tokens: bytes | None = None  # the concept file (safetensors); None while not trained yet
    facts: tuple[str, ...] = ()  # things the user said about it, as plain sentences
    description: str = ""  # a short description, the fallback prompt before tokens exist
    # Instant path (before training): prototype of the photos' vision features and its threshold.
    prototype: bytes | None = None


@dataclass(frozen=True)
class Recognition:
    present: bool
    probability: float


@dataclass(frozen=True)
class TrainRequest:
    name: str
    positives: list[bytes]  # PNG/JPEG bytes of the subject
    negatives: list[bytes] = field(default_factory=list)  # photos marked "not this one", other concepts' photos
    negatives_dir: str | None = None  # a folder of everyday photos to mine hard negatives from
    category: str = ""  # "dog", "person", ... when known
    warm_start: bytes | None = None  # an earlier concept file to continue from
    epochs: int | None = None  # None: the recipe's default
    seed: int = 0


@dataclass(frozen=True)
class TrainProgress:
    stage: str  # "preparing", "training", "done"
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    steps: int = 0
    loss: float | None = None
    eta_seconds: float | None = None
    extended: bool = False  # rounds were added to the plan: the concept was not fitted by its end

    @property
    def fraction(self) -> float:
        return 0.0 if not self.steps else min(1.0, self.step / self.steps)


@dataclass(frozen=True)
class TrainResult:
    tokens: bytes  # the concept file
    train_accuracy: float
    epochs_run: int


ProgressCallback = Callable[[TrainProgress], None]
# An answer as it is being written: called with the text so far as it grows (whole words, never
# half a character).
TextCallback = Callable[[str], None]


class ModelService(Protocol):
    """What the assistant needs from the models: one object per bot process."""

    model_id: str

    async def recognise(self, photo: bytes, concepts: Sequence[ConceptRef]) -> list[Recognition]: ...

    async def answer(self, question: Segments, concepts: Sequence[ConceptRef], photo: bytes | None = None,
                     on_text: TextCallback | None = None) -> str:
        """The model's answer. `on_text`, when given, is called on the event loop with the answer
        so far while it is written (a service that cannot stream may never call it); the returned
        text is the whole answer, which is what to show in the end."""
        ...

    async def describe(self, photos: Sequence[bytes]) -> str: ...

    async def prototype(self, positives: Sequence[bytes], negatives: Sequence[bytes]) -> bytes:
        """The instant recogniser of a concept: usable in ConceptRef.prototype at once."""
        ...

    async def train(self, request: TrainRequest, progress: ProgressCallback | None = None,
                    cancel: "CancelToken | None" = None) -> TrainResult: ...

    async def close(self) -> None: ...


class DrawingService(Protocol):
    """A ModelService whose model also draws (Janus-Pro). The bot looks for `draw` on its service;
    a service without it (or whose model cannot draw) makes the bot say it cannot draw."""

    async def draw(self, segments: Segments, concepts: Sequence[ConceptRef], n: int = 1,
                   seed: int | None = None) -> list[bytes]:
        """n PNG images (1-4) of the text, concepts named by index; the same seed gives the same images."""
        ...


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


class TrainingCancelled(Exception):
    """Raised by `train` when its cancel token was set; the concept stays as it was."""


class ModelUnavailable(Exception):
    """The model (or its worker) could not serve the request; str() says why, for the user."""
