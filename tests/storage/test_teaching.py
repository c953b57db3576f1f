"""Teaching sessions in the store: one per user and chat, the photos each added, and gone with
their concept or their user."""

from __future__ import annotations

from storage import Store
from tests.storage.helpers import jpeg


async def test_a_session_remembers_its_photos_and_ends(store: Store) -> None:
    ana = await store.get_or_create_user("test", "ana")
    group = await store.get_or_create_chat("test", "group-1", True, "family")
    bo = await store.create_concept(ana.id, "Bo", "bo", "tiny/model")
    assert await store.teaching_session(ana.id, group.id) is None
    await store.start_teaching(ana.id, group.id, bo.id, new_concept=True)
    first = await store.add_photo(bo.id, jpeg(seed=1), "positive", "teach")
    second = await store.add_photo(bo.id, jpeg(seed=2), "positive", "teach")
    for photo in (first, second):
        await store.add_teaching_photo(ana.id, group.id, photo.id)
    session = await store.teaching_session(ana.id, group.id)
    assert session is not None and session.concept_id == bo.id and session.new_concept
    assert session.added_photo_ids == (first.id, second.id)
    # Starting again in the same chat replaces it; another chat has a session of its own.
    restarted = await store.start_teaching(ana.id, group.id, bo.id, new_concept=False)
    assert restarted.added_photo_ids == () and not restarted.new_concept
    private = await store.get_or_create_chat("test", "ana", False, None)
    assert await store.teaching_session(ana.id, private.id) is None
    await store.end_teaching(ana.id, group.id)
    assert await store.teaching_session(ana.id, group.id) is None


async def test_a_session_goes_with_its_concept_and_its_user(store: Store) -> None:
    ana = await store.get_or_create_user("test", "ana")
    chat = await store.get_or_create_chat("test", "ana", False, None)
    bo = await store.create_concept(ana.id, "Bo", "bo", "tiny/model")
    await store.start_teaching(ana.id, chat.id, bo.id, new_concept=True)
    await store.delete_concept(bo.id)
    assert await store.teaching_session(ana.id, chat.id) is None

    kip = await store.create_concept(ana.id, "Kip", "kip", "tiny/model")
    group = await store.get_or_create_chat("test", "group-1", True, "family")
    await store.start_teaching(ana.id, group.id, kip.id, new_concept=True)
    await store.delete_user(ana.id, [chat.id])
    assert await store.teaching_session(ana.id, group.id) is None
