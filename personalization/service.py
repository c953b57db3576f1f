"""The model service the bot side talks to, in its embedded form: the engine in one thread.

All model work runs on a single dedicated thread so the event loop never blocks and the
engine (plain synchronous PyTorch) never sees two callers at once. Progress callbacks
hop back onto the event loop, as `ModelService` promises.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Sequence

from .protocol import (
    CancelToken,
    ConceptRef,
    ModelUnavailable,
    ProgressCallback,
    Recognition,
    Segments,
    TrainProgress,
    TrainRequest,
    TrainResult,
)

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)


class LocalModelService:
    def __init__(self, model_id: str, *, device: str | None = None, load_in_4bit: bool = False,
                 label: str = "") -> None:
        self.model_id = model_id
        self.device = device or None
        self.load_in_4bit = load_in_4bit
        # Shown after every answer when the model's answers mean nothing (a smoke run).
        self.label = label
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yo-model")
        self._engine: Engine | None = None

    def _load(self) -> "Engine":
        if self._engine is None:
            from .engine import Engine  # torch and transformers load only when a model is needed

            try:
                self._engine = Engine.load(self.model_id, device=self.device, load_in_4bit=self.load_in_4bit)
            except Exception as error:
                raise ModelUnavailable(f"I couldn't load my model ({self.model_id}): {error}") from error
        return self._engine

    async def _call(self, method: str, *args: Any) -> Any:
        def work() -> Any:
            return getattr(self._load(), method)(*args)
        return await asyncio.get_running_loop().run_in_executor(self._thread, work)

    async def warm_up(self) -> None:
        """Load the model now rather than on the first request."""
        await asyncio.get_running_loop().run_in_executor(self._thread, self._load)

    def _labelled(self, text: str) -> str:
        return f"{text}\n\n[{self.label}]" if self.label else text

    async def recognise(self, photo: bytes, concepts: Sequence[ConceptRef]) -> list[Recognition]:
        return await self._call("recognise", photo, list(concepts))

    async def answer(self, question: Segments, concepts: Sequence[ConceptRef], photo: bytes | None = None) -> str:
        return self._labelled(await self._call("answer", question, list(concepts), photo))

    async def describe(self, photos: Sequence[bytes]) -> str:
        return await self._call("describe", list(photos))

    async def train(self, request: TrainRequest, progress: ProgressCallback | None = None,
                    cancel: CancelToken | None = None) -> TrainResult:
        loop = asyncio.get_running_loop()
        hop: Callable[[TrainProgress], None] | None = None
        if progress is not None:
            def hop(p: TrainProgress) -> None:
                loop.call_soon_threadsafe(progress, p)
        return await self._call("train", request, hop, cancel)

    async def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
