"""One message edited in place while long work goes on, never more than once a second."""

from __future__ import annotations

import asyncio
import time
from typing import Callable

from .messages import Reply, SentMessage


class ProgressMessage:
    def __init__(self, sent: SentMessage, *, interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._sent = sent
        self._interval = interval
        self._clock = clock
        self._last_edit = float("-inf")
        self._pending: Reply | None = None
        self._shown_text: str | None = None
        self._flush_task: asyncio.Task[None] | None = None

    async def update(self, reply: Reply | str, *, final: bool = False) -> None:
        """Show `reply`; frequent updates are coalesced so the chat sees at most one edit per interval."""
        reply = Reply(reply) if isinstance(reply, str) else reply
        self._pending = reply
        wait = self._interval - (self._clock() - self._last_edit)
        if final or wait <= 0:
            if self._flush_task is not None:
                self._flush_task.cancel()
                self._flush_task = None
            await self._flush()
        elif self._flush_task is None:
            self._flush_task = asyncio.create_task(self._flush_later(wait))

    async def _flush_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._flush_task = None
        await self._flush()

    async def _flush(self) -> None:
        reply, self._pending = self._pending, None
        if reply is None or (reply.text == self._shown_text and not reply.buttons):
            return
        self._last_edit = self._clock()
        self._shown_text = reply.text
        await self._sent.edit(reply)
