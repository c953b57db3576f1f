"""Hard and easy negatives without any external service (docs/method.md §7).

Candidates: a folder of everyday photos (YO_NEGATIVES_DIR), plus photos the request brings
(the user's other concepts, photos marked "not this one"). They are ranked by cosine
similarity of the base model's own vision features to each positive photo; the top m per
positive are hard negatives, a few random others are easy negatives. The request's own
negatives are always kept: the user said so. A folder's features are computed once per
engine and reused by every later training job, and by the quick look, whose prototype is fitted
against the folder's photos nearest the subject as well (`nearest`).
"""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from PIL import Image

from .backends.base import Backend
from .pacing import in_chunks
from .types import Pause

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}
FEATURE_CHUNK = 32  # folder photos encoded at once: a pause for waiting questions after each chunk


@dataclass
class Negatives:
    hard: list[Image.Image]
    easy: list[Image.Image]


class NegativePool:
    """Everyday photos of a folder with their vision features, cached per folder."""

    def __init__(self, backend: Backend, max_files: int = 2000) -> None:
        self.backend, self.max_files = backend, max_files
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[list[Path], torch.Tensor, list[bytes]]] = {}

    def files(self, folder: str | Path | None) -> list[Path]:
        if not folder or not Path(folder).is_dir():
            return []
        found = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if len(found) > self.max_files:  # a fixed sample: the same folder always gives the same pool
            found = sorted(random.Random(0).sample(found, self.max_files))
        return found

    def features(self, folder: str | Path | None, between: Pause | None = None
                 ) -> tuple[list[Path], torch.Tensor, list[bytes]]:
        """(readable photos, their features [n, d], their content hashes). Encoded FEATURE_CHUNK
        photos at a time, with `between()` after each chunk (the caller may use the model then)."""
        paths = self.files(folder)
        key = (str(folder), tuple(str(p) for p in paths))
        if key not in self._cache:
            kept, chunks, hashes = [], [], []
            for chunk in in_chunks(paths, FEATURE_CHUNK, between):
                images = []
                for path in chunk:
                    image = load(path)
                    if image is not None:
                        kept.append(path)
                        images.append(image)
                        hashes.append(hashlib.sha256(path.read_bytes()).digest())
                if images:
                    chunks.append(self.backend.image_features(images).cpu())
            features = torch.cat(chunks) if chunks else torch.empty(0)
            self._cache = {key: (kept, features, hashes)}  # one folder at a time
        return self._cache[key]


def load(path: Path) -> Image.Image | None:
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, ValueError):
        log.warning("skipping unreadable negative photo %s", path)
        return None


def _usable(pool: NegativePool, folder: str | Path | None, positive_bytes: Sequence[bytes],
            between: Pause | None = None) -> tuple[list[Path], torch.Tensor, list[int]]:
    """The folder's photos and features, and which of them may be a "no": never the user's own photo."""
    paths, features, hashes = pool.features(folder, between)
    duplicates = {hashlib.sha256(b).digest() for b in positive_bytes}
    return paths, features, [i for i, h in enumerate(hashes) if h not in duplicates]


def mine(pool: NegativePool, positives: list[Image.Image], positive_bytes: list[bytes], extra: list[Image.Image],
         folder: str | Path | None, per_positive: int, n_easy: int, rng: random.Random,
         between: Pause | None = None) -> Negatives:
    """Top `per_positive` most similar folder photos per positive, plus `n_easy` random ones."""
    paths, features, usable = _usable(pool, folder, positive_bytes, between)
    if not paths:
        log.warning("no everyday photos to mine hard negatives from (set YO_NEGATIVES_DIR to a folder of "
                    "photos); training with %d negatives from the request only", len(extra))
        return Negatives(list(extra), [])
    if not usable:
        return Negatives(list(extra), [])
    query = pool.backend.image_features(positives).cpu()
    similarity = query @ features[usable].T  # [n_positives, n_usable], cosine: both are L2-normalised
    top = similarity.topk(min(per_positive, len(usable)), dim=1).indices
    hard = sorted({usable[i] for i in top.flatten().tolist()})
    chosen = set(hard)
    rest = [i for i in usable if i not in chosen]
    easy = rng.sample(rest, min(n_easy, len(rest)))
    loaded = {i: load(paths[i]) for i in hard + easy}
    images = {i: image for i, image in loaded.items() if image is not None}
    return Negatives(list(extra) + [images[i] for i in hard if i in images], [images[i] for i in easy if i in images])


def nearest(pool: NegativePool, query: torch.Tensor, positive_bytes: Sequence[bytes], folder: str | Path | None,
            n: int) -> list[bytes]:
    """The `n` folder photos most like any positive (`query`: their features), as the files' bytes:
    the look-alikes a user never named, which the quick look must also say no to (docs/method.md §10)."""
    paths, features, usable = _usable(pool, folder, positive_bytes)
    if not usable or n <= 0:
        return []
    closest = (query.cpu() @ features[usable].T).max(dim=0).values  # each photo's best match to a positive
    return [paths[usable[i]].read_bytes() for i in closest.topk(min(n, len(usable))).indices.tolist()]
