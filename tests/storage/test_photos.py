"""Photos: all-or-nothing adds, content-addressed files, and forgetting that leaves nothing."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path

import pytest

from storage import BadImage, NotFound, Store
from storage.models import Concept
from tests.storage.helpers import bad_photos, files_under, jpeg, rows, snapshot


async def new_concept(store: Store, user: str = "ana", name: str = "Bo") -> Concept:
    owner = await store.get_or_create_user("test", user)
    return await store.create_concept(owner.id, name, name.lower(), "tiny/model")


def photo_files(store: Store) -> list[str]:
    return [f for f in files_under(store.data_dir) if f.startswith("photos/")]


async def test_a_photo_is_sanitized_stored_by_content_and_read_back(store: Store) -> None:
    bo = await new_concept(store)
    record = await store.add_photo(bo.id, jpeg(size=(64, 48)))
    assert (record.role, record.source, record.width, record.height) == ("positive", "teach", 64, 48)
    data = await store.read_photo(record)
    assert data.startswith(b"\x89PNG")
    assert photo_files(store) == [f"photos/{record.sha256[:2]}/{record.sha256}.png"]
    assert await store.list_photos(bo.id) == [record] == await store.list_photos(bo.id, "positive")
    assert await store.list_photos(bo.id, "negative") == []


async def test_the_same_photo_twice_is_one_record(store: Store) -> None:
    bo = await new_concept(store)
    first = await store.add_photo(bo.id, jpeg(seed=1))
    assert await store.add_photo(bo.id, jpeg(seed=1)) == first
    negative = await store.add_photo(bo.id, jpeg(seed=1), "negative", "correction")
    assert negative.id != first.id and negative.sha256 == first.sha256
    assert len(photo_files(store)) == 1


@pytest.mark.parametrize("kind", list(bad_photos()))
async def test_a_bad_photo_stores_nothing(store: Store, kind: str) -> None:
    bo = await new_concept(store)
    await store.add_photo(bo.id, jpeg(seed=1))
    before = await snapshot(store)
    with pytest.raises(BadImage):
        await store.add_photo(bo.id, bad_photos()[kind])
    assert await snapshot(store) == before


async def test_add_photos_is_all_or_nothing_and_names_the_bad_one(store: Store) -> None:
    bo = await new_concept(store)
    before = await snapshot(store)
    with pytest.raises(BadImage, match="^Photo 3: "):
        await store.add_photos(bo.id, [jpeg(seed=1), jpeg(seed=2), b"%PDF-1.7\n"])
    assert await snapshot(store) == before
    records = await store.add_photos(bo.id, [jpeg(seed=1), jpeg(seed=2), jpeg(seed=1)])
    assert records[0] == records[2] and len(await store.list_photos(bo.id)) == 2


async def test_a_failed_row_insert_removes_the_file_it_wrote(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    bo = await new_concept(store)
    seen: list[list[str]] = []

    async def failing_insert(*args: object) -> int:
        seen.append(photo_files(store))  # the file is on disk at this point
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "_insert_photo_row", failing_insert)
    with pytest.raises(sqlite3.OperationalError):
        await store.add_photo(bo.id, jpeg(seed=1))
    assert len(seen) == 1 and len(seen[0]) == 1, "the failure came after the file was written"
    assert photo_files(store) == [] and await rows(store, "photos") == []


async def test_a_failed_insert_keeps_a_file_another_concept_uses(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    bo, kiwi = await new_concept(store, name="Bo"), await new_concept(store, name="Kiwi")
    kept = await store.add_photo(bo.id, jpeg(seed=1))

    async def failing_insert(*args: object) -> int:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "_insert_photo_row", failing_insert)
    with pytest.raises(sqlite3.OperationalError):
        await store.add_photo(kiwi.id, jpeg(seed=1))
    assert await store.read_photo(kept)
    assert [r.concept_id for r in await store.list_photos(bo.id)] == [bo.id]
    assert await store.list_photos(kiwi.id) == []


async def test_a_photo_for_a_missing_concept_is_refused(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.add_photo(999, jpeg())
    assert photo_files(store) == []


async def test_a_photo_shared_by_two_concepts_is_one_file_until_both_are_gone(store: Store) -> None:
    bo, kiwi = await new_concept(store, name="Bo"), await new_concept(store, "ben", "Kiwi")
    a = await store.add_photo(bo.id, jpeg(seed=7))
    b = await store.add_photo(kiwi.id, jpeg(seed=7))
    await store.add_photo(bo.id, jpeg(seed=8))
    assert a.sha256 == b.sha256 and len(photo_files(store)) == 2
    assert await store.delete_concept(bo.id)
    assert photo_files(store) == [f"photos/{b.sha256[:2]}/{b.sha256}.png"]
    assert await store.read_photo(b)
    assert await store.delete_concept(kiwi.id)
    assert photo_files(store) == [] and not await store.delete_concept(kiwi.id)


async def test_remove_photo_deletes_the_file_only_when_unused(store: Store) -> None:
    bo = await new_concept(store)
    positive = await store.add_photo(bo.id, jpeg(seed=3))
    negative = await store.add_photo(bo.id, jpeg(seed=3), "negative")
    assert await store.remove_photo(positive.id) and len(photo_files(store)) == 1
    assert await store.remove_photo(negative.id) and photo_files(store) == []
    assert not await store.remove_photo(negative.id)


async def test_forgetting_a_concept_leaves_no_row_and_no_file(store: Store) -> None:
    bo = await new_concept(store)
    owner = await store.get_or_create_user("test", "ana")
    chat = await store.get_or_create_chat("test", "group-1", True)
    await store.add_photos(bo.id, [jpeg(seed=1), jpeg(seed=2)])
    await store.add_fact(bo.id, "Bo was born in May")
    await store.share_concept(bo.id, chat.id, owner.id)
    await store.save_tokens(bo.id, b"tokens v1", "tiny/model")
    await store.enqueue_job(bo.id, owner.id, {})
    assert await store.delete_concept(bo.id)
    files, tables = await snapshot(store)
    assert files == []
    assert all(tables[t] == [] for t in ("concepts", "photos", "facts", "shares", "jobs"))


async def test_forgetting_a_user_removes_all_they_taught_and_nothing_else(store: Store) -> None:
    bo, kiwi = await new_concept(store, "ana", "Bo"), await new_concept(store, "ana", "Kiwi")
    mimi = await new_concept(store, "ben", "Mimi")
    await store.add_photo(bo.id, jpeg(seed=1))
    await store.add_photo(kiwi.id, jpeg(seed=2))
    kept = await store.add_photo(mimi.id, jpeg(seed=1))  # Ben has the same photo
    await store.save_tokens(kiwi.id, b"kiwi", "tiny/model")
    await store.save_tokens(mimi.id, b"mimi", "tiny/model")
    assert await store.delete_user(bo.owner_id)
    assert await store.get_user(bo.owner_id) is None
    assert [c.id for c in await store.list_concepts(bo.owner_id)] == []
    files, tables = await snapshot(store)
    mimi_now = await store.get_concept(mimi.id)
    assert mimi_now is not None and mimi_now.tokens_file is not None
    assert files == sorted([f"photos/{kept.sha256[:2]}/{kept.sha256}.png", mimi_now.tokens_file])
    assert [row[1] for row in tables["concepts"]] == [mimi.owner_id]


async def test_orphan_files_from_a_crash_are_swept_at_open(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    bo = await new_concept(store)
    kept = await store.add_photo(bo.id, jpeg(seed=1))
    orphan = store.files.photo_path("ab" * 32)
    fresh = store.files.photo_path("cd" * 32)
    stray = store.files.concept_dir(999) / ("0" * 32 + ".safetensors")
    new_version = store.files.concept_dir(bo.id) / ("1" * 32 + ".safetensors")
    old_version = store.files.concept_dir(bo.id) / ("2" * 32 + ".safetensors")
    for path in (orphan, fresh, stray, new_version, old_version):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    old = time.time() - 7200
    os.utime(orphan, (old, old))
    os.utime(stray, (old, old))
    os.utime(old_version, (old, old))
    await store.close()
    store = await Store.open(tmp_path)
    assert not orphan.exists() and not stray.exists() and not stray.parent.exists() and not old_version.exists()
    # Photos are written inside a write transaction and the sweep holds one: a photo file no
    # row names is nobody's, however young (was: kept for an hour).
    assert not fresh.exists() and not fresh.parent.exists()
    assert new_version.exists(), "a token file younger than an hour may be save_tokens at work in another process"
    assert await store.read_photo(kept)
    await store.close()


async def test_concurrent_adds_of_one_photo_to_two_concepts_keep_one_file(store: Store) -> None:
    bo, kiwi = await new_concept(store, name="Bo"), await new_concept(store, name="Kiwi")
    photo = jpeg(seed=5)
    records = await asyncio.gather(*[store.add_photo(c.id, photo) for c in (bo, kiwi, bo, kiwi)])
    assert len({r.id for r in records}) == 2 and len(photo_files(store)) == 1
    await asyncio.gather(store.delete_concept(bo.id), store.remove_photo(records[1].id))
    assert photo_files(store) == []
