"""Phone photos (HEIC, AVIF) taught and recognised through the assistant, as JPEGs are."""

from __future__ import annotations

import io

import pytest
from PIL import Image, features

import storage.images  # noqa: F401  (registers the HEIF opener with Pillow, which then writes HEIC too)
from tests.bot.conftest import wait_for
from tests.fakes.photos import photo

ORANGE, BLUE = (220, 120, 30), (20, 20, 220)


def heic(colour: tuple[int, int, int], seed: int) -> bytes:
    data = photo(colour, seed=seed, fmt="HEIF")
    assert data[4:12] == b"ftypheic"
    return data


async def taught_with_heic(assistant, person):
    ana = person("ana")
    await ana.says("/teach Bo", *[heic(ORANGE, seed=i) for i in range(3)])
    await wait_for(lambda: any("Bo is ready!" in t for t in ana.channel.texts))
    user = await assistant.store.get_or_create_user("test", "ana")
    [concept] = await assistant.store.list_concepts(user.id)
    stored = await assistant.store.list_photos(concept.id, "positive")
    assert len(stored) == 3, "three photos, not merged as duplicates"
    for record in stored:
        image = Image.open(io.BytesIO(await assistant.store.read_photo(record)))
        assert (image.format, image.size) == ("PNG", (96, 96))
    return ana


async def test_heic_photos_are_taught_and_recognised(assistant, person) -> None:
    ana = await taught_with_heic(assistant, person)
    channel = await ana.says("is Bo in this?", heic(ORANGE, seed=42))
    assert channel.last.text.startswith("Yes, Bo is in this photo")
    channel = await ana.says("is Bo in this?", heic(BLUE, seed=43))
    assert channel.last.text.startswith("No")


@pytest.mark.skipif(not features.check("avif"), reason="this Pillow was built without libavif")
async def test_an_avif_photo_is_recognised(assistant, person) -> None:
    ana = await taught_with_heic(assistant, person)
    channel = await ana.says("is Bo in this?", photo(ORANGE, seed=44, fmt="AVIF"))
    assert channel.last.text.startswith("Yes, Bo is in this photo")
