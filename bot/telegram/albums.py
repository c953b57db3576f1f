"""Albums: several photos sent at once reach the assistant as ONE message.

Telegram delivers an album as separate messages sharing a `media_group_id` and never marks
the last one. So the items are gathered, and the album is handed on `wait` seconds after its
latest item arrived (a JobQueue timer, restarted by every item), or at once when the same
person sends anything else in that chat, so that "/done" right after an album still comes
after the album's photos.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from telegram.ext import CallbackContext, ContextTypes, Job, JobQueue

from ..turns import KeyedLocks
from .incoming import Incoming
from .ordering import Key

log = logging.getLogger(__name__)

Deliver = Callable[[list[Incoming]], Awaitable[None]]


@dataclass
class _Album:
    key: Key
    items: list[Incoming] = field(default_factory=list)
    timer: Job[CallbackContext] | None = None  # type: ignore[type-arg]


class AlbumCollector:
    """Gathers album items per media group and delivers each album once."""

    def __init__(self, job_queue: JobQueue[CallbackContext], locks: KeyedLocks, deliver: Deliver,  # type: ignore[type-arg]
                 wait: float = 1.0) -> None:
        self.job_queue = job_queue
        self.locks = locks
        self.deliver = deliver
        self.wait = wait
        self._albums: dict[str, _Album] = {}

    @property
    def pending(self) -> int:
        return len(self._albums)

    async def add(self, item: Incoming, key: Key) -> None:
        """Keep an album item (the caller holds `key`'s turn); older albums of the same
        person in the same chat are delivered first."""
        assert item.media_group_id is not None
        await self.flush(key, keep=item.media_group_id)
        album = self._albums.setdefault(item.media_group_id, _Album(key))
        album.items.append(item)
        self._cancel_timer(album)
        album.timer = self.job_queue.run_once(
            self._on_timer, self.wait, data=item.media_group_id, name=f"album {item.media_group_id}",
            job_kwargs={"misfire_grace_time": None})  # late is better than lost

    async def flush(self, key: Key, *, keep: str | None = None) -> None:
        """Deliver now every album of `key` (the caller holds `key`'s turn), except `keep`."""
        for group_id in [g for g, album in self._albums.items() if album.key == key and g != keep]:
            album = self._albums.pop(group_id)
            self._cancel_timer(album)
            await self.deliver(album.items)

    async def flush_all(self) -> None:
        """Deliver every album still gathering (at shutdown: photos already sent aren't lost)."""
        for key in {album.key for album in self._albums.values()}:
            async with self.locks.hold(key):
                await self.flush(key)

    async def _on_timer(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.job is not None
        group_id = str(context.job.data)
        album = self._albums.get(group_id)
        if album is None:
            return
        async with self.locks.hold(album.key):
            album = self._albums.pop(group_id, None)  # delivered meanwhile by a later message?
            if album is not None:
                await self.deliver(album.items)

    @staticmethod
    def _cancel_timer(album: _Album) -> None:
        if album.timer is not None:
            try:
                album.timer.schedule_removal()
            except KeyError:  # APScheduler's JobLookupError: it is running or ran already
                pass
            album.timer = None
