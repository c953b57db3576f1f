"""One user's messages in order, on any transport.

Many people may talk to Yo at the same moment, and nobody should wait for a stranger's
question. But one person's "/teach Bo", photos and "/done" must reach the assistant in the
order they were sent, although fetching a photo takes longer than reading a word. So each
transport handles updates concurrently, except that those of one user in one chat take
turns: each holds the lock of its (chat, user) key while it is handled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class KeyedLocks:
    """One asyncio.Lock per key, created on first use and dropped when nobody holds or awaits it.

    asyncio.Lock wakes its waiters first come, first served, so updates that ask for a key's
    turn in the order they arrived are handled in that order."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
