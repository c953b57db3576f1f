"""What every part of the store shares: the database, the files, the clock, file clean-up.

`Store` is assembled from mixins (concepts, photos, jobs, export), one module each, so no
file has to hold the whole API; they all build on this base.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import ParamSpec, TypeVar

import aiosqlite

from .database import Database, fetch_one
from .errors import NotFound
from .files import FileStore

log = logging.getLogger(__name__)

Clock = Callable[[], float]
P = ParamSpec("P")
T = TypeVar("T")


def is_foreign_key_error(error: BaseException) -> bool:
    return isinstance(error, sqlite3.IntegrityError) and "FOREIGN KEY" in str(error)


def is_unique_error(error: BaseException) -> bool:
    return isinstance(error, sqlite3.IntegrityError) and "UNIQUE" in str(error)


class StoreBase:
    def __init__(self, db: Database, files: FileStore, clock: Clock = time.time) -> None:
        self.db = db
        self.files = files
        self.clock = clock

    def now(self) -> float:
        return float(self.clock())

    @staticmethod
    async def in_thread(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Disk and image work off the event loop, so one big photo doesn't stall every chat."""
        return await asyncio.to_thread(function, *args, **kwargs)

    async def require(self, conn: aiosqlite.Connection, table: str, row_id: int, what: str) -> None:
        """Raise NotFound unless the row exists (table names are ours, never the user's)."""
        if await fetch_one(conn, f"SELECT 1 FROM {table} WHERE id = ?", (row_id,)) is None:
            raise NotFound(f"no {what} with id {row_id}")

    async def delete_unreferenced_photos(self, conn: aiosqlite.Connection, shas: Iterable[str]) -> None:
        """Delete the files of these photos that no row names any more. Call with the lock
        held and outside a transaction (after COMMIT or ROLLBACK): the rows seen are then the
        committed ones, and nobody can add a row for the same sha before the file is gone."""
        for sha in dict.fromkeys(shas):
            if await fetch_one(conn, "SELECT 1 FROM photos WHERE sha256 = ? LIMIT 1", (sha,)) is not None:
                continue
            try:
                await self.in_thread(self.files.delete_photo, sha)
            except OSError:  # the rows are gone; the sweep at the next open retries
                log.exception("could not delete photo file %s", sha)

    async def delete_concept_files(self, concept_id: int) -> None:
        try:
            await self.in_thread(self.files.delete_concept_dir, concept_id)
        except OSError:
            log.exception("could not delete the token files of concept %s", concept_id)
