"""Long work in chunks, pausing for the caller after each (docs/architecture.md, step 8 of a photo's flow).

A training's preparation encodes hundreds of photos and asks dozens of questions. It does so in
chunks with the caller's `Pause` after each; the pause says whether questions are coming in, and
while they are the next chunk is a single item, so that a question waits for one photo's or one
answer's worth of work, not a whole chunk's.
"""

from __future__ import annotations

from typing import Iterator, Sequence, TypeVar

from .types import Pause

T = TypeVar("T")


def in_chunks(items: Sequence[T], size: int, between: Pause | None) -> Iterator[Sequence[T]]:
    """`items` in chunks of `size` (of one while `between` last said questions are coming in),
    calling `between` after each chunk."""
    start, lively = 0, False
    while start < len(items):
        end = start + (1 if lively else size)
        yield items[start:end]
        start = end
        lively = bool(between()) if between is not None else False
