"""The database: pragmas, migrations from empty, idempotent reopening, and the lock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storage import Store
from storage.database import Database, split_statements
from storage.errors import StoreError
from storage.migrations import MIGRATIONS

TABLES = {"users", "chats", "concepts", "photos", "facts", "shares", "jobs"}


async def tables(db: Database) -> set[str]:
    return {r["name"] for r in await db.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")}


async def test_migrates_from_empty_and_reopening_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "yo.sqlite3"
    db = await Database.open(path)
    assert await db.user_version() == len(MIGRATIONS)
    assert TABLES <= await tables(db)
    schema = await db.fetch_all("SELECT sql FROM sqlite_master ORDER BY name")
    await db.close()
    db = await Database.open(path)
    assert await db.user_version() == len(MIGRATIONS)
    assert await db.fetch_all("SELECT sql FROM sqlite_master ORDER BY name") == schema
    await db.close()


async def test_only_new_migrations_run_each_in_its_transaction(tmp_path: Path) -> None:
    path = tmp_path / "yo.sqlite3"
    await (await Database.open(path, migrations=MIGRATIONS[:1])).close()  # at version 1
    v2 = MIGRATIONS[:1] + ["CREATE TABLE extra (x INTEGER); INSERT INTO extra VALUES (1);"]
    db = await Database.open(path, migrations=v2)
    assert await db.user_version() == 2
    await db.close()
    db = await Database.open(path, migrations=v2)  # would fail if CREATE TABLE ran again
    assert await db.fetch_all("SELECT x FROM extra") == [{"x": 1}]
    await db.close()


async def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "yo.sqlite3"
    broken = MIGRATIONS[:1] + ["CREATE TABLE half (x INTEGER); INSERT INTO no_such_table VALUES (1);"]
    with pytest.raises(Exception, match="no_such_table"):
        await Database.open(path, migrations=broken)
    db = await Database.open(path, migrations=MIGRATIONS[:1])
    assert await db.user_version() == 1 and "half" not in await tables(db)
    await db.close()


async def test_a_database_from_newer_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "yo.sqlite3"
    await (await Database.open(path, migrations=MIGRATIONS + ["CREATE TABLE later (x)"])).close()
    with pytest.raises(StoreError, match="newer version"):
        await Database.open(path)


async def test_wal_foreign_keys_and_busy_timeout_are_on(store: Store) -> None:
    assert await store.db.pragma("journal_mode") == "wal"
    assert await store.db.pragma("foreign_keys") == 1
    assert await store.db.pragma("busy_timeout") >= 1000
    assert (store.data_dir / "yo.sqlite3").is_file()


def test_scripts_split_into_statements() -> None:
    script = "CREATE TABLE a (x TEXT DEFAULT ';');\n-- a comment\nCREATE INDEX i ON a (x);\n"
    assert list(split_statements(script)) == ["CREATE TABLE a (x TEXT DEFAULT ';');",
                                              "-- a comment\nCREATE INDEX i ON a (x);"]


async def test_concurrent_coroutines_do_not_share_a_transaction(store: Store) -> None:
    users = await asyncio.gather(*[store.get_or_create_user("test", str(i % 5)) for i in range(40)])
    assert len({u.id for u in users}) == 5
    assert await store.db.fetch_one("SELECT COUNT(*) AS n FROM users") == {"n": 5}


async def test_the_lock_is_not_re_entrant(store: Store) -> None:
    async with store.db.exclusive():
        with pytest.raises(RuntimeError, match="re-entrant"):
            async with store.db.exclusive():
                pass


SLOW_QUERY = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) "
              "SELECT COUNT(*) FROM n")


async def test_cancelling_a_transaction_while_its_commit_waits_stays_a_cancellation(store: Store) -> None:
    """The CI hang of session 4: the training queue's runner was cancelled while its lease's COMMIT
    waited in aiosqlite's thread; the ROLLBACK queued behind that COMMIT failed, its error replaced
    the CancelledError, and the runner (which survives ordinary errors) never stopped."""
    entered = asyncio.Event()

    async def write() -> None:
        async with store.db.transaction() as conn:
            await conn.execute("INSERT INTO users (platform, platform_user_id, created_at) VALUES ('test', 'x', 0)")
            # Keep aiosqlite's one thread busy so the COMMIT below waits in its queue.
            slow = asyncio.ensure_future(conn.execute(SLOW_QUERY))
            await asyncio.sleep(0.01)
            entered.set()
        await slow

    task = asyncio.create_task(write())
    await entered.wait()
    await asyncio.sleep(0.02)  # now awaiting COMMIT behind the slow query
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The connection is usable afterwards, and the COMMIT that did run kept the row.
    assert not store.db.connection.in_transaction
    assert await store.db.fetch_one("SELECT COUNT(*) AS n FROM users WHERE platform_user_id = 'x'") == {"n": 1}


async def test_another_process_sees_every_commit_while_this_one_stays_open(tmp_path: Path) -> None:
    """Opening the store must keep SQLite's locks: a descriptor of the database closed by our own code
    (making it 0600) once dropped them, so another process that closed its connection took itself for
    the last user and deleted the WAL that this process was still writing to; its commits vanished
    for every other reader."""
    import subprocess
    import sys

    path = tmp_path / "yo.sqlite3"
    await (await Database.open(path)).close()  # a database that exists already, as at every restart
    db = await Database.open(path)
    read = [sys.executable, "-c", "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\n"
            "print(c.execute('SELECT COUNT(*) FROM users').fetchone()[0])\nc.close()", str(path)]
    try:
        assert subprocess.run(read, capture_output=True, text=True, check=True).stdout.strip() == "0"
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO users (platform, platform_user_id, created_at) VALUES ('t', '1', 0)")
        assert subprocess.run(read, capture_output=True, text=True, check=True).stdout.strip() == "1"
    finally:
        await db.close()
