"""Draw pictures with any mix of concepts, several requests per `generate` call.

A request is text segments (an int names a concept, as in questions), its concepts, how many
images and a seed. Its prompt is the user turn with each concept's prompt first (as when
answering), the generation prompt, then every two-set concept's generation tokens forced
(self-prompting, docs/method.md §4) and the image-start token:

    <|User|>: <bo> is <g…><u…>. <mam> is <g…><u…>. <bo> and <mam> on a sofa

    <|Assistant|>:<bo's g…><mam's g…><begin_of_image>

The unconditional twin of each prompt (classifier-free guidance) keeps only BOS and the
image-start token, as Janus' `generate` builds it: no concept vector reaches it, so guidance
pushes towards the concepts as well as towards the words.

`GuidedSampler` does guidance and sampling per row with that row's own generator, seeded from
(request seed, image number): a request draws the same images whether it ran alone or batched
with others, and n images of one seed differ from each other.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from typing import Sequence

import torch
from PIL import Image

from .types import ConceptRef, Segments
from .backends.base import DrawingBackend
from .inference import Inference, Vectors
from .prompts import join_turn

DrawRequest = tuple[Segments, Sequence[ConceptRef], int, "int | None"]  # segments, concepts, n, seed
MAX_IMAGES = 4  # per request (the chats offer 1-4)


class GuidedSampler:
    """Logits processor: [2B, V] conditional + unconditional logits -> [B, V] with one finite entry."""

    def __init__(self, generators: list[torch.Generator], guidance: float, temperature: float) -> None:
        self.generators, self.guidance, self.temperature = generators, guidance, temperature

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        cond, uncond = scores.float().chunk(2)
        logits = uncond + self.guidance * (cond - uncond)  # as the Janus code: on raw logits
        if self.temperature <= 0:
            picks = logits.argmax(-1)
        else:
            probs = (logits / self.temperature).softmax(-1)
            picks = torch.stack([torch.multinomial(probs[i], 1, generator=g)[0]
                                 for i, g in enumerate(self.generators)])
        out = torch.full_like(logits, float("-inf"))
        return out.scatter_(1, picks[:, None], 0.0)


@dataclass
class _Row:
    ids: list[int]
    vectors: list[Vectors | None]
    generator: torch.Generator


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def row_seed(seed: int, image: int) -> int:
    return (seed * 1_000_003 + image) % (2**63 - 1)


class Drawing:
    def __init__(self, backend: DrawingBackend, inference: Inference, batch_size: int = 8, guidance: float = 5.0,
                 temperature: float = 1.0) -> None:
        self.backend, self.inference, self.batch_size = backend, inference, batch_size
        self.guidance, self.temperature = guidance, temperature  # Janus-Pro's defaults: cfg 5, temperature 1

    def prompt(self, segments: Segments, concepts: Sequence[ConceptRef]) -> tuple[list[int], list[Vectors | None]]:
        """The prompt's ids (ending with the image-start token) and its concepts' vectors, slot by slot."""
        subjects = self.inference.subjects(concepts)
        asked = join_turn([s.prompt for s in subjects], self.inference.question(segments, subjects))
        forced = tuple(token for s in subjects for token in s.drawing)
        ids = list(self.backend.tokens.start(None).user(asked).assistant(forced).ids) + [self.backend.boi_id]
        return ids, [s.vectors for s in subjects]

    def rows(self, requests: Sequence[DrawRequest]) -> list[_Row]:
        rows = []
        for segments, concepts, n, seed in requests:
            if not 1 <= n <= MAX_IMAGES:
                raise ValueError(f"I can draw 1 to {MAX_IMAGES} pictures at a time, not {n}")
            ids, vectors = self.prompt(segments, concepts)
            seed = random.SystemRandom().randrange(2**31) if seed is None else seed
            for image in range(n):
                generator = torch.Generator(self.backend.device).manual_seed(row_seed(seed, image))
                rows.append(_Row(ids, vectors, generator))
        return rows

    def codes(self, rows: Sequence[_Row]) -> torch.Tensor:
        """VQ tokens [len(rows), image_tokens], `batch_size` rows per `generate` call."""
        backend, slots, out = self.backend, self.backend.slots, []
        pad = backend.tokens.pad_id
        for i in range(0, len(rows), self.batch_size):
            chunk = rows[i:i + self.batch_size]
            width = max(len(r.ids) for r in chunk)
            ids = torch.tensor([[pad] * (width - len(r.ids)) + r.ids for r in chunk], device=backend.device)
            mask = torch.tensor([[0] * (width - len(r.ids)) + [1] * len(r.ids) for r in chunk], device=backend.device)
            sampler = GuidedSampler([r.generator for r in chunk], self.guidance, self.temperature)
            # Bound for the conditional rows: generate embeds [prompts; unconditional twins] in one lookup.
            with slots.bind(*slots.pack([r.vectors for r in chunk], backend.device, backend.dtype)):
                out.append(backend.draw_codes(ids, mask, sampler))
        return torch.cat(out) if out else torch.zeros(0, backend.image_tokens, dtype=torch.long)

    @torch.no_grad()
    def images(self, requests: Sequence[DrawRequest]) -> list[list[Image.Image]]:
        rows = self.rows(requests)
        codes = self.codes(rows)
        pictures = [picture for i in range(0, len(codes), self.batch_size)
                    for picture in self.backend.decode(codes[i:i + self.batch_size])]
        out, at = [], 0
        for _, _, n, _ in requests:
            out.append(pictures[at:at + n])
            at += n
        return out

    def draw_batch(self, requests: Sequence[DrawRequest]) -> list[list[bytes]]:
        return [[png(p) for p in pictures] for pictures in self.images(requests)]
