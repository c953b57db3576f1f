"""The Discord adapter against the fake Discord, with a scripted stand-in for the assistant:
what arrives as a Message, and how Replies come out on Discord."""

from __future__ import annotations

import asyncio
import io
import random
from typing import Any

import discord
import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route
from PIL import Image

from bot.assistant.intents import Kind
from bot.assistant.messages import Button, Channel, Message, Reply
from bot.discord import outbound
from bot.discord.app import DiscordNotStarted, run_discord
from bot.discord.buttons import make_view
from bot.discord.client import intents_for
from bot.discord.endpoints import point_at, rest_base
from bot.discord.inbound import MAX_ATTACHMENT_BYTES
from bot.discord.outbound import EditGate, fit_images, split_text
from tests.fakes.discord_harness import ScriptedAssistant, connected
from bot.settings import Settings
from tests.fakes.discord_server import DIRECT_MESSAGES, GUILD_MESSAGES, MESSAGE_CONTENT, TOKEN, FakeDiscord
from tests.fakes.photos import photo


def noise_png(side: int) -> bytes:
    rng = random.Random(side)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3)).save(out, format="PNG")
    return out.getvalue()


# ---- connecting ---------------------------------------------------------------------------------------

async def test_connects_without_the_privileged_intent_and_registers_slash_commands() -> None:
    assistant = ScriptedAssistant()
    async with connected(assistant) as (server, client):
        assert server.intents & GUILD_MESSAGES and server.intents & DIRECT_MESSAGES
        assert not server.intents & MESSAGE_CONTENT
        names = {c["name"] for c in server.commands}
        assert {"teach", "ask", "draw", "concepts", "forget", "share"} <= names
        teach = next(c for c in server.commands if c["name"] == "teach")
        assert [o["type"] for o in teach["options"]] == [3] + [11] * 10  # name, then 10 photo attachments
        assert client.get_guild(server.guild_id) is not None
        assert "discord" in assistant.notifiers
        assert server.heartbeats >= 1
        assert not server.unknown
    # the REST base and gateway go back to Discord's when the client closes
    assert Route.BASE == "https://discord.com/api/v10"
    assert str(DiscordWebSocket.DEFAULT_GATEWAY) == "wss://gateway.discord.gg/"


async def test_message_content_intent_when_configured() -> None:
    async with connected(ScriptedAssistant(), message_content=True) as (server, _):
        assert server.intents & MESSAGE_CONTENT
    assert intents_for(False).message_content is False


async def test_gateway_url_comes_from_the_api_when_not_set() -> None:
    async with connected(ScriptedAssistant(), gateway_from_api=True) as (server, _):
        assert server.identify is not None  # it found the fake's websocket through GET /gateway/bot


@pytest.mark.parametrize("problem", ["bad token", "intent not allowed"])
async def test_run_discord_says_why_it_cannot_start(problem: str) -> None:
    server = await FakeDiscord().start()
    server.message_content_allowed = False
    try:
        settings = Settings(_env_file=None, discord_api_url=server.api_url,  # type: ignore[call-arg]
                            discord_bot_token="wrong" if problem == "bad token" else TOKEN,
                            discord_message_content=problem == "intent not allowed")
        # (no wait_for: a SystemExit must not cross a task boundary)
        with pytest.raises(DiscordNotStarted) as stopped:
            async with asyncio.timeout(10):
                await run_discord(settings, ScriptedAssistant())
        assert ("DISCORD_BOT_TOKEN" if problem == "bad token" else "developer portal") in str(stopped.value)
    finally:
        await server.stop()


def test_rest_base_and_override() -> None:
    assert rest_base("http://127.0.0.1:9/api") == "http://127.0.0.1:9/api/v10"
    assert rest_base("http://127.0.0.1:9/api/v10/") == "http://127.0.0.1:9/api/v10"
    restore = point_at("http://127.0.0.1:9/api", "ws://127.0.0.1:9/gw")
    try:
        assert Route("GET", "/users/@me").url == "http://127.0.0.1:9/api/v10/users/@me"
        assert str(DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:9/gw"
    finally:
        restore()
    assert Route("GET", "/users/@me").url == "https://discord.com/api/v10/users/@me"


# ---- messages in ----------------------------------------------------------------------------------------

async def test_mention_with_photos_becomes_an_addressed_server_message() -> None:
    assistant = ScriptedAssistant()
    async with connected(assistant) as (server, _):
        alice = server.user("alice")
        pictures = [photo(seed=n) for n in range(3)]
        sent = await server.say(alice, "this is Bo", mention=True,
                                attachments=[server.attachment(p, f"bo{n}.jpg") for n, p in enumerate(pictures)])
        reply = await server.wait_for_text("got 'this is Bo' with 3 photo(s)", server.general)
        message = assistant.messages[0]
        assert message.platform == "discord" and message.user_id == str(alice.id)
        assert message.chat_id == str(server.guild_id)  # the server, not the channel: shares span channels
        assert message.is_group and message.addressed and message.chat_title == server.guild_name
        assert [p.data for p in message.photos] == pictures
        assert message.user_name == "alice"
        assert reply.reference_id == int(sent["id"])  # answered as a Discord reply to the asker


async def test_mention_in_the_middle_and_other_mentions_are_readable() -> None:
    assistant = ScriptedAssistant()
    async with connected(assistant) as (server, _):
        alice, bob = server.user("alice"), server.user("bob")
        data = await server.say(alice, f"what should <@{bob.id}> get Bo for his birthday?", mention=True)
        assert data["content"].startswith(f"<@{server.bot.id}>")
        await server.wait_for(lambda: assistant.messages)
        assert assistant.messages[0].text == "what should @bob get Bo for his birthday?"


async def test_a_bare_mention_asks_for_help() -> None:
    assistant = ScriptedAssistant()
    async with connected(assistant) as (server, _):
        await server.say(server.user("alice"), "", mention=True)
        await server.wait_for(lambda: assistant.messages)
        assert assistant.messages[0].text == "/help"


async def test_not_mentioned_server_message_is_ignored_and_nothing_downloaded() -> None:
    assistant = ScriptedAssistant()
    async with connected(assistant) as (server, _):
        alice = server.user("alice")
        await server.say(alice, "this is Bo", attachments=[server.attachment(photo())])
        await server.say(alice, "ping", mention=True)  # a later addressed message, to know the first was seen
        await server.wait_for(lambda: assistant.messages)
        assert [m.text for m in assistant.messages] == ["ping"]
        assert server.downloads == []


async def test_not_mentioned_server_message_is_ignored_even_with_content_intent() -> None:
    assistant = ScriptedAssistant()
    async with connected(assistant, message_content=True) as (server, _):
        alice = server.user("alice")
        await server.say(alice, "is Bo in this?", attachments=[server.attachment(photo())])
        await server.say(alice, "ping", mention=True)
        await server.wait_for(lambda: assistant.messages)
        assert [m.text for m in assistant.messages] == ["ping"]


async def test_reply_to_the_bot_counts_as_a_mention() -> None:
    assistant = ScriptedAssistant()
    async with connected(assistant) as (server, _):
        alice = server.user("alice")
        await server.say(alice, "draw Bo on a beach", mention=True)
        first = await server.wait_for_text("draw Bo on a beach", server.general)
        await server.say(alice, "and in the snow?", reply_to=first)  # a reply pings its author by default
        await server.wait_for_text("and in the snow?", server.general)
        assert [m.text for m in assistant.messages] == ["draw Bo on a beach", "and in the snow?"]
        assert all(m.addressed for m in assistant.messages)


async def test_mention_of_the_bots_own_role_counts() -> None:
    # Discord's mention picker often offers the bot's integration role; the fake only shows the
    # text of such a message with the content intent, the strict reading of Discord's rule.
    assistant = ScriptedAssistant()
    async with connected(assistant, message_content=True) as (server, _):
        alice = server.user("alice")
        await server.say(alice, "draw Bo on a beach", role_mention=True)
        await server.wait_for_text("draw Bo on a beach", server.general)
        assert assistant.messages[0].text == "draw Bo on a beach"


async def test_reply_without_ping_needs_the_content_intent() -> None:
    assistant = ScriptedAssistant()
    async with connected(assistant, message_content=True) as (server, _):
        alice = server.user("alice")
        await server.say(alice, "hello", mention=True)
        first = await server.wait_for_text("hello", server.general)
        await server.say(alice, "and Bo?", reply_to=first, ping_reply=False)
        await server.wait_for(lambda: len(assistant.messages) == 2)
        assert assistant.messages[1].text == "and Bo?"


async def test_question_replying_to_a_photo_carries_that_photo() -> None:
    assistant = ScriptedAssistant()
    async with connected(assistant) as (server, _):
        alice, bob = server.user("alice"), server.user("bob")
        picture = photo(seed=9)
        posted = await server.say(bob, "look!", attachments=[server.attachment(picture)])
        await server.say(alice, "is Bo in this?", mention=True, reply_to=posted, ping_reply=False)
        await server.wait_for_text("1 replied", server.general)
        message = assistant.messages[0]
        assert message.text == "is Bo in this?" and message.photos == ()
        assert [p.data for p in message.reply_photos] == [picture]


async def test_dm_needs_no_mention() -> None:
    assistant = ScriptedAssistant()
    async with connected(assistant) as (server, _):
        alice = server.user("alice")
        dm = server.dm(alice)
        await server.say(alice, "this is Bo", channel=dm, attachments=[server.attachment(photo())])
        await server.wait_for_text("got 'this is Bo' with 1 photo(s)", dm)
        message = assistant.messages[0]
        assert message.chat_id == str(dm) and not message.is_group and message.addressed


async def test_non_image_attachment_gets_a_clear_reply_and_is_not_passed_on() -> None:
    assistant = ScriptedAssistant()
    async with connected(assistant) as (server, _):
        alice = server.user("alice")
        dm = server.dm(alice)
        await server.say(alice, "this is Bo", channel=dm,
                         attachments=[server.attachment(b"%PDF-1.4 ...", "bo.pdf", "application/pdf")])
        reply = await server.wait_for_text("isn't a photo", dm)
        assert "bo.pdf" in reply.text
        await asyncio.sleep(0.05)
        assert assistant.messages == [] and server.downloads == []


async def test_oversize_attachment_is_refused_before_download() -> None:
    assistant = ScriptedAssistant()
    async with connected(assistant) as (server, _):
        alice = server.user("alice")
        dm = server.dm(alice)
        good = server.attachment(photo(), "bo.jpg")
        huge = server.attachment(photo(seed=2), "huge.png", "image/png", size=MAX_ATTACHMENT_BYTES + 1)
        await server.say(alice, "this is Bo", channel=dm, attachments=[good, huge])
        problem = await server.wait_for_text("too large", dm)
        assert "huge.png" in problem.text
        await server.wait_for_text("with 1 photo(s)", dm)  # the good one still goes on
        assert server.downloads == [int(good["id"])]


# ---- replies out ------------------------------------------------------------------------------------------

async def test_long_answers_are_split_and_nobody_is_pinged() -> None:
    long = ("word " * 900).strip()

    async def script(message: Message, channel: Channel) -> None:
        await channel.send(Reply("@everyone " + long))

    async with connected(ScriptedAssistant(script)) as (server, _):
        alice = server.user("alice")
        await server.say(alice, "talk", channel=server.dm(alice))
        await server.wait_for(lambda: len(server.messages()) == 3)
        assert all(len(t) <= 2000 for t in server.texts())
        assert " ".join(server.texts()).split() == ("@everyone " + long).split()


async def test_typing_shows_while_the_assistant_works() -> None:
    async def script(message: Message, channel: Channel) -> None:
        await channel.show_activity("typing")
        await asyncio.sleep(0.05)
        await channel.send(Reply("done"))

    async with connected(ScriptedAssistant(script)) as (server, _):
        alice = server.user("alice")
        await server.say(alice, "slow question", mention=True)
        await server.wait_for_text("done", server.general)
        assert server.typing == [server.general]


async def test_progress_edits_one_message_at_most_once_a_second() -> None:
    async def script(message: Message, channel: Channel) -> None:
        sent = await channel.send(Reply("Learning Bo: 0%"))
        await asyncio.gather(*(sent.edit(Reply(f"Learning Bo: {step * 20}%")) for step in range(1, 6)))

    async with connected(ScriptedAssistant(script)) as (server, client):
        client.gate = EditGate(interval=0.3)  # the same rule, faster for a test
        alice = server.user("alice")
        await server.say(alice, "teach", channel=server.dm(alice))
        progress = await server.wait_for_text("100%", timeout=5)
        assert len(server.messages()) == 1
        assert len(progress.edits) <= 2  # the burst collapsed: at most the first and the latest


async def test_edit_gate_spaces_edits_per_channel() -> None:
    clock = [0.0]
    gate = EditGate(interval=1.0, clock=lambda: clock[0])
    await gate.wait_turn(1)
    await gate.wait_turn(2)  # another channel: no wait
    start = asyncio.get_running_loop().time()
    clock[0] = 0.9
    await gate.wait_turn(1)  # 0.1 s left of this channel's second
    assert asyncio.get_running_loop().time() - start >= 0.09


async def test_buttons_and_presses() -> None:
    async def script(message: Message, channel: Channel) -> None:
        await channel.send(Reply("Yes, Bo is in this photo (91% sure).",
                                 buttons=[[Button("✅ Right", "fb:p:7:abc"), Button("❌ Wrong", "fb:n:7:abc")]]))

    assistant = ScriptedAssistant(script)
    async with connected(assistant) as (server, _):
        alice = server.user("alice")
        await server.say(alice, "is Bo in this?", mention=True, attachments=[server.attachment(photo())])
        answer = await server.wait_for_text("Bo is in this photo", server.general)
        assert [b["label"] for b in answer.buttons] == ["✅ Right", "❌ Wrong"]
        assert [b["style"] for b in answer.buttons] == [3, 4]
        interaction = await server.click(alice, answer, answer.button("Right"))
        await server.wait_for_text("pressed fb:p:7:abc", interaction=interaction)
        press, _ = assistant.presses[0]
        assert press.user_id == str(alice.id) and press.chat_id == str(server.guild_id) and press.is_group
        assert server.callbacks == [(interaction.id, 6)]  # acknowledged at once, answered as a follow-up


async def test_a_button_from_before_a_restart_still_works() -> None:
    assistant = ScriptedAssistant()
    server = FakeDiscord()
    async with connected(assistant, server=server) as (server, _):
        alice = server.user("alice")
        await server.say(alice, "hello", mention=True)
        old = await server.wait_for_text("hello", server.general)
    # a message with a button this process never sent (the bot restarted since)
    old.components = [{"type": 1, "components": [{"type": 2, "style": 2, "label": "Keep", "custom_id": "yo:keep"}]}]
    async with connected(assistant, server=FakeDiscord()) as (fresh, _):
        fresh.channels[old.channel_id] = server.channels[old.channel_id]
        fresh.posted.append(old)
        bob = fresh.user("bob")
        interaction = await fresh.click(bob, old, "yo:keep")
        await fresh.wait_for_text("pressed keep", interaction=interaction)


# ---- slash commands --------------------------------------------------------------------------------------

async def test_slash_command_defers_then_follows_up() -> None:
    assistant = ScriptedAssistant()
    async with connected(assistant) as (server, _):
        alice = server.user("alice")
        dm = server.dm(alice)
        pictures = [photo(seed=n) for n in range(2)]
        interaction = await server.slash(alice, "teach", channel=dm, name="Bo",
                                         photo1=server.attachment(pictures[0]), photo2=server.attachment(pictures[1]))
        answer = await server.wait_for_text("with 2 photo(s)", interaction=interaction)
        assert answer.via == "followup"
        assert server.callbacks[0] == (interaction.id, 5)  # deferred with "thinking…"
        message, intent = assistant.messages[0], assistant.intents[0]
        assert intent is not None and (intent.kind, intent.values) == (Kind.TEACH, {"name": "Bo"})
        assert message.text == "" and [p.data for p in message.photos] == pictures  # typed: nothing to parse
        assert message.chat_id == str(dm) and not message.is_group


async def test_slash_commands_hand_over_typed_intents() -> None:
    assistant = ScriptedAssistant()
    async with connected(assistant) as (server, _):
        alice = server.user("alice")
        cases: list[tuple[str, dict[str, Any], Kind, dict[str, Any], str]] = [
            ("draw", {"text": "Bo on a beach", "count": 3, "seed": 7}, Kind.DRAW,
             {"text": "Bo on a beach", "count": 3, "seed": 7}, "Bo on a beach"),
            ("concepts", {}, Kind.CONCEPTS, {}, ""), ("forget", {"name": "Bo"}, Kind.FORGET, {"name": "Bo"}, "Bo"),
            ("share", {"name": "Bo"}, Kind.SHARE, {"name": "Bo"}, "Bo"),
            ("rename", {"name": "Bo", "new": "Bobby"}, Kind.RENAME, {"name": "Bo", "new": "Bobby"}, "Bo Bobby")]
        for number, (name, options, kind, values, argument) in enumerate(cases):
            interaction = await server.slash(alice, name, **options)
            await server.wait_for(lambda: len(assistant.messages) > number)
            intent = assistant.intents[number]
            assert intent is not None and (intent.kind, intent.values, intent.argument) == (kind, values, argument)
            await server.wait_for_text("got ''", interaction=interaction)
        # /ask is a message as if typed: the assistant reads its words ("is Bo in this?" asks about a photo)
        interaction = await server.slash(alice, "ask", text="what should I get Bo?")
        await server.wait_for_text("got 'what should I get Bo?'", interaction=interaction)
        assert assistant.intents[-1] is None
        assert all(m.chat_id == str(server.guild_id) and m.is_group for m in assistant.messages)


async def test_private_commands_answer_only_the_asker_in_a_server() -> None:
    assistant = ScriptedAssistant()
    async with connected(assistant) as (server, _):
        alice = server.user("alice")
        private = await server.slash(alice, "concepts")
        answer = await server.wait_for_text("got", interaction=private)
        assert answer.ephemeral and server.callbacks[-1] == (private.id, 5)
        public = await server.slash(alice, "draw", text="Bo")
        assert not (await server.wait_for_text("got", interaction=public)).ephemeral
        in_dm = await server.slash(alice, "concepts", channel=server.dm(alice))
        assert not (await server.wait_for_text("got", interaction=in_dm)).ephemeral  # a DM is private already


async def test_slash_command_with_no_answer_clears_thinking() -> None:
    async def script(message: Message, channel: Channel) -> None:
        return None

    async with connected(ScriptedAssistant(script)) as (server, _):
        alice = server.user("alice")
        interaction = await server.slash(alice, "concepts")
        await server.wait_for(lambda: server.cleared == [interaction.id])
        assert server.messages(interaction=interaction) == [] and not server.unknown


async def test_after_the_interaction_token_expires_the_channel_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbound, "INTERACTION_FRESH_SECONDS", 0.2)

    async def script(message: Message, channel: Channel) -> None:
        sent = await channel.send(Reply("Learning Bo: waiting"))
        await asyncio.sleep(0.3)  # "15 minutes" later
        await sent.edit(Reply("Learning Bo: done"))
        await channel.send(Reply("Bo is ready!"))

    async with connected(ScriptedAssistant(script)) as (server, _):
        alice = server.user("alice")
        dm = server.dm(alice)
        interaction = await server.slash(alice, "done", channel=dm)
        ready = await server.wait_for_text("Bo is ready!", dm)
        progress = server.messages(dm)[0]
        assert progress.via == "followup" and progress.text == "Learning Bo: done"
        assert ready.via == "channel" and ready.interaction_id is None
        assert interaction.id not in server.cleared


async def test_reply_images_fit_the_upload_limit() -> None:
    big = noise_png(300)

    async def script(message: Message, channel: Channel) -> None:
        await channel.send(Reply("Here you go", images=[big]))

    async with connected(ScriptedAssistant(script)) as (server, _):
        server.interaction_upload_limit = 40_000
        assert len(big) > 200_000
        alice = server.user("alice")
        interaction = await server.slash(alice, "draw", text="Bo")
        answer = await server.wait_for_text("Here you go", interaction=interaction)
        assert len(answer.files) == 1 and len(answer.files[0].data) <= 40_000
        assert Image.open(io.BytesIO(answer.files[0].data)).format == "JPEG"


async def test_view_limits_and_link() -> None:
    rows = [[Button(f"b{r}{c}", f"d{r}{c}") for c in range(7)] for r in range(7)]
    view = make_view(rows, link=None)
    assert view is not None
    components = view.to_components()
    assert len(components) == 5 and all(len(row["components"]) == 5 for row in components)
    assert components[0]["components"][0]["custom_id"] == "yo:d00"
    linked = make_view([[Button("Keep", "keep")]], link="https://example.org/x")
    assert linked is not None
    assert linked.to_components()[1]["components"][0]["url"] == "https://example.org/x"
    assert make_view([], None) is None


def test_fit_images_and_split_text() -> None:
    small = photo()
    assert fit_images([small], 10_000_000) == ([small], False)
    kept, dropped = fit_images([noise_png(200)] * 3, 30_000)
    assert not dropped and sum(len(k) for k in kept) <= 30_000
    assert fit_images([b"not an image" * 100], 100) == ([], True)
    assert split_text("a" * 4500) == ["a" * 2000, "a" * 2000, "a" * 500]
    assert split_text("short") == ["short"]


async def test_notifier_opens_dms_and_server_channels() -> None:
    assistant = ScriptedAssistant()
    async with connected(assistant) as (server, _):
        alice = server.user("alice")
        dm = server.dm(alice)
        open_channel = assistant.notifiers["discord"]
        await (await open_channel(str(dm))).send(Reply("Bo is ready!"))
        await server.wait_for_text("Bo is ready!", dm)
        await (await open_channel(str(server.guild_id))).send(Reply("hello server"))
        await server.wait_for_text("hello server", server.general)  # the system channel


async def test_a_failing_assistant_leaves_a_friendly_line() -> None:
    async def script(message: Message, channel: Channel) -> None:
        raise RuntimeError("boom")

    async with connected(ScriptedAssistant(script)) as (server, _):
        alice = server.user("alice")
        await server.say(alice, "hi", mention=True)
        answer = await server.wait_for_text("something went wrong", server.general)
        assert "boom" not in answer.text


@pytest.mark.parametrize("content", [True, False])
def test_intents(content: bool) -> None:
    intents = intents_for(content)
    assert intents.guilds and intents.guild_messages and intents.dm_messages
    assert intents.message_content is content
    assert not intents.members and not intents.presences  # nothing else privileged
    assert isinstance(intents, discord.Intents)
