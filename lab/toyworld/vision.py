"""The stand-in's vision pretraining: what CLIP's pretraining gives a real LLaVA, in miniature.

A photo bank of prerendered toys, and one stage that trains the vision tower and the
projector (the language model is not run at all, so a step costs a few milliseconds):

1. The image tokens the model hands to its language model (LLaVA: tower layer -2, then the
   projector; Qwen-VL: the merger's), averaged over the photo, name each attribute of the toy,
   scored against the language model's own input embeddings of the attribute words: "red" in a
   question and a red toy in the photo start out as the same direction.
2. The photo's vector that the engine's instant recogniser and hard-negative ranking read (LLaVA:
   the class token after the tower's last norm; Qwen-VL: the mean of its tokens) is contrastive
   across subjects: two photos of one toy close, a look-alike that differs in one attribute apart.
   Batches are groups of look-alikes, so that the hard cases are always there.
"""

from __future__ import annotations

import random
import time
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from .world import (ATTRIBUTES, Crowd, Subject, random_crowd, random_lookalike, random_subject, render,
                    render_crowd)


class PhotoBank:
    """`n` prerendered photos of every subject and `crowds` crowded photos (one each), as normalised
    tensors ready for the vision tower.

    Rendering a batch of photos costs about as much as a training step, so photos are drawn once.
    """

    def __init__(self, subjects: list[Subject], n: int, seed: int, size: int, mean: list[float],
                 std: list[float], crowds: int = 0) -> None:
        rng = random.Random(f"bank:{seed}")
        self.index = {s: i for i, s in enumerate(subjects)}
        pixels = np.stack([np.asarray(render(s, rng, size)) for s in subjects for _ in range(n)])
        self.n = n
        self.pixels = torch.from_numpy(pixels).view(len(subjects), n, size, size, 3)  # uint8
        crowd_rng = random.Random(f"bank:{seed}:crowds")
        self.crowds: list[Crowd] = [random_crowd(crowd_rng) for _ in range(crowds)]
        self.crowd_index = {crowd: i for i, crowd in enumerate(self.crowds)}  # a repeated crowd: its last photo
        rendered = [np.asarray(render_crowd(c, crowd_rng, size)) for c in self.crowds]
        self.crowd_pixels = (torch.from_numpy(np.stack(rendered)) if rendered
                             else torch.empty(0, size, size, 3, dtype=torch.uint8))
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)

    def normalise(self, uint8: torch.Tensor) -> torch.Tensor:
        """(B, H, W, 3) uint8 -> (B, 3, H, W) float, as the CLIP image processor does it."""
        return (uint8.permute(0, 3, 1, 2).float() / 255.0 - self.mean) / self.std

    def take(self, photos: list[Subject | Crowd], rng: random.Random) -> torch.Tensor:
        """A photo of each subject (one of its `n`, at random) or crowd (its own)."""
        rows = [self.crowd_pixels[self.crowd_index[p]] if isinstance(p, tuple) else
                self.pixels[self.index[p], rng.randrange(self.n)] for p in photos]
        return self.normalise(torch.stack(rows))


class FreshPhotos(PhotoBank):
    """Photos rendered on demand: evaluation never sees a training photo."""

    def __init__(self, rng: random.Random, size: int, mean: list[float], std: list[float]) -> None:
        self.rng, self.size = rng, size
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)

    def take(self, photos: list[Subject | Crowd], rng: random.Random) -> torch.Tensor:
        pixels = [render_crowd(p, self.rng, self.size) if isinstance(p, tuple) else render(p, self.rng, self.size)
                  for p in photos]
        return self.normalise(torch.stack([torch.from_numpy(np.array(p)) for p in pixels]))


def attribute_word_ids(tokenizer: Any) -> dict[str, list[int]]:
    """attribute -> the token id of each of its values as a word inside a sentence (" red")."""
    out = {}
    for name, values in ATTRIBUTES.items():
        ids = [tokenizer(" " + v, add_special_tokens=False)["input_ids"] for v in values]
        if any(len(i) != 1 for i in ids):
            raise ValueError(f"the tokenizer splits some {name} words: {values}")
        out[name] = [i[0] for i in ids]
    return out


def subject_groups(rng: random.Random, groups: int, size: int) -> list[Subject]:
    """`groups` random subjects, each followed by `size - 1` look-alikes of it."""
    out = []
    for _ in range(groups):
        base = random_subject(rng)
        out += [base] + [random_lookalike(base, rng) for _ in range(size - 1)]
    return out


def supervised_contrastive(embeddings: torch.Tensor, labels: list[int], temperature: float = 0.1) -> torch.Tensor:
    """SupCon: every photo pulled towards the other photos of its subject, away from the rest."""
    z = F.normalize(embeddings, dim=-1)
    n = len(labels)
    own = torch.eye(n, dtype=torch.bool)
    same = torch.tensor([[a == b for b in labels] for a in labels]) & ~own
    log_p = (z @ z.T / temperature).masked_fill(own, float("-inf")).log_softmax(-1)
    return -(log_p.masked_fill(~same, 0).sum(-1) / same.sum(-1).clamp(min=1)).mean()


def pretrain_vision(model: Any, kind: Any, bank: PhotoBank, word_ids: dict[str, list[int]], steps: int, lr: float,
                    batch_size: int, rng: random.Random, log: Callable[[str], None], started: float) -> None:
    """Both objectives of the module docstring, summed, for `steps` steps of `batch_size` photos.

    `kind` (kinds.py) says which modules are the vision side and what the language model and the
    quick look read of a photo.
    """
    embeddings = model.get_input_embeddings().weight
    scale = torch.nn.Parameter(torch.tensor(10.0))
    parameters = [p for module in kind.vision_modules(model) for p in module.parameters()] + [embeddings, scale]
    optimizer = torch.optim.AdamW(parameters, lr=lr, betas=(0.9, 0.98), weight_decay=0.0)
    running = None
    for step in range(steps):
        subjects = subject_groups(rng, max(1, batch_size // 8), 4)
        batch = subjects + subjects  # two photos of every subject
        tokens, image_embedding = kind.vision_features(model, bank.take(batch, rng))
        pooled = F.normalize(tokens.mean(1), dim=-1)
        loss = torch.zeros(())
        for name, ids in word_ids.items():
            words = F.normalize(embeddings[ids], dim=-1)
            target = torch.tensor([ATTRIBUTES[name].index(getattr(s, name)) for s in batch])
            loss = loss + F.cross_entropy(scale * pooled @ words.T, target)
        loss = loss + supervised_contrastive(image_embedding, [bank.index[s] for s in batch])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        if (step + 1) % 100 == 0 or step + 1 == steps:
            log(f"toyworld: vision step {step + 1}/{steps} loss {running:.3f} ({time.perf_counter() - started:.0f}s)")
