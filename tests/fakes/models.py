"""A stand-in ModelService for tests of the assistant and the chat adapters.

It does no machine learning: a photo "contains" a concept when its average colour is
close to the average colour of that concept's training photos. That is enough to drive
every conversation path deterministically; the real engine is tested on its own.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from typing import Sequence

from PIL import Image

from serving.protocol import (
    CancelToken,
    ModelUnavailable,
    ConceptRef,
    ProgressCallback,
    Recognition,
    Segments,
    TextCallback,
    TrainProgress,
    TrainRequest,
    TrainResult,
    TrainingCancelled,
)

from bot.assistant.teaching import KIND_QUESTION


def mean_colour(data: bytes) -> tuple[float, float, float]:
    pixel = Image.open(io.BytesIO(data)).convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    return tuple(float(c) for c in pixel)  # type: ignore[union-attr, return-value]


class FakeModelService:
    model_id = "fake/colour-model"
    label = ""

    def __init__(self, train_steps: int = 4, step_seconds: float = 0.0, word_seconds: float = 0.0) -> None:
        self.train_steps = train_steps
        self.step_seconds = step_seconds
        self.word_seconds = word_seconds  # a streamed answer's pause before each word
        self.calls: list[tuple[str, object]] = []
        self.trained: list[TrainRequest] = []
        self.streamed: list[list[str]] = []  # the texts so far handed to each on_text

    def check(self, concepts: Sequence[ConceptRef]) -> None:
        """Tokens or a prototype of another model are refused, as the engine refuses them (its worker's
        error arrives as a RuntimeError)."""
        for concept in concepts:
            for data in (concept.tokens, concept.prototype):
                learned_on = json.loads(data).get("model", self.model_id) if data else self.model_id
                if learned_on != self.model_id:
                    raise RuntimeError(f"ConceptMismatch: {concept.name} was learned on {learned_on}; "
                                       f"this bot runs {self.model_id}: teach it again")

    async def recognise(self, photo: bytes, concepts: Sequence[ConceptRef]) -> list[Recognition]:
        self.calls.append(("recognise", [c.name for c in concepts]))
        self.check(concepts)
        colour = mean_colour(photo)
        out = []
        for concept in concepts:
            ref = json.loads(concept.tokens or concept.prototype or b'{"colour": [0, 0, 0]}')["colour"]
            distance = sum((a - b) ** 2 for a, b in zip(colour, ref)) ** 0.5
            probability = max(0.0, 1.0 - distance / 100.0)
            out.append(Recognition(present=probability >= 0.5, probability=probability))
        return out

    async def answer(self, question: Segments, concepts: Sequence[ConceptRef], photo: bytes | None = None,
                     on_text: TextCallback | None = None) -> str:
        """Says "(fake answer to: QUESTION)"; with `on_text`, first writes it word by word (the text so far,
        `word_seconds` apart), as the real worker streams."""
        self.calls.append(("answer", (question, [c.name for c in concepts], photo is not None)))
        self.check(concepts)
        if list(question) == [KIND_QUESTION]:
            return "A toy."
        text = "".join(concepts[s].name if isinstance(s, int) else s for s in question)
        facts = " ".join(f for c in concepts for f in c.facts)
        answer = f"(fake answer to: {text})" + (f" [facts: {facts}]" if facts else "")
        if on_text is not None:
            pieces: list[str] = []
            self.streamed.append(pieces)
            for word in re.finditer(r"\S+", answer):
                await asyncio.sleep(self.word_seconds)
                pieces.append(answer[:word.end()])
                on_text(pieces[-1])
        return answer

    async def describe(self, photos: Sequence[bytes]) -> str:
        self.calls.append(("describe", len(photos)))
        return "a subject of one colour"

    async def prototype(self, positives: Sequence[bytes], negatives: Sequence[bytes],
                        negatives_dir: str | None = None) -> bytes:
        self.calls.append(("prototype", (len(positives), len(negatives), negatives_dir)))
        colours = [mean_colour(p) for p in positives]
        return json.dumps({"colour": [sum(c[i] for c in colours) / len(colours) for i in range(3)],
                           "model": self.model_id}).encode()

    async def train(self, request: TrainRequest, progress: ProgressCallback | None = None,
                    cancel: CancelToken | None = None) -> TrainResult:
        self.trained.append(request)
        for step in range(1, self.train_steps + 1):
            if cancel is not None and cancel.is_set():
                raise TrainingCancelled()
            await asyncio.sleep(self.step_seconds)
            if progress:
                progress(TrainProgress(stage="training", epoch=step, epochs=self.train_steps,
                                       step=step, steps=self.train_steps, loss=1.0 / step))
        colours = [mean_colour(p) for p in request.positives]
        avg = [sum(c[i] for c in colours) / len(colours) for i in range(3)]
        return TrainResult(tokens=json.dumps({"colour": avg, "model": self.model_id}).encode(), train_accuracy=1.0,
                           epochs_run=self.train_steps)

    async def draw(self, segments: Segments, concepts: Sequence[ConceptRef], n: int = 1,
                   seed: int | None = None) -> list[bytes]:
        raise ModelUnavailable(f"I can't draw with the model I run ({self.model_id}); "
                               "drawing needs one that makes images, such as Janus-Pro.")

    async def close(self) -> None:
        return None


class FakeDrawingService(FakeModelService):
    """The fake with a model that draws: each image is a square of the first concept's colour."""

    model_id = "fake/drawing-model"

    async def draw(self, segments: Segments, concepts: Sequence[ConceptRef], n: int = 1,
                   seed: int | None = None) -> list[bytes]:
        self.calls.append(("draw", (segments, [c.name for c in concepts], n, seed)))
        colour = json.loads(concepts[0].tokens or b'{"colour": [0, 0, 0]}')["colour"] if concepts else [0, 0, 0]
        images = []
        for _ in range(n):
            out = io.BytesIO()
            Image.new("RGB", (32, 32), tuple(int(c) for c in colour)).save(out, format="PNG")
            images.append(out.getvalue())
        return images
