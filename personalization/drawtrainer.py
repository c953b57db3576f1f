"""Train a concept that a model both understands and draws with (Yo'Chameleon, docs/method.md §4, §11).

The concept holds two token sets, "<sks> is <g0>..<g15><u0>..<u15>.": generation tokens and
understanding tokens. Everything of trainer.py stays (recognition, hard negatives, attribute QA,
the loop, the kept epoch), with three additions:

- self-prompting: every answer starts with the understanding tokens, every image with the
  generation tokens. They are forced there at inference, so here they are context only: no
  loss on them (their output rows would only be needed to generate them, and they never are);
- generation data (gendata.py): reconstruction of the real photos' VQ tokens, and soft
  positives — pool images and request negatives ranked by similarity to the real photos'
  mean feature, described by fewer generation tokens the further they are;
- look-alikes the model draws itself from the concept's category ("A photo of a dog.") when
  the pool is thin: they serve as soft positives and as hard negatives for recognition, so a
  concept trains without any outside photo collection.

The epoch kept is the one best at both tasks on the training data: the mean of training
recognition accuracy and reconstruction token accuracy.
"""

from __future__ import annotations

import hashlib
import logging
import random
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from .types import CancelToken, Pause, ProgressCallback, TrainRequest, TrainResult
from . import data, negatives
from .backends.base import DrawingBackend
from .drawing import Drawing, DrawRequest
from .gendata import DRAW_PROMPT, DrawPlan, Drawn, category_prompt, rank
from .genbatch import DrawRow, reconstruction
from .inference import open_photo
from .prompts import fill, join_turn
from .trainer import Batch, ImageBank, Trainer, TrainConfig, train_concept

if TYPE_CHECKING:
    from . import Engine

log = logging.getLogger(__name__)


class DrawingTrainer(Trainer):
    draws = True

    def __init__(self, engine: "Engine", request: TrainRequest, config: TrainConfig,
                 progress: ProgressCallback | None, cancel: CancelToken | None, between: Pause | None = None) -> None:
        super().__init__(engine, request, config, progress, cancel, between)
        if not isinstance(engine.backend, DrawingBackend) or engine.drawing is None:
            raise ValueError(f"{engine.model_id} cannot draw: train it with trainer.Trainer")
        self.drawer: DrawingBackend = engine.backend
        self.drawing: Drawing = engine.drawing
        self.generation = self.backend.slots.ids(0, self.n_latents).latents[: self.n_generation]
        self.drawn: list[Image.Image] = []
        self.top: tuple[float, ...] | None = None
        self._draw_ids: dict[tuple[bool, int], list[int]] = {}

    # -- preparing ----------------------------------------------------------------------------

    def lookalikes(self, positives: list[Image.Image]) -> list[Image.Image]:
        """Images of the concept's category drawn by the base model, when the pool is thin."""
        wanted = self.config.drawing
        have = len(self.engine.negative_pool.files(self.request.negatives_dir)) + len(self.request.negatives)
        count = min(wanted.lookalikes, wanted.soft_positives - have)
        if count <= 0:
            return []
        if not self.request.category:
            log.warning("no category to draw look-alikes of and %d pool images: soft positives stay few", have)
            return []
        prompt = category_prompt(self.request.category)
        requests: list[DrawRequest] = [([prompt], [], min(4, count - i), self.request.seed * 7919 + i)
                                       for i in range(0, count, 4)]
        self.drawn = []
        for request in requests:  # one request (up to four images) at a time, with a pause after each
            self.drawn += self.drawing.images([request])[0]
            self.checkpoint()
        log.info("drew %d look-alikes of %r", len(self.drawn), prompt)
        return list(self.drawn)

    def prepare(self) -> data.Plan:
        plan = super().prepare()  # recognition and QA data; calls lookalikes() first
        positives = [open_photo(p) for p in self.request.positives]
        soft = self.soft_positives(positives)
        images = positives + soft
        mirrored = [self.config.drawing.flip] * len(positives) + [False] * len(soft)
        self.codes = ImageBank(self.engine, images, mirrored, encode=lambda chunk: list(self.drawer.vq_encode(chunk)),
                               between=self.checkpoint)
        self.drawing_plan = DrawPlan.of(len(positives), len(soft), self.config.drawing)
        return plan

    def soft_positives(self, positives: list[Image.Image]) -> list[Image.Image]:
        """Pool photos, request negatives and drawn look-alikes closest to the real photos, closest first."""
        paths, features, hashes = self.engine.negative_pool.features(self.request.negatives_dir)
        own = {hashlib.sha256(p).digest() for p in self.request.positives}
        usable = [i for i, h in enumerate(hashes) if h not in own]  # never the user's own photo
        extra = [open_photo(p) for p in self.request.negatives] + self.drawn
        extra_features = self.backend.image_features(extra).cpu() if extra else torch.zeros(0, 0)
        candidates = [features[usable]] if usable else []
        candidates += [extra_features] if extra else []
        if not candidates:
            return []
        chosen = rank(self.backend.image_features(positives).cpu(), torch.cat(candidates),
                      self.config.drawing.soft_positives)
        out = []
        for i in chosen:
            image = negatives.load(paths[usable[i]]) if i < len(usable) else extra[i - len(usable)]
            if image is not None:
                out.append(image)
        return out

    # -- examples -> rows ---------------------------------------------------------------------

    def draw_row(self, example: Drawn) -> DrawRow:
        key = (example.real, example.tokens)
        if key not in self._draw_ids:  # tokenized once per training
            start = self.backend.tokens.start(None)
            generation = self.generation[: example.tokens]
            if example.real:  # "<sks> is <g…><u…>. A photo of <sks>."
                asked = start.user(join_turn([self.prompt], fill(DRAW_PROMPT, self.who)))
            else:  # "A photo of <g0>..<g_j>."
                asked = start.user(fill(DRAW_PROMPT, tuple(generation)))
            self._draw_ids[key] = list(asked.assistant(generation).ids) + [self.drawer.boi_id]
        return DrawRow(self._draw_ids[key], self.codes.get(example.image, example.flip))

    def tokens_of(self, example: Any) -> tuple[int, int]:
        if isinstance(example, Drawn):  # the prompt and the whole image run with gradients
            row = self.draw_row(example)
            return 0, len(row.ids) + len(row.codes)
        return super().tokens_of(example)

    def loss(self, batch: Batch) -> torch.Tensor:
        if isinstance(batch[0], Drawn):
            return reconstruction(self.drawer, [self.draw_row(e) for e in batch])[0]
        return super().loss(batch)

    def batches(self, plan: data.Plan, rng: random.Random) -> list[Batch]:
        size = self.config.batch_size
        drawings = self.drawing_plan.epoch(rng)
        out = super().batches(plan, rng) + [drawings[i:i + size] for i in range(0, len(drawings), size)]
        rng.shuffle(out)
        return out

    # -- the kept epoch -------------------------------------------------------------------------

    @torch.no_grad()
    def reconstruction(self, inputs: torch.Tensor, output: torch.Tensor) -> tuple[float, float]:
        """(loss, token accuracy) of reconstructing the real photos, as the trained prompt asks."""
        examples = self.drawing_plan.reconstruction()
        loss, accuracy = 0.0, 0.0
        for start in range(0, len(examples), self.config.batch_size):
            chunk = examples[start:start + self.config.batch_size]
            with self.backend.slots.bind(*self.bound(inputs, output, len(chunk))), self.backend.autocast():
                value, hits = reconstruction(self.drawer, [self.draw_row(e) for e in chunk])
            loss, accuracy = loss + value.item() * len(chunk), accuracy + hits.item() * len(chunk)
        return loss / len(examples), accuracy / len(examples)

    def score(self, inputs: torch.Tensor, output: torch.Tensor, plan: data.Plan) -> tuple[float, ...]:
        """(mean of both tasks' training accuracy, -reconstruction loss, recognition log-p, recognition)."""
        recognised, log_p = self.recognition(inputs, output, self.n_positives + plan.n_negatives)
        loss, drawn = self.reconstruction(inputs, output)
        log.info("reconstruction loss %.4f, token accuracy %.3f", loss, drawn)
        return (recognised + drawn) / 2, -loss, log_p, recognised

    def accuracy(self, score: tuple[float, ...]) -> float:
        return score[3]

    def saturated(self, score: tuple[float, ...]) -> bool:
        """Recognition perfect and drawing no better than before: more epochs only overfit."""
        improved = self.top is None or score > self.top
        self.top = score if improved else self.top
        return score[3] >= 1.0 and not improved


def train_drawing_concept(engine: "Engine", request: TrainRequest, progress: ProgressCallback | None = None,
                          cancel: CancelToken | None = None, config: TrainConfig | None = None,
                          between: Pause | None = None) -> TrainResult:
    return train_concept(engine, request, progress, cancel, config, trainer=DrawingTrainer, between=between)
