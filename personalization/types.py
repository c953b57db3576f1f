"""What goes into the engine and comes out of it: plain data (bytes, str, numbers, lists),
so that whoever calls the engine may do it in this thread, a child process or a machine
elsewhere (serving/ does all three).

Text that mentions concepts travels as a list of segments: a `str` is literal user
text, an `int` is an index into the request's `concepts`. The engine turns an index
into that concept's identifier token; user text is never parsed for control tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

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
# Called by long engine work (a training: its preparation's chunks and its steps) at the points where
# it may be interrupted: whoever called it may use the model in between (the worker answers the
# questions waiting), and it goes on after. It returns True while questions are coming in: the
# training then pauses more often (after each example of a step, not only between steps).
Pause = Callable[[], bool]
# An answer as it is being written: called with the text so far as it grows (whole words, never
# half a character).
TextCallback = Callable[[str], None]


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


class TrainingCancelled(Exception):
    """Raised by `train` when its cancel token was set; the concept stays as it was."""
