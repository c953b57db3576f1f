"""Many chats at once, one user's messages in order.

Two hundred people may talk to Yo at the same moment, and nobody should wait for a
stranger's question. But one person's "/teach Bo", photos and "/done" must reach the
assistant in the order they were sent. So updates run concurrently, except that updates
from the same user in the same chat take turns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Hashable
from contextlib import asynccontextmanager
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

Key = tuple[int, int]


def turn_key(update: object) -> Key | None:
    """(chat id, user id) of an update: the unit whose updates must keep their order."""
    if not isinstance(update, Update):
        return None
    chat, user = update.effective_chat, update.effective_user
    if chat is None and user is None:
        return None
    return (chat.id if chat else 0, user.id if user else 0)


class KeyedLocks:
    """One asyncio.Lock per key, created on first use and dropped when nobody holds or awaits it."""

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


class OrderedPerUserProcessor(BaseUpdateProcessor):
    """PTB update processor: concurrent across users and chats, in order within one user's chat.

    asyncio.Lock wakes waiters first come, first served, and PTB starts updates in the order
    Telegram numbered them, so each user's updates keep their order.
    """

    def __init__(self, locks: KeyedLocks, max_concurrent_updates: int = 512) -> None:
        super().__init__(max_concurrent_updates)
        self.locks = locks

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = turn_key(update)
        if key is None:
            await coroutine
            return
        async with self.locks.hold(key):
            await coroutine

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""
