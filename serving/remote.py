"""The model operations a bot side asks of model workers, over one request call.

`WorkerProcessService` (a child process) and `RayModelService` (actors on a cluster)
differ only in how a request travels and which worker takes it; the typed operations
are the same and live here once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Sequence

from .protocol import (Answer, ConceptRef, Describe, Draw, ModelUnavailable, Prototype, Recognise, Recognition, Request,
                       Segments, TextCallback)


class RemoteModel(ABC):
    model_id: str
    label: str = ""  # ModelService.label

    @abstractmethod
    async def _request(self, request: Request) -> Any:
        """Send one request to a worker and return its reply."""

    @abstractmethod
    async def _can_draw(self) -> bool:
        """Whether the model behind the workers makes images."""

    async def recognise(self, photo: bytes, concepts: Sequence[ConceptRef]) -> list[Recognition]:
        return await self._request(Recognise(photo, list(concepts)))

    async def _stream(self, request: Answer, on_text: TextCallback) -> Any:
        """`_request`, with the text so far handed to `on_text` while a worker writes it. This
        default does not stream: the whole answer comes at once and `on_text` is not called."""
        return await self._request(request)

    async def answer(self, question: Segments, concepts: Sequence[ConceptRef], photo: bytes | None = None,
                     on_text: TextCallback | None = None) -> str:
        """The answer, micro-batched with other users' questions; `on_text` gets the text so far
        where the service streams."""
        request = Answer(list(question), list(concepts), photo)
        return await (self._stream(request, on_text) if on_text else self._request(request))

    async def describe(self, photos: Sequence[bytes]) -> str:
        return await self._request(Describe(list(photos)))

    async def prototype(self, positives: Sequence[bytes], negatives: Sequence[bytes],
                        negatives_dir: str | None = None) -> bytes:
        return await self._request(Prototype(list(positives), list(negatives), negatives_dir))

    async def draw(self, segments: Segments, concepts: Sequence[ConceptRef], n: int = 1,
                   seed: int | None = None) -> list[bytes]:
        """n PNG images, drawn in micro-batches with other users' requests, as questions are."""
        if not await self._can_draw():
            raise ModelUnavailable(f"I can't draw with the model I run ({self.model_id}); "
                                   "drawing needs one that makes images, such as Janus-Pro.")
        return await self._request(Draw(list(segments), list(concepts), n, seed))
