"""Recognition before any training: a prototype of the base model's own image features.

The moment photos arrive, each concept gets the mean of its photos' vision features and a
threshold on cosine similarity calibrated on those positives against its negatives (photos
marked "not this one", then the owner's other subjects: bot/training/examples.py). It is
the retrieval baseline of the papers' RAP comparison in miniature: instant, never learns
beyond its photos, and cheap enough to pre-filter which of many concepts are worth asking
the model about.

A photo is looked at whole and part by part (docs/method.md §13). In a photo of several
subjects each fills only a part, and the whole photo's pooled feature resembles none of them;
the part that holds one resembles it as a photo of it alone does. A part finds the subject
where it resembles the subject more than any view of any negative does, whole or part: the
negatives are where the prototype learns how close a look-alike's ear or hat alone comes, so a
photo filled by a look-alike does not count as holding the subject. Where a concept also has
tokens, the model is asked about that part too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from PIL import Image
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

FORMAT = "yo-prototype/1"
# Parts looked at: a 7 x 7 grid of overlapping crops, each half the photo's width and height, a
# twelfth of it apart, so that a subject a quarter of the photo wide sits near the middle of one
# (a 4 x 4 grid, a sixth apart, found it in far fewer crowds: docs/method.md §13).
PARTS_PER_SIDE = 7
PART_SIZE = 0.5


def parts(photo: Image.Image) -> list[Image.Image]:
    """The parts of a photo the quick look also looks at, left to right, top to bottom, each
    reaching the photo's edges at the grid's ends (the model's processor scales each up)."""
    return [photo.crop(box) for box in part_boxes(*photo.size)]


def part_boxes(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Where the parts of a photo of this size are: (left, top, right, bottom) each."""
    w, h = width * PART_SIZE, height * PART_SIZE
    steps = [i / (PARTS_PER_SIDE - 1) for i in range(PARTS_PER_SIDE)]
    return [(round((width - w) * x), round((height - h) * y), round((width - w) * x + w), round((height - h) * y + h))
            for y in steps for x in steps]


@dataclass(frozen=True)
class Seen:
    probability: float  # P(present): the whole photo's, or where a part found the subject, the part's
    part: int | None  # the part (an index into `parts(photo)`) that found it; None: the whole photo


@dataclass(frozen=True)
class Prototype:
    mean: torch.Tensor  # [d], L2-normalised
    threshold: float  # cosine similarity where "present" starts
    scale: float  # similarity units per logit unit, for a probability
    # The similarity a part must reach to find the subject: the most that any view of a negative
    # reached (fit_prototype). Prototypes saved before parts were calibrated lack it: whole photos only.
    part_threshold: float = math.inf

    def probability(self, features: torch.Tensor) -> torch.Tensor:
        """P(present) for L2-normalised features [n, d] of whole photos."""
        return torch.sigmoid(self.logits(features))

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return (features.float() @ self.mean - self.threshold) / self.scale

    def look(self, whole: torch.Tensor, pieces: torch.Tensor) -> Seen:
        """Where in a photo the subject is, from the photo's features [d] and its parts' [k, d]
        (see `parts`): the best part, where it finds the subject (module docstring) and is surer
        of it than the whole photo; otherwise the whole photo."""
        on_whole = self.logits(whole[None])[0]
        if len(pieces):
            by_part = self.logits(pieces)
            best = int(by_part.argmax())
            finds = float(by_part[best]) >= max(0.0, (self.part_threshold - self.threshold) / self.scale)
            if finds and by_part[best] > on_whole:
                return Seen(float(torch.sigmoid(by_part[best])), best)
        return Seen(float(torch.sigmoid(on_whole)), None)

    def to_bytes(self) -> bytes:
        return st_save({"mean": self.mean.float().contiguous().cpu()},
                       metadata={"format": FORMAT, "threshold": repr(self.threshold), "scale": repr(self.scale),
                                 "part_threshold": repr(self.part_threshold)})

    @classmethod
    def from_bytes(cls, data: bytes) -> "Prototype":
        from .concept import _metadata

        metadata = _metadata(data)
        if metadata.get("format") != FORMAT:
            raise ValueError("not a Yo prototype")
        return cls(st_load(data)["mean"], float(metadata["threshold"]), float(metadata["scale"]),
                   float(metadata.get("part_threshold", "inf")))


def fit_prototype(positives: torch.Tensor, negatives: torch.Tensor,
                  negative_parts: torch.Tensor | None = None) -> Prototype:
    """Mean of the positives, the threshold that best separates them from the negatives [n, d],
    and the part threshold: the highest similarity of any negative or any of its parts [m, d].

    Positives are scored leave-one-out (each against the mean of the others), so a photo's
    similarity to a mean that contains it does not make the threshold too strict. Without
    negatives, a part must resemble the subject as much as the least typical of its own photos.
    """
    positives = torch.nn.functional.normalize(positives.float(), dim=-1)
    negatives = torch.nn.functional.normalize(negatives.float(), dim=-1) if len(negatives) else negatives.float()
    mean = torch.nn.functional.normalize(positives.mean(0), dim=0)
    n = len(positives)
    if n > 1:
        totals = positives.sum(0, keepdim=True)
        others = torch.nn.functional.normalize(totals - positives, dim=-1)
        positive_scores = (positives * others).sum(-1)
    else:
        positive_scores = positives @ mean
    spread = float(positive_scores.std()) if n > 2 else 0.05
    if len(negatives) == 0:
        # Nothing to calibrate against: accept what looks like the photos, with a margin.
        threshold = float(positive_scores.min()) - spread
        return Prototype(mean, threshold, max(spread, 1e-3), part_threshold=float(positive_scores.min()))
    negative_scores = negatives @ mean
    threshold = _best_split(positive_scores.tolist(), negative_scores.tolist())
    gap = abs(float(positive_scores.mean()) - float(negative_scores.mean()))
    views = negative_scores if negative_parts is None else torch.cat(
        [negative_scores, torch.nn.functional.normalize(negative_parts.float(), dim=-1) @ mean])
    return Prototype(mean, threshold, max(gap / 4, 1e-3), part_threshold=float(views.max()))


def _best_split(positive: list[float], negative: list[float]) -> float:
    """The cut with the best balanced accuracy; among ties, the middle of the widest gap."""
    cuts = sorted(set(positive + negative))
    candidates = [cuts[0] - 1e-6] + [(a + b) / 2 for a, b in zip(cuts, cuts[1:])] + [cuts[-1] + 1e-6]
    best, best_score = candidates[0], -math.inf
    for cut in candidates:
        score = (sum(p >= cut for p in positive) / len(positive) + sum(q < cut for q in negative) / len(negative)) / 2
        if score > best_score + 1e-9:
            best, best_score = cut, score
    return best
