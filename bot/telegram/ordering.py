"""Many chats at once, one user's messages in order (bot/turns.py), for python-telegram-bot."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from ..turns import KeyedLocks

Key = tuple[int, int]


def turn_key(update: object) -> Key | None:
    """(chat id, user id) of an update: the unit whose updates must keep their order."""
    if not isinstance(update, Update):
        return None
    chat, user = update.effective_chat, update.effective_user
    if chat is None and user is None:
        return None
    return (chat.id if chat else 0, user.id if user else 0)


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
