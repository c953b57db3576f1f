"""Yo on Telegram end to end: the real Assistant (with the fake model service) behind the
real python-telegram-bot Application, talking to a fake Telegram."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import build_assistant
from bot.assistant import Assistant
from bot.settings import Settings
from tests.fakes.models import FakeModelService
from tests.fakes.photos import photo
from tests.fakes.telegram_api import BotMessage, FakeBotAPI
from tests.fakes.telegram_bot import telegram_bot, telegram_settings

ANA, BEN = 201, 202
ORANGE, BLUE = (220, 120, 30), (30, 60, 220)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return telegram_settings(tmp_path / "data")


async def open_assistant(settings: Settings, models: FakeModelService | None = None) -> Assistant:
    assistant = await build_assistant(settings, models or FakeModelService())
    assistant.services.queue.poll_seconds = 0.05
    await assistant.start()
    return assistant


@pytest.fixture
async def assistant(settings: Settings) -> AsyncIterator[Assistant]:
    assistant = await open_assistant(settings)
    yield assistant
    await assistant.close()


@pytest.fixture
async def bot(settings: Settings, assistant: Assistant) -> AsyncIterator[FakeBotAPI]:
    async with telegram_bot(settings, assistant) as (api, _):
        yield api


async def concepts_of(assistant: Assistant, platform_user: int) -> list[tuple[str, str]]:
    user = await assistant.store.get_or_create_user("telegram", str(platform_user))
    return [(c.display_name, c.status) for c in await assistant.store.list_concepts(user.id)]


async def stored_anything(assistant: Assistant, settle: float = 0.3) -> bool:
    """Whether any concept or photo is kept (after letting the turn in progress finish)."""
    await asyncio.sleep(settle)
    async with assistant.store.db.connection.execute("SELECT (SELECT COUNT(*) FROM concepts) + "
                                                     "(SELECT COUNT(*) FROM photos)") as cursor:
        row = await cursor.fetchone()
    files = [p for p in (assistant.services.settings.yo_data_dir / "photos").rglob("*") if p.is_file()]
    return bool(row and row[0]) or bool(files)


async def teach(api: FakeBotAPI, user_id: int, name: str, colour: tuple[int, int, int]) -> BotMessage:
    """Teach `name` with an album captioned "/teach NAME"; returns the "is ready" message."""
    api.album(api.users[user_id], [photo(colour, seed=i) for i in range(5)], f"/teach {name}")
    return await api.wait_for_text(user_id, f"{name} is ready!", timeout=10)


async def test_teach_with_a_five_photo_album_captioned_teach(bot: FakeBotAPI, assistant: Assistant) -> None:
    bot.user(ANA, "Ana")
    ready = await teach(bot, ANA, "Bo", ORANGE)
    assert any("Got 5 photos of Bo (5 in all)" in t for t in bot.texts(ANA))
    progress = next(m for m in bot.messages(ANA) if m.content.startswith("Learning Bo"))
    await bot.wait_for(lambda: progress.content == "Learning Bo: done ✅", timeout=3)
    assert progress.edits, "the progress message is edited in place"
    assert not progress.buttons, "the Stop button goes when training is over"
    assert ready.kind == "photo" and ready.image, "the ready message carries a collage"
    assert await concepts_of(assistant, ANA) == [("Bo", "ready")]


async def test_teach_then_photos_then_done(bot: FakeBotAPI, assistant: Assistant) -> None:
    ana = bot.user(ANA)
    bot.text(ana, "/teach Bo")
    await bot.wait_for_text(ANA, "Send me 3–10 photos of Bo")
    bot.photo(ana, photo(ORANGE, seed=1))
    await bot.wait_for_text(ANA, "Got 1 photo of Bo (1 in all)")
    bot.document(ana, photo(ORANGE, seed=2, fmt="PNG"), "bo.png", "image/png")  # uncompressed
    await bot.wait_for_text(ANA, "(2 in all)")
    bot.photo(ana, photo(ORANGE, seed=3))
    await bot.wait_for_text(ANA, "(3 in all)")
    bot.text(ana, "/done")
    progress = await bot.wait_for_text(ANA, "Learning Bo")
    assert progress.button("Stop")["callback_data"].startswith("stop:")
    await bot.wait_for_text(ANA, "Bo is ready!", timeout=10)
    await bot.wait_for(lambda: progress.content == "Learning Bo: done ✅", timeout=3)


async def test_asking_with_and_without_a_photo(bot: FakeBotAPI) -> None:
    ana = bot.user(ANA)
    await teach(bot, ANA, "Bo", ORANGE)
    bot.photo(ana, photo(ORANGE, seed=9), "is Bo in this?")
    yes = await bot.wait_for_text(ANA, "Yes, Bo is in this photo")
    assert [b["text"] for b in yes.buttons] == ["✅ Right", "❌ Wrong"]
    bot.photo(ana, photo(BLUE, seed=9), "is Bo in this?")
    await bot.wait_for_text(ANA, "No, I don't think Bo is in this photo")
    bot.text(ana, "what should I get Bo for his birthday?")
    await bot.wait_for_text(ANA, "(fake answer to: what should I get Bo for his birthday?)")
    assert bot.calls_of("sendChatAction"), "typing… shows while the model works"


async def test_a_photo_with_no_caption_in_a_private_chat(bot: FakeBotAPI) -> None:
    ana = bot.user(ANA)
    await teach(bot, ANA, "Bo", ORANGE)
    bot.photo(ana, photo(ORANGE, seed=11))
    seen = await bot.wait_for_text(ANA, "I see Bo")
    assert seen.button("✅ Bo")


async def test_corrections_with_the_buttons(bot: FakeBotAPI, assistant: Assistant) -> None:
    ana = bot.user(ANA)
    await teach(bot, ANA, "Bo", ORANGE)
    bot.photo(ana, photo(ORANGE, seed=12), "is Bo in this?")
    answer = await bot.wait_for_text(ANA, "Yes, Bo is in this photo")
    bot.press(ana, answer, answer.button("❌ Wrong")["callback_data"])
    await bot.wait_for_text(ANA, "Thanks! I'll remember this isn't Bo.")
    bot.press(ana, answer, answer.button("✅ Right")["callback_data"])
    await bot.wait_for_text(ANA, "Thanks! I'll remember this is Bo.")
    assert len(bot.callback_answers) == 2
    user = await assistant.store.get_or_create_user("telegram", str(ANA))
    bo = (await assistant.store.list_concepts(user.id))[0]
    assert len(await assistant.store.list_photos(bo.id, "negative")) == 1
    assert len(await assistant.store.list_photos(bo.id, "positive")) == 6


async def test_groups_answer_only_when_addressed(bot: FakeBotAPI) -> None:
    ana, ben = bot.user(ANA, "Ana"), bot.user(BEN, "Ben")
    await teach(bot, ANA, "Bo", ORANGE)
    family = bot.group(title="Family")
    bot.text(ana, "/teach Rex", family)
    offer = await bot.wait_for_text(family["id"], "Send me 3–10 photos of Rex here")
    assert offer.buttons[0]["url"] == "https://t.me/YoTestBot?start=teach_Rex"  # or in a private chat
    bot.text(ana, "/share Bo", family)
    await bot.wait_for_text(family["id"], "Everyone here can now ask me about Bo")

    bot.photo(ben, photo(ORANGE, seed=20), "is Bo in this?", family)  # not addressed
    bot.photo(ben, photo(ORANGE, seed=21), "is Bo in this?", family, mention=True)
    answer = await bot.wait_for_text(family["id"], "Yes, Bo is in this photo")
    await asyncio.sleep(0.3)
    assert sum("Bo is in this photo" in t for t in bot.texts(family["id"])) == 1
    assert answer.reply_to is not None

    bot.text(ben, "does Bo like walks?", family, reply_to=answer)  # a reply to the bot
    await bot.wait_for_text(family["id"], "(fake answer to: does Bo like walks?)")


async def test_an_album_captioned_teach_in_a_group_teaches_there_and_offers_sharing(bot: FakeBotAPI) -> None:
    ana, ben = bot.user(ANA, "Ana"), bot.user(BEN, "Ben")
    family = bot.group(title="Family")
    bot.album(ana, [photo(ORANGE, seed=n) for n in range(4)], "/teach Bo", family)
    await bot.wait_for_text(family["id"], "Got 4 photos of Bo")
    ready = await bot.wait_for_text(family["id"], "Bo is ready!", timeout=10)
    await bot.wait_for(lambda: any(m.content == "Learning Bo: done ✅" for m in bot.messages(family["id"])),
                       timeout=3, what="the progress message edited in the group")
    bot.photo(ben, photo(ORANGE, seed=20), "is Bo in this?", family, mention=True)
    await bot.wait_for_text(family["id"], "couldn't tell whom you mean")
    bot.press(ana, ready, ready.button("Share Bo here")["callback_data"])
    await bot.wait_for_text(family["id"], "Everyone here can now ask me about Bo")
    bot.photo(ben, photo(ORANGE, seed=21), "is Bo in this?", family, mention=True)
    await bot.wait_for_text(family["id"], "Yes, Bo is in this photo")


async def test_deep_link_from_a_group_starts_teaching_in_private(bot: FakeBotAPI) -> None:
    ana = bot.user(ANA)
    bot.text(ana, "/start teach_Rex")
    await bot.wait_for_text(ANA, "Let's meet Rex!")


async def test_two_users_with_the_same_name_are_independent(bot: FakeBotAPI, assistant: Assistant) -> None:
    ana, ben = bot.user(ANA), bot.user(BEN)
    await asyncio.gather(teach(bot, ANA, "Bo", ORANGE), teach(bot, BEN, "Bo", BLUE))
    bot.photo(ana, photo(ORANGE, seed=30), "is Bo in this?")
    bot.photo(ben, photo(ORANGE, seed=30), "is Bo in this?")
    await bot.wait_for_text(ANA, "Yes, Bo is in this photo")
    await bot.wait_for_text(BEN, "No, I don't think Bo is in this photo")
    assert await concepts_of(assistant, ANA) == [("Bo", "ready")]
    assert await concepts_of(assistant, BEN) == [("Bo", "ready")]


class TestBadInput:
    async def test_a_zero_byte_photo_file(self, bot: FakeBotAPI, assistant: Assistant) -> None:
        bot.document(bot.user(ANA), b"", "bo.jpg", "image/jpeg", "/teach Bo")
        await bot.wait_for_text(ANA, "That file is empty.")
        assert not await stored_anything(assistant)

    async def test_a_text_file_sent_as_an_image(self, bot: FakeBotAPI, assistant: Assistant) -> None:
        ana = bot.user(ANA)
        bot.text(ana, "/teach Bo")
        await bot.wait_for_text(ANA, "Let's meet Bo")
        bot.document(ana, b"these are not the pixels you are looking for\n" * 20, "bo.jpg", "image/jpeg")
        await bot.wait_for_text(ANA, "isn't a photo I can read")
        bot.text(ana, "/cancel")
        await bot.wait_for_text(ANA, "didn't keep anything")
        assert not await stored_anything(assistant)

    async def test_a_25_mb_file(self, bot: FakeBotAPI, assistant: Assistant) -> None:
        bot.document(bot.user(ANA), photo(), "huge.png", "image/png", "/teach Bo", size=25_000_000)
        reply = await bot.wait_for_text(ANA, "25 MB")
        await asyncio.sleep(0.2)
        assert reply.content == "That file is 25 MB; I can only fetch files up to 20 MB from Telegram."
        assert bot.texts(ANA) == [reply.content]
        assert not bot.calls_of("getFile")
        assert not await stored_anything(assistant)


async def test_teaching_continues_after_a_restart(settings: Settings) -> None:
    api = FakeBotAPI()
    ana = api.user(ANA)
    first = await open_assistant(settings)
    try:
        async with telegram_bot(settings, first, api):
            api.text(ana, "/teach Bo")
            api.album(ana, [photo(ORANGE, seed=1), photo(ORANGE, seed=2)])
            await api.wait_for_text(ANA, "Got 2 photos of Bo (2 in all)")
    finally:
        await first.close()

    second = await open_assistant(settings)  # a new process: new Application, same data folder
    try:
        async with telegram_bot(settings, second, api):
            api.photo(ana, photo(ORANGE, seed=3))
            await api.wait_for_text(ANA, "Got 1 photo of Bo (3 in all)")
            api.text(ana, "/done")
            await api.wait_for_text(ANA, "Bo is ready!", timeout=10)
    finally:
        await second.close()


async def test_teaching_in_a_group_continues_after_a_restart(settings: Settings) -> None:
    """The photos addressed to the bot in a group after a restart still go to the concept being taught."""
    api = FakeBotAPI()
    ana, family = api.user(ANA), api.group(title="Family")
    first = await open_assistant(settings)
    try:
        async with telegram_bot(settings, first, api):
            api.text(ana, "/teach Bo", family)
            await api.wait_for_text(family["id"], "photos of Bo here")
            api.photo(ana, photo(ORANGE, seed=1), "", family, mention=True)
            await api.wait_for_text(family["id"], "Got 1 photo of Bo (1 in all)")
    finally:
        await first.close()

    second = await open_assistant(settings)
    try:
        async with telegram_bot(settings, second, api):
            api.photo(ana, photo(ORANGE, seed=2), "", family, mention=True)
            api.photo(ana, photo(ORANGE, seed=3), "", family, mention=True)
            await api.wait_for_text(family["id"], "Got 1 photo of Bo (3 in all)")
            api.text(ana, "/done", family)
            await api.wait_for_text(family["id"], "Bo is ready!", timeout=10)
    finally:
        await second.close()


async def test_training_interrupted_by_a_restart_reports_ready_later(settings: Settings) -> None:
    api = FakeBotAPI()
    ana = api.user(ANA)
    first = await open_assistant(settings, FakeModelService(train_steps=50, step_seconds=0.1))
    try:
        async with telegram_bot(settings, first, api):
            api.album(ana, [photo(ORANGE, seed=i) for i in range(3)], "/teach Bo")
            await api.wait_for_text(ANA, "Learning Bo: ")
            await api.wait_for(lambda: any("%" in t for t in api.texts(ANA)), timeout=5)
    finally:
        await first.close()

    second = await open_assistant(settings)
    try:
        async with telegram_bot(settings, second, api):
            ready = await api.wait_for_text(ANA, "Bo is ready!", timeout=10)
            assert ready.kind == "photo"
    finally:
        await second.close()
