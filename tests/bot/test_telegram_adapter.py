"""The Telegram adapter alone: Updates → Messages and Replies → Bot API calls, through
python-telegram-bot's real Application, Updater and request layer against a fake Telegram.
The assistant here is a stand-in that records what reaches it."""

from __future__ import annotations

import asyncio
import io
import logging
import random
from pathlib import Path

import pytest
from PIL import Image

from bot.assistant.messages import Button, Channel, Message, Reply
from bot.assistant.commands import menu
from bot.telegram import channel as telegram_channel
from bot.telegram.app import file_url
from bot.telegram.handlers import APOLOGY, PHOTOS_ONLY
from tests.fakes.photos import photo
from tests.fakes.telegram_bot import RecordingAssistant, telegram_bot, telegram_settings

ANA, BEN = 101, 102


@pytest.fixture
def settings(tmp_path: Path):
    return telegram_settings(tmp_path / "data")


def big_photo(seed: int = 0) -> bytes:
    """A 640×480 photo: Telegram sends it with two smaller thumbnails."""
    return photo((30, 140, 200), size=(640, 480), seed=seed)


async def test_starts_with_the_command_menus_and_polling(settings) -> None:
    async with telegram_bot(settings, RecordingAssistant()) as (api, application):
        private = [c["command"] for c in api.menus["all_private_chats"]]
        groups = [c["command"] for c in api.menus["all_group_chats"]]
        assert {"start", "help", "teach", "done", "cancel", "concepts", "forget", "rename", "describe", "draw",
                "stop", "forgetme"} <= set(private) and "share" not in private
        assert {"share", "unshare", "draw", "concepts"} <= set(groups) and "forgetme" not in groups
        assert private == [c.name for c in menu(groups=False)] and groups == [c.name for c in menu(groups=True)]
        assert not {"status", "pause", "block"} & (set(private) | set(groups))  # admins type theirs
        assert [c.method for c in api.calls[:4]] == ["getMe", "setMyCommands", "setMyCommands", "deleteWebhook"]
        await api.wait_for(lambda: api.calls_of("getUpdates"))


def test_file_url_follows_the_api_url() -> None:
    assert file_url("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_url("http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081/file/bot"
    assert file_url("http://local:8081/bot{token}") == "http://local:8081/file/bot{token}"


async def test_text_and_commands_reach_the_assistant(settings) -> None:
    assistant = RecordingAssistant()
    async with telegram_bot(settings, assistant) as (api, _):
        ana = api.user(ANA, "Ana", "ana")
        api.text(ana, "/teach@YoTestBot Bo")
        await api.wait_for_text(ANA, "heard: /teach Bo (0 photos)")
        api.text(ana, "what does Bo like?")
        await api.wait_for_text(ANA, "heard: what does Bo like?")
    first = assistant.messages[0]
    assert (first.platform, first.user_id, first.chat_id, first.is_group, first.addressed) == \
        ("telegram", str(ANA), str(ANA), False, True)
    assert first.user_name == "Ana" and first.message_id == "1"


async def test_photo_uses_the_largest_size(settings) -> None:
    assistant = RecordingAssistant()
    async with telegram_bot(settings, assistant) as (api, _):
        ana = api.user(ANA)
        sent = api.photo(ana, big_photo(), "is Bo in this?")
        await api.wait_for_text(ANA, "heard: is Bo in this? (1 photos)")
    assert len(sent["photo"]) == 3
    assert assistant.messages[0].photos[0].data == big_photo()
    assert [c.params["file_id"] for c in api.calls_of("getFile")] == [sent["photo"][-1]["file_id"]]


async def test_photo_without_caption_in_private_chat(settings) -> None:
    assistant = RecordingAssistant()
    async with telegram_bot(settings, assistant) as (api, _):
        api.photo(api.user(ANA), photo())
        await api.wait_for_text(ANA, "heard:  (1 photos)")
    assert assistant.messages[0].text == "" and assistant.messages[0].addressed


async def test_image_sent_as_a_file_keeps_its_bytes_and_name(settings) -> None:
    assistant = RecordingAssistant()
    png = photo(fmt="PNG")
    async with telegram_bot(settings, assistant) as (api, _):
        api.document(api.user(ANA), png, "bo.png", "image/png", "this is Bo")
        await api.wait_for_text(ANA, "heard: this is Bo (1 photos)")
        api.document(api.user(ANA), png, "bo2.png", None)  # no MIME type: the name says image
        await api.wait_for(lambda: len(assistant.messages) == 2)
    assert assistant.messages[0].photos[0].data == png
    assert assistant.messages[0].photos[0].filename == "bo.png"


async def test_a_file_that_is_no_image_is_refused_without_downloading(settings) -> None:
    assistant = RecordingAssistant()
    async with telegram_bot(settings, assistant) as (api, _):
        api.document(api.user(ANA), b"meeting notes", "notes.txt", "text/plain")
        reply = await api.wait_for_text(ANA, "isn't an image")
    assert "“notes.txt”" in reply.content
    assert not assistant.messages and not api.calls_of("getFile")


async def test_a_file_over_20_mb_gets_a_clear_reply_and_no_download(settings) -> None:
    assistant = RecordingAssistant()
    async with telegram_bot(settings, assistant) as (api, _):
        api.photo(api.user(ANA), photo(), "/teach Bo", size=25_000_000)
        reply = await api.wait_for_text(ANA, "25 MB")
        await asyncio.sleep(0.1)
    assert reply.content == "That file is 25 MB; I can only fetch files up to 20 MB from Telegram."
    assert not api.calls_of("getFile")
    assert not assistant.messages, "nothing usable arrived, so the assistant never saw the command"


async def test_an_album_is_one_message_with_every_photo(settings) -> None:
    assistant = RecordingAssistant()
    photos = [photo(seed=i) for i in range(5)]
    async with telegram_bot(settings, assistant, album_wait=0.3) as (api, _):
        items = api.album(api.user(ANA), photos, "/teach Bo")
        await api.wait_for_text(ANA, "heard: /teach Bo (5 photos)")
        await asyncio.sleep(0.4)
    assert len(items) == 5 and len({i["media_group_id"] for i in items}) == 1
    assert len(assistant.messages) == 1
    assert [p.data for p in assistant.messages[0].photos] == photos


async def test_the_caption_may_sit_on_any_album_item(settings) -> None:
    assistant = RecordingAssistant()
    async with telegram_bot(settings, assistant) as (api, _):
        ana = api.user(ANA)
        api.photo(ana, photo(seed=1), media_group_id="777")
        api.photo(ana, photo(seed=2), "this is Bo", media_group_id="777")
        await api.wait_for_text(ANA, "heard: this is Bo (2 photos)")


async def test_a_message_right_after_an_album_comes_after_it(settings) -> None:
    assistant = RecordingAssistant()
    async with telegram_bot(settings, assistant, album_wait=5.0) as (api, _):
        ana = api.user(ANA)
        api.album(ana, [photo(seed=i) for i in range(3)])
        api.text(ana, "/done")
        await api.wait_for_text(ANA, "heard: /done", timeout=2.0)  # long before the 5 s album timer
    assert [(m.text, len(m.photos)) for m in assistant.messages] == [("", 3), ("/done", 0)]


async def test_an_album_with_one_oversized_photo_keeps_the_others(settings) -> None:
    assistant = RecordingAssistant()
    async with telegram_bot(settings, assistant) as (api, _):
        api.album(api.user(ANA), [photo(seed=i) for i in range(3)], "/teach Bo", sizes={1: 30_000_000})
        await api.wait_for_text(ANA, "heard: /teach Bo (2 photos)")
    assert "Photo 2 is 30 MB; I can only fetch files up to 20 MB from Telegram." in api.texts(ANA)
    assert len(api.calls_of("getFile")) == 2


async def test_replying_to_a_photo_carries_it_along(settings) -> None:
    assistant = RecordingAssistant()
    async with telegram_bot(settings, assistant) as (api, _):
        ana = api.user(ANA)
        earlier = api.photo(ana, photo(seed=4))
        await api.wait_for(lambda: len(assistant.messages) == 1)
        api.text(ana, "is Bo in this?", reply_to=earlier)
        await api.wait_for_text(ANA, "heard: is Bo in this? (0 photos)")
    assert [p.data for p in assistant.messages[1].reply_photos] == [photo(seed=4)]


class TestGroups:
    async def test_only_addressed_messages_reach_the_assistant(self, settings) -> None:
        assistant = RecordingAssistant()
        async with telegram_bot(settings, assistant) as (api, _):
            ana, family = api.user(ANA, "Ana"), api.group(title="Family")
            api.text(ana, "nice weather today", family)
            api.photo(ana, photo(), "look at Bo", family)
            api.text(ana, "/help@SomeOtherBot", family)
            api.text(ana, "is Bo cute?", family, mention=True)
            await api.wait_for_text(family["id"], "heard: is Bo cute?")
            api.text(ana, "/concepts@YoTestBot", family)
            await api.wait_for_text(family["id"], "heard: /concepts")
        assert [m.text for m in assistant.messages] == ["is Bo cute?", "/concepts"]
        assert all(m.is_group and m.addressed and m.chat_title == "Family" for m in assistant.messages)
        assert not api.calls_of("getFile"), "photos of messages not meant for Yo are never fetched"

    async def test_mention_in_a_photo_caption_and_replies_to_the_bot(self, settings) -> None:
        assistant = RecordingAssistant()
        async with telegram_bot(settings, assistant) as (api, _):
            ana, family = api.user(ANA), api.group()
            api.photo(ana, photo(), "who is this?", family, mention=True)
            answer = await api.wait_for_text(family["id"], "heard: who is this? (1 photos)")
            api.text(ana, "and now?", family, reply_to=answer)
            await api.wait_for_text(family["id"], "heard: and now?")
        assert [m.text for m in assistant.messages] == ["who is this?", "and now?"]

    async def test_an_album_mentioning_the_bot_is_addressed(self, settings) -> None:
        assistant = RecordingAssistant()
        async with telegram_bot(settings, assistant) as (api, _):
            ana, family = api.user(ANA), api.group()
            api.album(ana, [photo(seed=1), photo(seed=2)], "who is here?", family, mention=True)
            api.album(ana, [photo(seed=3), photo(seed=4)], "holiday", family)
            await api.wait_for_text(family["id"], "heard: who is here? (2 photos)")
            await asyncio.sleep(0.4)
        assert len(assistant.messages) == 1

    async def test_answers_quote_the_message_they_answer(self, settings) -> None:
        async with telegram_bot(settings, RecordingAssistant()) as (api, _):
            family = api.group()
            asked = api.text(api.user(ANA), "/help", family)
            answer = await api.wait_for_text(family["id"], "heard: /help")
        assert answer.reply_to == asked["message_id"]


async def test_buttons_links_and_presses(settings) -> None:
    async def respond(message: Message, channel: Channel) -> None:
        await channel.send(Reply("Forget Bo?", buttons=[[Button("Forget Bo", "forget:1"), Button("Keep", "keep")]]))
        await channel.send(Reply("Let's go private.", link=channel.private_link("teach_Bo")))

    assistant = RecordingAssistant(respond)
    async with telegram_bot(settings, assistant) as (api, _):
        ana = api.user(ANA, "Ana")
        api.text(ana, "/forget Bo")
        question = await api.wait_for_text(ANA, "Forget Bo?")
        link = await api.wait_for_text(ANA, "Let's go private.")
        api.press(ana, question, question.button("Keep")["callback_data"])
        await api.wait_for_text(ANA, "pressed: keep")
    assert [b["text"] for b in question.buttons] == ["Forget Bo", "Keep"]
    assert link.buttons == [{"text": "Open a private chat with me", "url": "https://t.me/YoTestBot?start=teach_Bo"}]
    press = assistant.presses[0]
    assert (press.platform, press.user_id, press.chat_id, press.data, press.is_group) == \
        ("telegram", str(ANA), str(ANA), "keep", False)
    assert len(api.callback_answers) == 1


async def test_edits_are_throttled_per_chat_and_end_on_the_latest_text(settings) -> None:
    async def respond(message: Message, channel: Channel) -> None:
        sent = await channel.send(Reply("Learning Bo: 0%"))
        for percent in range(10, 101, 10):
            await sent.edit(Reply(f"Learning Bo: {percent}%"))
        await sent.edit(Reply("Learning Bo: 100%"))  # "message is not modified": ignored

    async with telegram_bot(settings, RecordingAssistant(respond)) as (api, _):
        api.text(api.user(ANA), "/done")
        progress = await api.wait_for_text(ANA, "Learning Bo")
        await api.wait_for(lambda: progress.content == "Learning Bo: 100%", timeout=5)
        await asyncio.sleep(0.3)
    times = [edit["at"] for edit in progress.edits]
    assert 1 <= len(times) <= 2, "ten quick edits become the first one and the latest one"
    assert all(b - a >= 0.95 for a, b in zip(times, times[1:]))
    assert APOLOGY not in api.texts(ANA)


async def test_images_go_as_photo_album_and_documents(settings) -> None:
    rng = random.Random(3)
    noise = Image.frombytes("RGB", (2400, 2000), rng.randbytes(2400 * 2000 * 3))
    out = io.BytesIO()
    noise.save(out, format="PNG", compress_level=0)
    huge = out.getvalue()
    assert len(huge) > 10_000_000
    panorama = photo(size=(2100, 100))

    async def respond(message: Message, channel: Channel) -> None:
        if message.text == "one":
            await channel.send(Reply("Bo is ready!", images=[photo(seed=1)]))
        elif message.text == "eleven":
            await channel.send(Reply("Here you go", images=[photo(seed=i) for i in range(11)],
                                     buttons=[[Button("✅", "fb:p:1:x")]]))
        elif message.text == "huge":
            await channel.send(Reply("big", images=[huge, panorama]))

    async with telegram_bot(settings, RecordingAssistant(respond)) as (api, _):
        ana = api.user(ANA)
        api.text(ana, "one")
        ready = await api.wait_for_text(ANA, "Bo is ready!")
        assert ready.kind == "photo" and ready.image == photo(seed=1)
        api.text(ana, "eleven")
        after = await api.wait_for_text(ANA, "Here you go")
        assert after.kind == "text" and after.buttons
        assert len(api.calls_of("sendMediaGroup")) == 1 and len(api.calls_of("sendPhoto")) == 2
        api.text(ana, "huge")
        await api.wait_for(lambda: api.calls_of("sendDocument"))
        await api.wait_for_text(ANA, "big")
    shrunk = [m for m in api.messages(ANA) if m.caption == "big"][0]
    assert shrunk.kind == "photo" and shrunk.image is not None and len(shrunk.image) <= 10_000_000
    assert api.calls_of("sendDocument")[0].files  # the 21:1 panorama can only go as a file


async def test_typing_is_kept_up_for_the_whole_wait_and_stops_with_the_answer(
        settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Telegram shows a chat action for 5 s only: a long wait sends it again and again (here every
    50 ms instead of every 4 s), and nothing more once the answer is out or the handler is done."""
    monkeypatch.setattr(telegram_channel, "TYPING_EVERY", 0.05)

    async def respond(message: Message, channel: Channel) -> None:
        await channel.show_activity("typing")
        await asyncio.sleep(0.4)
        if message.text == "answer":
            await channel.send(Reply("here it is"))
            await asyncio.sleep(0.3)

    async with telegram_bot(settings, RecordingAssistant(respond)) as (api, _):
        ana = api.user(ANA)
        api.text(ana, "answer")
        await api.wait_for_text(ANA, "here it is")
        kept = len(api.calls_of("sendChatAction"))
        assert kept >= 4, kept
        await asyncio.sleep(0.4)
        assert len(api.calls_of("sendChatAction")) == kept, "the answer ends it"
        api.text(ana, "nothing to say")  # a handler that sends nothing: done() ends it
        await api.wait_for(lambda: len(api.calls_of("sendChatAction")) >= kept + 4)
        await asyncio.sleep(0.3)
        settled = len(api.calls_of("sendChatAction"))
        await asyncio.sleep(0.3)
        assert len(api.calls_of("sendChatAction")) == settled


async def test_activity_long_text_and_notifier(settings) -> None:
    async def respond(message: Message, channel: Channel) -> None:
        await channel.show_activity("upload_photo")
        await channel.send(Reply("line\n" * 1500))

    assistant = RecordingAssistant(respond)
    async with telegram_bot(settings, assistant) as (api, _):
        api.user(ANA)
        api.text(api.users[ANA], "hi")
        await api.wait_for(lambda: len(api.calls_of("sendMessage")) == 2)
        channel = await assistant.notifiers["telegram"](str(ANA))
        await channel.send(Reply("Bo is ready!"))
        await api.wait_for_text(ANA, "Bo is ready!")
    assert api.calls_of("sendChatAction")[0].params["action"] == "upload_photo"
    assert sum(len(t) for t in api.texts(ANA)[:2]) >= 7400


async def test_errors_are_logged_with_context_and_users_get_a_short_apology(settings, caplog) -> None:
    async def respond(message: Message, channel: Channel) -> None:
        raise RuntimeError("database on fire")

    async with telegram_bot(settings, RecordingAssistant(respond)) as (api, _):
        with caplog.at_level(logging.ERROR, logger="bot.telegram"):
            api.text(api.user(ANA), "hello")
            await api.wait_for_text(ANA, APOLOGY)
    assert api.texts(ANA) == [APOLOGY]
    assert any(f"chat {ANA}, user {ANA}" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_flood_limits_are_waited_out(settings) -> None:
    async with telegram_bot(settings, RecordingAssistant()) as (api, _):
        api.flood("sendMessage", times=1, retry_after=1)
        api.text(api.user(ANA), "hello")
        await api.wait_for_text(ANA, "heard: hello", timeout=5)
    assert len(api.calls_of("sendMessage")) == 2


async def test_stickers_in_private_get_a_hint(settings) -> None:
    assistant = RecordingAssistant()
    async with telegram_bot(settings, assistant) as (api, _):
        api.sticker(api.user(ANA))
        await api.wait_for_text(ANA, PHOTOS_ONLY)
    assert not assistant.messages


async def test_users_run_at_once_and_each_in_order(settings) -> None:
    ben_answered = asyncio.Event()

    async def respond(message: Message, channel: Channel) -> None:
        if message.text == "first":
            await asyncio.wait_for(ben_answered.wait(), 5)  # Ana's first message is slow
        await channel.send(Reply(f"done {message.text}"))
        if message.user_id == str(BEN):
            ben_answered.set()

    async with telegram_bot(settings, RecordingAssistant(respond)) as (api, _):
        ana, ben = api.user(ANA), api.user(BEN)
        api.text(ana, "first")
        api.text(ana, "second")
        api.text(ben, "hello")
        await api.wait_for(lambda: len(api.texts(ANA)) == 2, timeout=5)
    assert api.texts(ANA) == ["done first", "done second"], "one person's messages keep their order"
    assert api.texts(BEN) == ["done hello"], "and nobody waits for a stranger's"


async def test_an_album_still_gathering_at_shutdown_is_delivered(settings) -> None:
    assistant = RecordingAssistant()
    async with telegram_bot(settings, assistant, album_wait=30) as (api, _):
        api.album(api.user(ANA), [photo(seed=1), photo(seed=2)], "/teach Bo")
        await api.wait_for(lambda: len(api.calls_of("getUpdates")) >= 2 and not api._updates)
        await asyncio.sleep(0.1)
    assert [(m.text, len(m.photos)) for m in assistant.messages] == [("/teach Bo", 2)]
