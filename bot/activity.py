""""Yo is typing…" kept up while Yo works, on any transport.

A chat shows a bot's action for a few seconds only (Telegram 5, Discord 10) or until the bot
sends something, but an answer or a drawing may take a minute. So the action is sent again
every few seconds until the channel's next message goes out or the handler is done with it,
and for at most AT_MOST seconds in case nobody ever says it is done.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable

log = logging.getLogger(__name__)

AT_MOST = 120.0


class KeptActivity:
    """Repeats one chat action until stopped; `start` again replaces it (typing → sending a photo)."""

    def __init__(self, every: float, at_most: float = AT_MOST) -> None:
        self.every = every
        self.at_most = at_most
        self._task: asyncio.Task[None] | None = None

    async def start(self, show: Callable[[], Awaitable[object]]) -> None:
        """Show the action now, then again every `every` seconds until `stop()`."""
        self.stop()
        if await _shown(show):
            self._task = asyncio.create_task(self._keep(show))

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _keep(self, show: Callable[[], Awaitable[object]]) -> None:
        deadline = time.monotonic() + self.at_most
        while time.monotonic() < deadline:
            await asyncio.sleep(self.every)
            if not await _shown(show):
                return


async def _shown(show: Callable[[], Awaitable[object]]) -> bool:
    try:
        await show()
    except asyncio.CancelledError:
        raise
    except Exception as error:  # a nicety: a missing permission must not break a reply
        log.debug("chat action failed: %s", error)
        return False
    return True
