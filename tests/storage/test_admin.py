"""What admins keep in the store: blocked accounts, the training pause, counts; jobs a day."""

from __future__ import annotations

from pathlib import Path

from storage import Store
from tests.fakes.photos import photo
from tests.storage.conftest import FakeClock


async def test_blocking_is_by_platform_id_and_kept_on_disk(store: Store, tmp_path: Path) -> None:
    assert await store.block_user("telegram", "42", "telegram:1")
    assert not await store.block_user("telegram", "42"), "blocked already"
    assert await store.is_blocked("telegram", "42") and not await store.is_blocked("discord", "42")
    assert await store.find_user("telegram", "42") is None, "a block creates no user"
    other = await Store.open(tmp_path / "data")  # another process on the same folder
    try:
        assert await other.list_blocked() == [("telegram", "42")]
        assert await other.unblock_user("telegram", "42") and not await other.unblock_user("telegram", "42")
        assert not await store.is_blocked("telegram", "42")
    finally:
        await other.close()


async def test_the_training_pause_is_one_switch_for_every_process(store: Store, tmp_path: Path) -> None:
    other = await Store.open(tmp_path / "data")
    try:
        assert not await other.training_paused()
        await store.set_training_paused(True)
        assert await other.training_paused()
        await other.set_training_paused(False)
        assert not await store.training_paused()
    finally:
        await other.close()


async def test_overview_counts_and_disk_use(store: Store) -> None:
    ana = await store.get_or_create_user("test", "ana")
    await store.get_or_create_user("test", "bob")
    bo = await store.create_concept(ana.id, "Bo", "bo", "tiny/model")
    await store.add_photo(bo.id, photo(seed=1), "positive", "teach")
    await store.enqueue_job(bo.id, ana.id, {})
    await store.block_user("test", "eve")
    counts = await store.overview()
    assert (counts.users, counts.concepts, counts.ready_concepts, counts.photos) == (2, 1, 0, 1)
    assert (counts.queued_jobs, counts.running_jobs, counts.blocked_users) == (1, 0, 1)
    photos = sum(p.stat().st_size for p in (store.data_dir / "photos").rglob("*") if p.is_file())
    assert await store.disk_bytes() > photos > 0, "the photos and the database"


async def test_job_times_of_the_last_day(store: Store, clock: FakeClock) -> None:
    ana = await store.get_or_create_user("test", "ana")
    bob = await store.get_or_create_user("test", "bob")
    [bo, kiwi] = [await store.create_concept(ana.id, n, n.lower(), "tiny/model") for n in ("Bo", "Kiwi")]
    first = await store.enqueue_job(bo.id, ana.id, {})
    clock.advance(3600)
    await store.enqueue_job(bo.id, ana.id, {"warm_start": True})  # replaces the waiting one: counts once
    second = await store.enqueue_job(kiwi.id, ana.id, {})
    theirs = await store.create_concept(bob.id, "Max", "max", "tiny/model")
    await store.enqueue_job(theirs.id, bob.id, {})
    assert await store.job_times_since(ana.id, first.created_at - 1) == [first.created_at, second.created_at]
    assert await store.job_times_since(ana.id, first.created_at + 1) == [second.created_at]
    assert await store.job_times_since(ana.id, clock.now + 1) == []
