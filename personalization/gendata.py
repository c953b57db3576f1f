"""Generation training data for one concept (Yo'Chameleon, docs/method.md §4), as plain numbers.

- Reconstruction: each real photo's VQ tokens are the target of "A photo of <sks>." asked
  after the concept prompt; the answer starts with all k generation tokens (self-prompting).
- Soft positives: look-alike images ranked by similarity to the mean feature of the real
  photos and cut into k-1 groups; an image of group i (0 = closest) is the target of
  "A photo of <g0>..<g_j>." with j = k-2-i: the closer the group, the more generation tokens
  describe it, so the first tokens learn what the subject shares with its kind and the last
  ones what only the real photos show. The real photos get all k.

This module only decides which image is trained with how many tokens; drawtrainer.py turns
that into token ids, and genbatch.py into a loss.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

DRAW_PROMPT = "A photo of {sks}."


@dataclass(frozen=True)
class DrawingConfig:
    k: int = 16  # generation tokens per concept (the understanding tokens: TrainConfig.k)
    reconstruction_repeats: int = 2  # each real photo per epoch
    soft_positives: int = 200  # ranked look-alikes kept (the paper: about 1000)
    soft_per_epoch: int = 48  # of them trained per epoch: reconstruction stays a good share of the steps
    lookalikes: int = 32  # drawn by the model itself when the pool has fewer than soft_positives
    # Mirror images as extra reconstruction targets: off, since a mirror image is another token
    # sequence altogether, which the same k tokens then have to describe too (on the tiny model it
    # halved the reconstruction accuracy); the soft positives do the regularising.
    flip: bool = False


@dataclass(frozen=True)
class Drawn:
    """One generation example: an image of the code bank and how many generation tokens name it."""

    image: int  # real photos first (0 .. n_real-1), then soft positives, most similar first
    tokens: int
    real: bool  # real photo: the concept prompt + "A photo of <sks>."; soft: "A photo of <g0>..<g_j>."
    flip: bool = False


def category_prompt(category: str) -> str:
    """"dog" -> "A photo of a dog."; a category that already reads "a photo of ..." is kept."""
    text = category.strip().rstrip(".")
    if text.lower().startswith(("a photo", "an image", "a picture")):
        return text[0].upper() + text[1:] + "."
    if not text.lower().startswith(("a ", "an ", "the ")):
        text = ("an " if text[:1].lower() in "aeiou" else "a ") + text
    return f"A photo of {text}."


def soft_tokens(n: int, k: int) -> list[int]:
    """Generation tokens per soft positive, most similar first: k-1 groups from k-1 tokens down to 1."""
    if k < 2 or n == 0:
        return []
    groups = min(k - 1, n)
    return [k - 1 - (i * groups // n) * (k - 1) // groups for i in range(n)]


def rank(real: torch.Tensor, candidates: torch.Tensor, top: int) -> list[int]:
    """Indices of the `top` candidates closest to the mean of the real photos' features, closest first."""
    if len(candidates) == 0 or top <= 0:
        return []
    centre = torch.nn.functional.normalize(real.float().mean(0), dim=-1)
    similarity = candidates.float() @ centre
    return similarity.topk(min(top, len(candidates))).indices.tolist()


@dataclass(frozen=True)
class DrawPlan:
    n_real: int
    soft: tuple[int, ...]  # per soft positive (bank index n_real + j): its number of generation tokens
    k: int
    repeats: int = 2
    per_epoch: int = 48
    flip: bool = False

    @classmethod
    def of(cls, n_real: int, n_soft: int, config: DrawingConfig) -> "DrawPlan":
        return cls(n_real, tuple(soft_tokens(n_soft, config.k)), config.k, config.reconstruction_repeats,
                   config.soft_per_epoch, config.flip)

    def reconstruction(self) -> list[Drawn]:
        """Every real photo once, unflipped: what the per-epoch reconstruction loss is measured on."""
        return [Drawn(i, self.k, True) for i in range(self.n_real)]

    def epoch(self, rng: random.Random) -> list[Drawn]:
        real = [Drawn(i, self.k, True, self.flip and rng.random() < 0.5)
                for i in range(self.n_real) for _ in range(self.repeats)]
        chosen = rng.sample(range(len(self.soft)), min(self.per_epoch, len(self.soft)))
        examples = real + [Drawn(self.n_real + j, self.soft[j], False) for j in chosen]
        rng.shuffle(examples)
        return examples
