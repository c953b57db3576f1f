"""export_user: everything kept about one user, and nothing about anyone else."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from storage import NotFound, Store
from tests.storage.helpers import jpeg


async def test_export_holds_the_users_rows_and_files(store: Store) -> None:
    ana = await store.get_or_create_user("test", "ana", "Ana")
    ben = await store.get_or_create_user("test", "ben", "Ben")
    group = await store.get_or_create_chat("test", "family", True)
    bo = await store.create_concept(ana.id, "Bo", "bo", "tiny/model")
    kiwi = await store.create_concept(ana.id, "Kiwi", "kiwi", "tiny/model")
    bens = await store.create_concept(ben.id, "Secret", "secret", "tiny/model")
    shared = await store.add_photo(bo.id, jpeg(seed=1))
    await store.add_photo(kiwi.id, jpeg(seed=1), "negative")  # the same photo: one file in the zip
    only_bo = await store.add_photo(bo.id, jpeg(seed=2))
    await store.add_photo(bens.id, jpeg(seed=3))
    await store.add_fact(bo.id, "Bo's birthday is 3 May")
    await store.share_concept(bo.id, group.id, ana.id)
    await store.save_tokens(bo.id, b"bo tokens", "tiny/model")
    job = await store.enqueue_job(kiwi.id, ana.id, {"warm_start": False})
    await store.start_teaching(ana.id, group.id, kiwi.id, new_concept=False)
    await store.add_teaching_photo(ana.id, group.id, shared.id)
    await store.start_teaching(ben.id, group.id, bens.id, new_concept=True)

    archive = zipfile.ZipFile(io.BytesIO(await store.export_user(ana.id)))
    assert sorted(archive.namelist()) == sorted([
        "data.json", f"photos/{shared.sha256}.png", f"photos/{only_bo.sha256}.png",
        f"concepts/{bo.id}/tokens.safetensors"])
    assert archive.read(f"photos/{only_bo.sha256}.png") == await store.read_photo(only_bo)
    assert archive.read(f"concepts/{bo.id}/tokens.safetensors") == b"bo tokens"

    data = json.loads(archive.read("data.json"))
    assert data["user"]["display_name"] == "Ana"
    assert [c["display_name"] for c in data["concepts"]] == ["Bo", "Kiwi"]
    exported_bo = data["concepts"][0]
    assert exported_bo["tokens"] == f"concepts/{bo.id}/tokens.safetensors"
    assert [p["file"] for p in exported_bo["photos"]] == [f"photos/{shared.sha256}.png", f"photos/{only_bo.sha256}.png"]
    assert [f["text"] for f in exported_bo["facts"]] == ["Bo's birthday is 3 May"]
    assert [s["chat_id"] for s in exported_bo["shares"]] == [group.id]
    assert [(j["id"], j["params"]) for j in data["jobs"]] == [(job.id, {"warm_start": False})]
    assert [(t["chat_id"], t["concept_id"], t["added_photo_ids"]) for t in data["teaching_sessions"]] == [
        (group.id, kiwi.id, [shared.id])]
    assert "Secret" not in archive.read("data.json").decode()


async def test_export_of_an_unknown_user(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.export_user(999)
