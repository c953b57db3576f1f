"""Concepts: ownership, who sees what where, names, tokens, facts."""

from __future__ import annotations

import pytest

from storage import ConceptExists, NotFound, NotOwner, Store
from storage.models import Chat, User
from tests.storage.helpers import files_under, jpeg


async def people(store: Store) -> tuple[User, User, Chat, Chat]:
    ana = await store.get_or_create_user("test", "ana", "Ana")
    ben = await store.get_or_create_user("test", "ben", "Ben")
    group = await store.get_or_create_chat("test", "family", True, "Family")
    other = await store.get_or_create_chat("test", "work", True, "Work")
    return ana, ben, group, other


async def test_users_and_chats_are_created_once_and_kept_current(store: Store) -> None:
    ana = await store.get_or_create_user("telegram", "42", "Ana")
    assert await store.get_or_create_user("telegram", "42") == ana
    renamed = await store.get_or_create_user("telegram", "42", "Ana B.")
    assert (renamed.id, renamed.display_name) == (ana.id, "Ana B.")
    assert (await store.get_or_create_user("discord", "42")).id != ana.id
    chat = await store.get_or_create_chat("telegram", "-100", False)
    upgraded = await store.get_or_create_chat("telegram", "-100", True, "Now a group")
    assert (upgraded.id, upgraded.is_group, upgraded.title) == (chat.id, True, "Now a group")
    assert await store.get_user(ana.id) == renamed and await store.get_user(999) is None


async def test_a_concept_belongs_to_its_owner_by_normalized_name(store: Store) -> None:
    ana, ben, _, _ = await people(store)
    bo = await store.create_concept(ana.id, "Bo", "bo", "tiny/model", category="dog")
    assert (bo.status, bo.tokens_file, bo.description, bo.category, bo.error) == ("collecting", None, "", "dog", None)
    with pytest.raises(ConceptExists):
        await store.create_concept(ana.id, "BO", "bo", "tiny/model")
    ben_bo = await store.create_concept(ben.id, "Bo", "bo", "tiny/model")  # names are per owner
    assert await store.find_concept(ana.id, "bo") == bo and await store.find_concept(ben.id, "bo") == ben_bo
    assert await store.find_concept(ana.id, "kiwi") is None and await store.get_concept(999) is None
    with pytest.raises(NotFound):
        await store.create_concept(999, "Ghost", "ghost", "tiny/model")


async def test_nobody_else_sees_a_concept_unless_it_is_shared_into_that_chat(store: Store) -> None:
    ana, ben, group, other = await people(store)
    bo = await store.create_concept(ana.id, "Bo", "bo", "tiny/model")
    kiwi = await store.create_concept(ben.id, "Kiwi", "kiwi", "tiny/model")
    assert await store.visible_concepts(ben.id, group.id) == [kiwi]
    with pytest.raises(NotOwner):
        await store.share_concept(bo.id, group.id, ben.id)
    share = await store.share_concept(bo.id, group.id, ana.id)
    assert await store.share_concept(bo.id, group.id, ana.id) == share, "sharing twice is a no-op"
    assert await store.visible_concepts(ben.id, group.id) == [kiwi, bo], "own first"
    assert await store.visible_concepts(ben.id, other.id) == [kiwi]
    assert await store.visible_concepts(ben.id, None) == [kiwi]
    assert await store.visible_concepts(ana.id, group.id) == [bo], "no duplicate of one's own shared concept"
    assert await store.list_shares(bo.id) == [share]
    assert await store.unshare_concept(bo.id, group.id) and not await store.unshare_concept(bo.id, group.id)
    assert await store.visible_concepts(ben.id, group.id) == [kiwi]
    with pytest.raises(NotFound):
        await store.share_concept(bo.id, 999, ana.id)


async def test_rename(store: Store) -> None:
    ana, ben, _, _ = await people(store)
    bo = await store.create_concept(ana.id, "Bo", "bo", "tiny/model")
    await store.create_concept(ana.id, "Kiwi", "kiwi", "tiny/model")
    with pytest.raises(ConceptExists):
        await store.rename_concept(bo.id, ana.id, "KIWI", "kiwi")
    with pytest.raises(NotOwner):
        await store.rename_concept(bo.id, ben.id, "Mine", "mine")
    with pytest.raises(NotFound):
        await store.rename_concept(999, ana.id, "X", "x")
    assert (await store.get_concept(bo.id)).display_name == "Bo"  # type: ignore[union-attr]
    renamed = await store.rename_concept(bo.id, ana.id, "BO", "bo")  # a change of case only
    assert renamed.display_name == "BO"
    bobby = await store.rename_concept(bo.id, ana.id, "Bobby", "bobby")
    assert await store.find_concept(ana.id, "bobby") == bobby and await store.find_concept(ana.id, "bo") is None


async def test_status_and_description(store: Store) -> None:
    ana, _, _, _ = await people(store)
    bo = await store.create_concept(ana.id, "Bo", "bo", "tiny/model")
    assert await store.set_concept_status(bo.id, "failed", "out of memory")
    failed = await store.get_concept(bo.id)
    assert failed is not None and (failed.status, failed.error) == ("failed", "out of memory")
    assert failed.updated_at > bo.updated_at
    assert await store.set_concept_status(bo.id, "ready")
    assert (await store.get_concept(bo.id)).error is None  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        await store.set_concept_status(bo.id, "dancing")  # type: ignore[arg-type]
    assert not await store.set_concept_status(999, "ready"), "a forgotten concept is not an error"
    assert await store.set_description(bo.id, "a small orange dog")
    assert (await store.get_concept(bo.id)).description == "a small orange dog"  # type: ignore[union-attr]


async def test_tokens_are_versioned_files_and_the_old_one_goes(store: Store) -> None:
    ana, _, _, _ = await people(store)
    bo = await store.create_concept(ana.id, "Bo", "bo", "tiny/model")
    assert await store.read_tokens(bo) is None
    v1 = await store.save_tokens(bo.id, b"version one", "tiny/model")
    assert v1 is not None and v1.tokens_file is not None and v1.tokens_file.startswith(f"concepts/{bo.id}/")
    assert await store.read_tokens(v1) == b"version one"
    v2 = await store.save_tokens(bo.id, b"version two", "tiny/model-v2")
    assert v2 is not None and v2.tokens_file != v1.tokens_file and v2.base_model == "tiny/model-v2"
    assert files_under(store.data_dir) == [v2.tokens_file]
    assert await store.read_tokens(v1) == b"version two", "a stale Concept reads the current file"
    assert await store.delete_concept(bo.id)
    assert await store.save_tokens(bo.id, b"too late", "tiny/model") is None
    assert files_under(store.data_dir) == []


async def test_facts(store: Store) -> None:
    ana, _, _, _ = await people(store)
    bo = await store.create_concept(ana.id, "Bo", "bo", "tiny/model")
    first = await store.add_fact(bo.id, "Bo's birthday is 3 May")
    second = await store.add_fact(bo.id, "Bo hates baths")
    assert [f.text for f in await store.list_facts(bo.id)] == [first.text, second.text]
    assert await store.delete_fact(first.id) and not await store.delete_fact(first.id)
    assert await store.list_facts(bo.id) == [second]
    with pytest.raises(NotFound):
        await store.add_fact(999, "nobody")


async def test_unlearning_forgets_what_another_model_learned_and_keeps_the_rest(store: Store) -> None:
    ana, _, _, _ = await people(store)
    bo = await store.create_concept(ana.id, "Bo", "bo", "old/model")
    kiwi = await store.create_concept(ana.id, "Kiwi", "kiwi", "new/model")
    await store.add_photos(bo.id, [jpeg(seed=1), jpeg(seed=2)])
    await store.add_fact(bo.id, "Bo loves tennis balls")
    await store.set_prototype(bo.id, b"old prototype")
    learned = await store.save_tokens(bo.id, b"old tokens", "old/model")
    await store.save_tokens(kiwi.id, b"new tokens", "new/model")
    assert learned is not None and learned.tokens_file is not None
    assert [c.id for c in await store.learned_on_other_models("new/model")] == [bo.id]

    again = await store.unlearn(bo.id, "new/model")
    assert again is not None and again.tokens_file is None and again.prototype is None
    assert again.base_model == "new/model" and again.status == "collecting"
    assert learned.tokens_file not in files_under(store.data_dir)
    assert len(await store.list_photos(bo.id)) == 2 and len(await store.list_facts(bo.id)) == 1
    assert await store.learned_on_other_models("new/model") == []
    assert await store.unlearn(12345, "new/model") is None
