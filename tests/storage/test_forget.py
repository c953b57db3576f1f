"""Forgetting leaves nothing personal: no row, no file, no empty folder, even after a crash;
and what is kept meanwhile is private to the account Yo runs as (files 0600, folders 0700)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from storage import Store
from storage.models import Concept
from tests.storage.conftest import FakeClock
from tests.storage.helpers import files_under, jpeg, rows

TABLES = ("users", "chats", "concepts", "photos", "facts", "shares", "jobs")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def empty_folders(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir() and not any(p.iterdir()))


async def taught(store: Store, user: str, name: str, *seeds: int) -> Concept:
    """A concept with photos, a fact, tokens and a queued job."""
    owner = await store.get_or_create_user("test", user)
    concept = await store.create_concept(owner.id, name, name.lower(), "tiny/model")
    await store.add_photos(concept.id, [jpeg(seed=s) for s in seeds])
    await store.add_fact(concept.id, f"{name} likes the sea")
    await store.save_tokens(concept.id, f"{name} tokens".encode(), "tiny/model")
    await store.enqueue_job(concept.id, owner.id, {})
    return concept


def crash_before_file_deletion(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the process were killed right after the forget's COMMIT: no file goes."""
    def killed(*args: object) -> None:
        raise OSError("killed before the files went")

    monkeypatch.setattr(store.files, "delete_photo", killed)
    monkeypatch.setattr(store.files, "delete_concept_dir", killed)


async def test_forget_me_leaves_no_row_of_the_user_in_any_table(store: Store) -> None:
    bo, kiwi = await taught(store, "ana", "Bo", 1, 2), await taught(store, "ana", "Kiwi", 3)
    mimi = await taught(store, "ben", "Mimi", 4)
    ana, ben = bo.owner_id, mimi.owner_id
    group = await store.get_or_create_chat("test", "group-1", True)
    await store.share_concept(bo.id, group.id, ana)
    await store.share_concept(mimi.id, group.id, ben)
    await store.get_or_create_chat("test", "ana", False)  # a private chat's id is the user's (Telegram)
    bens = await store.get_or_create_chat("test", "ben", False)
    assert await store.delete_user(ana)
    assert [r[0] for r in await rows(store, "users")] == [ben]
    assert sorted(r[0] for r in await rows(store, "chats")) == sorted([group.id, bens.id])
    assert [r[0] for r in await rows(store, "concepts")] == [mimi.id]
    for table in ("photos", "facts", "jobs"):
        assert {r[1] for r in await rows(store, table)} == {mimi.id}, table  # column 1: concept_id
    assert [(r[0], r[1]) for r in await rows(store, "shares")] == [(mimi.id, group.id)]
    mimi_now = await store.get_concept(mimi.id)
    assert mimi_now is not None and mimi_now.tokens_file is not None
    [mimi_photo] = await store.list_photos(mimi.id)
    assert files_under(store.data_dir) == sorted([f"photos/{mimi_photo.sha256[:2]}/{mimi_photo.sha256}.png",
                                                  mimi_now.tokens_file])
    assert not store.files.concept_dir(bo.id).exists() and not store.files.concept_dir(kiwi.id).exists()
    assert empty_folders(store.files.photos_dir) == []


async def test_forget_me_deletes_the_private_chats_it_is_told_of_but_no_group(store: Store) -> None:
    owner = await store.get_or_create_user("test", "ana")
    dm = await store.get_or_create_chat("test", "dm-77", False)  # Discord: the DM's id is not the user's
    group = await store.get_or_create_chat("test", "group-1", True)
    assert await store.delete_user(owner.id, [dm.id, group.id])
    assert [r[0] for r in await rows(store, "chats")] == [group.id]


async def test_forgetting_removes_the_photo_folders_it_empties(store: Store) -> None:
    bo = await taught(store, "ana", "Bo", 1, 2, 3)
    kiwi = await taught(store, "ana", "Kiwi", 2)  # shares one photo with Bo
    assert await store.delete_concept(bo.id)
    [kept] = await store.list_photos(kiwi.id)
    assert sorted(p.name for p in store.files.photos_dir.iterdir()) == [kept.sha256[:2]]
    assert await store.remove_photo(kept.id)
    assert list(store.files.photos_dir.iterdir()) == []


async def test_a_photo_can_be_added_again_into_a_folder_a_forget_removed(store: Store) -> None:
    bo = await taught(store, "ana", "Bo", 1)
    assert await store.delete_concept(bo.id)
    kiwi = await taught(store, "ana", "Kiwi", 1)
    [again] = await store.list_photos(kiwi.id)
    assert await store.read_photo(again)


async def test_a_forget_killed_after_its_commit_leaves_no_file_at_the_next_open(
        tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    store = await Store.open(tmp_path, clock=clock)
    bo, kiwi = await taught(store, "ana", "Bo", 1, 2), await taught(store, "ana", "Kiwi", 2, 3)
    mimi = await taught(store, "ben", "Mimi", 4)
    with monkeypatch.context() as patch:
        crash_before_file_deletion(store, patch)
        assert await store.delete_concept(bo.id)
        assert await store.delete_user(mimi.owner_id)
    left = [f for f in files_under(tmp_path) if f.startswith("photos/")]
    assert len(left) == 4 and store.files.concept_dir(bo.id).exists(), "the crash left Bo's and Mimi's files"
    await store.close()
    clock.advance(60)  # restarted a minute later: the files are minutes old, not an hour
    store = await Store.open(tmp_path, clock=clock)
    try:
        kiwi_now = await store.get_concept(kiwi.id)
        assert kiwi_now is not None and kiwi_now.tokens_file is not None
        photos = [f"photos/{p.sha256[:2]}/{p.sha256}.png" for p in await store.list_photos(kiwi.id)]
        assert files_under(tmp_path) == sorted(photos + [kiwi_now.tokens_file])
        assert sorted(p.name for p in store.files.concepts_dir.iterdir()) == [str(kiwi.id)]
        assert empty_folders(tmp_path) == []
    finally:
        await store.close()


async def test_a_forget_rolled_back_keeps_every_file(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    bo = await taught(store, "ana", "Bo", 1, 2)
    before = files_under(store.data_dir)

    async def failing(*args: object) -> list[str]:
        raise OSError("disk I/O error")

    monkeypatch.setattr(store, "_shas_of", failing)
    with pytest.raises(OSError):
        await store.delete_concept(bo.id)
    assert await store.sweep_orphans() == 0
    assert files_under(store.data_dir) == before and await store.get_concept(bo.id) is not None


async def test_the_data_folder_is_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = await Store.open(data)
    try:
        await taught(store, "ana", "Bo", 1)
        for name in ("yo.sqlite3", "yo.sqlite3-wal", "yo.sqlite3-shm"):
            assert mode(data / name) == 0o600, name
        files = [p for p in data.rglob("*") if p.is_file()]
        folders = [data] + [p for p in data.rglob("*") if p.is_dir()]
        assert len(files) == 5 and len(folders) == 5  # database (3), a photo, tokens; photos/xx, concepts/1
        assert {p.name: mode(p) for p in files if mode(p) != 0o600} == {}
        assert {p.name: mode(p) for p in folders if mode(p) != 0o700} == {}
    finally:
        await store.close()


async def test_a_database_left_world_readable_is_made_private_at_open(tmp_path: Path) -> None:
    await (await Store.open(tmp_path)).close()
    os.chmod(tmp_path / "yo.sqlite3", 0o644)
    store = await Store.open(tmp_path)
    try:
        assert mode(tmp_path / "yo.sqlite3") == 0o600
        assert mode(tmp_path / "yo.sqlite3-wal") == 0o600
    finally:
        await store.close()
