"""The SQLite connection: pragmas, migrations, and transactions that coroutines can't interleave.

One aiosqlite connection serves the whole process's writes. A connection has one transaction
at a time, so two coroutines that each ran BEGIN ... COMMIT on it would end up inside each
other's transactions. Every use of it therefore goes through `Database.lock` (an asyncio.Lock):
`transaction()`, or `exclusive()` for reads that must see a transaction's own writes. Other
processes (a second bot, a CLI verb) are kept apart by SQLite itself: writes start with
BEGIN IMMEDIATE and wait up to the busy timeout.

Plain reads (`Database.fetch_one`/`fetch_all`) take a second, read-only connection, right on
the event loop: in WAL mode a reader never waits for a writer, and the bot's reads are a few
small rows, far quicker than the two trips to aiosqlite's thread (and the turn at the lock)
that they would cost there. Every update reads, so this is most of the bot's own overhead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from .errors import StoreError
from .files import PRIVATE_FILE, private_file
from .migrations import MIGRATIONS

Params = Sequence[Any] | Mapping[str, Any]
BUSY_TIMEOUT_MS = 10_000
log = logging.getLogger(__name__)


def split_statements(script: str) -> Iterator[str]:
    """The statements of a script, one by one (sqlite3's executescript would COMMIT first)."""
    buffer = ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \n\t;"):
                yield buffer.strip()
            buffer = ""


async def fetch_all(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> list[dict[str, Any]]:
    """Rows as dicts. The caller holds the lock (inside `transaction()` or `exclusive()`).

    One trip to aiosqlite's thread (execute, fetch and close together): every trip wakes the
    event loop, and a busy bot reads a few rows per update."""
    return [dict(row) for row in await conn.execute_fetchall(sql, params)]


async def fetch_one(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> dict[str, Any] | None:
    rows = await fetch_all(conn, sql, params)
    return rows[0] if rows else None


async def execute(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> int:
    """Run one statement; returns the number of rows it changed. (The cursor is not closed
    here, which would be a second trip to aiosqlite's thread; dropping it closes it.)"""
    cursor = await conn.execute(sql, params)
    return cursor.rowcount


async def insert(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> int:
    """Run one INSERT; returns the new row's id."""
    cursor = await conn.execute(sql, params)
    if cursor.lastrowid is None:
        raise StoreError("insert returned no row id")
    return cursor.lastrowid


def _make_private(path: Path) -> None:
    """The database holds everyone's names and notes: 0600, and its WAL and shared-memory files
    too. SQLite creates those with the database file's mode, so creating that one 0600 before
    connecting covers them; the chmod mends files an older version left 0644. A file we may
    use but not chmod (another account's) is left as it is, with a warning."""
    try:
        private_file(path)
        for side in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            try:
                os.chmod(side, PRIVATE_FILE)
            except FileNotFoundError:  # not in WAL mode yet, or the last connection closed
                pass
    except PermissionError:
        log.warning("could not make %s private (0600)", path, exc_info=True)


async def _roll_back(conn: aiosqlite.Connection) -> None:
    """ROLLBACK whatever is still open, while an exception is on its way out.

    A failure here is logged, never raised: it would replace the exception being handled. That
    happens when a task is cancelled while its COMMIT waits in aiosqlite's thread: the COMMIT
    still runs, so the ROLLBACK queued behind it finds no transaction. Raising that error would
    turn the CancelledError into an ordinary one, and a loop that survives ordinary errors (the
    training queue's) would then never stop."""
    try:
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
    except Exception:
        log.warning("ROLLBACK failed", exc_info=True)


def _open_reader(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """The read-only connection for plain reads (autocommit: each read sees the latest commit)."""
    reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    reader.row_factory = sqlite3.Row
    for pragma in ("query_only = ON", f"busy_timeout = {int(busy_timeout_ms)}"):
        reader.execute(f"PRAGMA {pragma}")
    return reader


class Database:
    """An open SQLite database at the newest schema version."""

    def __init__(self, connection: aiosqlite.Connection, reader: sqlite3.Connection, path: Path) -> None:
        self._connection = connection
        self._reader = reader
        self.path = path
        self.lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None
        self._closed = False

    @classmethod
    async def open(cls, path: Path | str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS,
                   migrations: Sequence[str] = MIGRATIONS) -> Database:
        """Connect, set the pragmas and bring the schema up to date (a no-op when it is)."""
        path = Path(path)
        _make_private(path)
        # isolation_level=None: no implicit transactions; we say BEGIN and COMMIT ourselves.
        connection = await aiosqlite.connect(path, isolation_level=None)
        connection.row_factory = sqlite3.Row  # rows that know their column names: `fetch_all`'s dicts
        try:
            for pragma in (
                    "journal_mode = WAL",  # readers (other processes, backups) and the writer never block each other
                    "synchronous = NORMAL",  # safe with WAL (no corruption); a power cut may lose the last commits
                    "foreign_keys = ON",  # off by default, per connection: without it ON DELETE CASCADE does nothing
                    f"busy_timeout = {int(busy_timeout_ms)}"):  # wait for another process's write, don't fail
                async with connection.execute(f"PRAGMA {pragma}"):
                    pass
            _make_private(path)  # now with the -wal and -shm that WAL mode made
            database = cls(connection, _open_reader(path, busy_timeout_ms), path)
            try:
                await database.migrate(migrations)
            except BaseException:
                database._reader.close()
                raise
        except BaseException:
            await connection.close()
            raise
        return database

    @property
    def connection(self) -> aiosqlite.Connection:
        """The raw connection, for tests and one-off reads; the store's code uses the lock."""
        return self._connection

    async def close(self) -> None:
        """Close the connection (after any operation in progress); closing twice is fine."""
        async with self.exclusive():
            if not self._closed:
                self._closed = True
                self._reader.close()  # first: the last connection to close checkpoints the WAL
                await self._connection.close()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[aiosqlite.Connection]:
        """Hold the connection alone (not re-entrant: nesting raises rather than deadlocks)."""
        task = asyncio.current_task()
        if task is not None and self._holder is task:
            raise RuntimeError("Database.exclusive() is not re-entrant")
        async with self.lock:
            self._holder = task
            try:
                yield self._connection
            finally:
                self._holder = None

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception. The lock must be held.

        IMMEDIATE takes the write lock at once, so a read-then-write (leasing a job) can't
        be overtaken by another process between the read and the write."""
        if self._holder is None or self._holder is not asyncio.current_task():
            raise RuntimeError("Database.begin() needs the lock: use transaction() or exclusive()")
        conn = self._connection
        await conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            await _roll_back(conn)
            raise
        try:
            await conn.execute("COMMIT")
        except BaseException:
            await _roll_back(conn)
            raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """The lock and a write transaction together: the usual way to change rows."""
        async with self.exclusive(), self.begin() as conn:
            yield conn

    async def fetch_all(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        """Committed rows, as dicts, read on the reader connection (see the module's docstring)."""
        if self._closed:
            raise StoreError("the database is closed")
        return [dict(row) for row in self._reader.execute(sql, params).fetchall()]

    async def fetch_one(self, sql: str, params: Params = ()) -> dict[str, Any] | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def pragma(self, name: str) -> Any:
        """A pragma as the writing connection has it (the one whose settings matter)."""
        async with self.exclusive() as conn:
            row = await fetch_one(conn, f"PRAGMA {name}")
        return None if row is None else next(iter(row.values()))

    async def user_version(self) -> int:
        return int(await self.pragma("user_version"))

    async def migrate(self, migrations: Sequence[str] = MIGRATIONS) -> int:
        """Apply the migrations not applied yet; returns the version reached.

        Each runs in its own transaction with its `PRAGMA user_version`, and re-reads the
        version inside it, so two processes opening a fresh database at once migrate once."""
        newest, current = len(migrations), await self.user_version()
        if current > newest:
            raise StoreError(f"{self.path} was written by a newer version of Yo "
                             f"(schema {current}, this code knows {newest})")
        for version, script in enumerate(migrations, start=1):
            if version <= current:
                continue
            async with self.transaction() as conn:
                row = await fetch_one(conn, "PRAGMA user_version")
                if row is not None and int(next(iter(row.values()))) >= version:
                    continue
                for statement in split_statements(script):
                    await execute(conn, statement)
                await execute(conn, f"PRAGMA user_version = {version}")
        return newest
