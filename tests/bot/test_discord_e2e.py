"""Yo on Discord end to end: the real assistant (with the colour-matching stand-in model)
behind the real server.py client, talking to the fake Discord."""

from __future__ import annotations

import io
from pathlib import Path
from typing import AsyncIterator

import pytest
from PIL import Image

from bot.assistant import Assistant
from bot.settings import Settings
from tests.bot.running import running
from tests.fakes.discord_harness import connected
from tests.fakes.discord_server import FakeDiscord, FakeUser
from tests.fakes.models import FakeDrawingService
from tests.fakes.photos import photo

BO = (200, 120, 40)  # Bo is orange
SKY = (40, 90, 220)


@pytest.fixture
async def yo(settings: Settings) -> AsyncIterator[Assistant]:
    async with running(settings, FakeDrawingService()) as assistant:
        yield assistant


@pytest.fixture
async def server(yo: Assistant) -> AsyncIterator[FakeDiscord]:
    async with connected(yo, edit_interval=0.05) as (server, _):
        yield server


async def concepts_of(assistant: Assistant, user: FakeUser) -> list[str]:
    record = await assistant.store.get_or_create_user("discord", str(user.id))
    return [c.display_name for c in await assistant.store.list_concepts(record.id)]


async def teach_bo_in_dm(server: FakeDiscord, alice: FakeUser) -> None:
    dm = server.dm(alice)
    pictures = [server.attachment(photo(BO, seed=n), f"bo{n}.jpg") for n in range(3)]
    await server.say(alice, "this is Bo", channel=dm, attachments=pictures)
    await server.wait_for_text("Bo is ready!", dm, timeout=10)


async def test_teach_in_a_dm_with_photos_then_recognise_and_correct(server: FakeDiscord, yo: Assistant) -> None:
    alice = server.user("alice")
    dm = server.dm(alice)
    await teach_bo_in_dm(server, alice)
    texts = server.texts(dm)
    assert any("Got 3 photos of Bo" in t for t in texts)
    assert any(t.startswith("Learning Bo") for t in texts)  # the progress message, edited in place
    ready = await server.wait_for_text("Bo is ready!", dm)
    assert len(ready.files) == 1 and Image.open(io.BytesIO(ready.files[0].data)).size[0] > 0  # the collage
    assert await concepts_of(yo, alice) == ["Bo"]

    await server.say(alice, "is Bo in this?", channel=dm, attachments=[server.attachment(photo(BO, seed=7))])
    answer = await server.wait_for_text("Yes, Bo is in this photo", dm)
    assert dm in server.typing
    press = await server.click(alice, answer, answer.button("Right"))
    await server.wait_for_text("I'll remember this is Bo", interaction=press)


async def test_teaching_by_mention_in_a_server_teaches_there(server: FakeDiscord, yo: Assistant) -> None:
    alice, bob = server.user("alice"), server.user("bob")
    await server.say(alice, "this is Bo", mention=True,
                     attachments=[server.attachment(photo(BO, seed=n)) for n in range(3)])
    ready = await server.wait_for_text("Bo is ready!", server.general, timeout=10)
    await server.wait_for(lambda: any(m.edits and m.text == "Learning Bo: done ✅"
                                      for m in server.messages(server.general)))  # progress edited there
    assert await concepts_of(yo, alice) == ["Bo"]
    await server.say(bob, "is Bo in this?", mention=True, attachments=[server.attachment(photo(BO, seed=20))])
    await server.wait_for_text("couldn't tell whom you mean", server.general)
    press = await server.click(alice, ready, ready.button("Share Bo here"))
    await server.wait_for_text("Everyone here can now ask me about Bo", interaction=press)
    await server.say(bob, "is Bo in this?", mention=True, attachments=[server.attachment(photo(BO, seed=21))])
    await server.wait_for_text("Yes, Bo is in this photo", server.general)


async def test_teach_in_a_server_without_photos_says_how_both_ways(server: FakeDiscord, yo: Assistant) -> None:
    alice = server.user("alice")
    await server.say(alice, "/teach Bo", mention=True)
    offer = await server.wait_for_text("photos of Bo here", server.general)
    assert "message me directly instead and say /teach Bo" in offer.text
    dm = server.dm(alice)
    await server.say(alice, "/teach Bo", channel=dm)
    await server.wait_for_text("Back to Bo", dm)
    await server.say(alice, "", channel=dm, attachments=[server.attachment(photo(BO, seed=n)) for n in range(3)])
    await server.say(alice, "/done", channel=dm)
    await server.wait_for_text("Bo is ready!", dm, timeout=10)


async def test_slash_teach_with_photos_defers_and_follows_up_with_the_collage(server: FakeDiscord, yo: Assistant) -> None:
    alice = server.user("alice")
    dm = server.dm(alice)
    interaction = await server.slash(alice, "teach", channel=dm, name="Bo",
                                      **{f"photo{n}": server.attachment(photo(BO, seed=n)) for n in range(1, 4)})
    ready = await server.wait_for_text("Bo is ready!", interaction=interaction, timeout=10)
    assert server.callbacks[0] == (interaction.id, 5)  # deferred at once
    assert ready.via == "followup" and len(ready.files) == 1
    assert await concepts_of(yo, alice) == ["Bo"]


async def test_slash_draw_answers_with_a_picture(server: FakeDiscord) -> None:
    alice = server.user("alice")
    await teach_bo_in_dm(server, alice)
    interaction = await server.slash(alice, "draw", channel=server.dm(alice), text="Bo on a beach")
    drawing = await server.wait_for_text("Here you go: Bo on a beach", interaction=interaction)
    assert len(drawing.files) == 1
    pixel = Image.open(io.BytesIO(drawing.files[0].data)).getpixel((5, 5))
    assert isinstance(pixel, tuple) and pixel[0] > 150 > pixel[2]  # the stand-in draws in Bo's orange


async def test_slash_options_reach_the_handlers_typed(server: FakeDiscord, yo: Assistant) -> None:
    """Options that words would blur: a name with a space, a subject that starts with a number,
    a count and a seed (which typed as words would read "3 3 dogs … seed 7")."""
    alice = server.user("alice")
    dm = server.dm(alice)
    await server.say(alice, "this is Big Bo", channel=dm,
                     attachments=[server.attachment(photo(BO, seed=n), f"bo{n}.jpg") for n in range(3)])
    await server.wait_for_text("Big Bo is ready!", dm, timeout=10)
    described = await server.slash(alice, "describe", channel=dm, name="Big Bo", text="a tall orange dog")
    await server.wait_for_text("Thanks, noted: Big Bo is a tall orange dog", interaction=described)
    renamed = await server.slash(alice, "rename", channel=dm, name="Big Bo", new="Bobby Two")
    await server.wait_for_text("Big Bo is now called Bobby Two.", interaction=renamed)
    drawn = await server.slash(alice, "draw", channel=dm, text="2 Bobby Two on a beach", count=3, seed=7)
    drawing = await server.wait_for_text("Here you go: 2 Bobby Two on a beach", interaction=drawn)
    assert len(drawing.files) == 3
    drawer = yo.services.models
    assert [args[2:] for name, args in drawer.calls if name == "draw"] == [(3, 7)]  # type: ignore[attr-defined]


async def test_slash_ask_about_a_photo(server: FakeDiscord) -> None:
    alice = server.user("alice")
    await teach_bo_in_dm(server, alice)
    interaction = await server.slash(alice, "ask", text="is Bo in this?", photo=server.attachment(photo(SKY)))
    answer = await server.wait_for_text("I don't think Bo is in this photo", interaction=interaction)
    assert [b["label"] for b in answer.buttons] == ["✅ Right", "❌ Wrong"]


async def test_draw_and_ask_by_mention(server: FakeDiscord, yo: Assistant) -> None:
    alice = server.user("alice")
    await teach_bo_in_dm(server, alice)
    await server.say(alice, "draw Bo on a beach", mention=True)
    drawing = await server.wait_for_text("Here you go", server.general)
    assert len(drawing.files) == 1
    await server.say(alice, "what should I get Bo for his birthday?", mention=True)
    await server.wait_for_text("(fake answer to: what should I get Bo for his birthday?)", server.general)


async def test_forget_asks_first_and_the_button_confirms(server: FakeDiscord, yo: Assistant) -> None:
    alice = server.user("alice")
    dm = server.dm(alice)
    await teach_bo_in_dm(server, alice)
    interaction = await server.slash(alice, "forget", channel=dm, name="Bo")
    question = await server.wait_for_text("Forget Bo?", interaction=interaction)
    assert await concepts_of(yo, alice) == ["Bo"]  # nothing gone before the press
    press = await server.click(alice, question, question.button("Forget Bo"))
    await server.wait_for_text("Forgot Bo", interaction=press)
    assert await concepts_of(yo, alice) == []


async def test_members_only_use_their_own_and_shared_concepts(server: FakeDiscord, yo: Assistant) -> None:
    alice, bob = server.user("alice"), server.user("bob")
    await teach_bo_in_dm(server, alice)
    orange = server.attachment(photo(BO, seed=11))

    await server.say(bob, "is Bo in this?", mention=True, attachments=[orange])
    refused = await server.wait_for_text("couldn't tell whom you mean", server.general)
    assert "Bo" not in refused.text.replace("whom", "")  # nothing of alice's Bo leaks to bob
    # bob can't forget or share alice's concept either
    await server.say(bob, "/forget Bo", mention=True)
    await server.wait_for_text("no concept called", server.general)

    share = await server.slash(alice, "share", name="Bo")
    await server.wait_for_text("Everyone here can now ask me about Bo", interaction=share)

    # shared into the server: every channel of it, not only the one it was shared in
    await server.say(bob, "is Bo in this?", mention=True, channel=server.random,
                      attachments=[server.attachment(photo(BO, seed=12))])
    await server.wait_for_text("Yes, Bo is in this photo", server.random)
    # ... but bob still can't correct alice's concept
    answer = await server.wait_for_text("Yes, Bo is in this photo", server.random)
    press = await server.click(bob, answer, answer.button("Right"))
    await server.wait_for_text("Only the owner", interaction=press)
    # and in a DM with the bot, bob doesn't see it
    bob_dm = server.dm(bob)
    await server.say(bob, "is Bo in this?", channel=bob_dm, attachments=[server.attachment(photo(BO, seed=13))])
    await server.wait_for_text("couldn't tell whom you mean", bob_dm)


@pytest.mark.parametrize("bad", ["zero-byte", "text as image", "oversize", "pdf"])
async def test_bad_attachments_get_a_clear_reply_and_leave_nothing(server: FakeDiscord, yo: Assistant,
                                                                     bad: str) -> None:
    alice = server.user("alice")
    dm = server.dm(alice)
    attachment = {
        "zero-byte": lambda: server.attachment(b"", "bo.jpg"),
        "text as image": lambda: server.attachment(b"these are not the pixels\n" * 40, "bo.jpg"),
        "oversize": lambda: server.attachment(photo(BO), "bo.jpg", size=30 * 1024 * 1024),
        "pdf": lambda: server.attachment(b"%PDF-1.4\n%%EOF\n", "bo.pdf", "application/pdf"),
    }[bad]()
    await server.say(alice, "this is Bo", channel=dm, attachments=[attachment])
    await server.wait_for(lambda: server.texts(dm))
    reply = server.texts(dm)[0]
    assert reply and "Traceback" not in reply and "went wrong" not in reply
    assert await concepts_of(yo, alice) == []
    assert not list((Path(yo.services.settings.yo_data_dir)).rglob("*.jpg"))
    if bad in ("oversize", "pdf"):
        assert server.downloads == []


async def test_one_users_messages_are_answered_in_the_order_sent(server: FakeDiscord, yo: Assistant) -> None:
    """ "/teach Bo", three photos and "done", sent without waiting: the photos (whose downloads take
    a round trip each) are counted before "done" is, and another user is not held up meanwhile."""
    alice, bob = server.user("alice"), server.user("bob")
    dm, bob_dm = server.dm(alice), server.dm(bob)
    await server.say(alice, "/teach Bo", channel=dm)
    for n in range(3):
        await server.say(alice, channel=dm, attachments=[server.attachment(photo(BO, seed=n), f"bo{n}.jpg")])
    await server.say(alice, "done", channel=dm)
    await server.say(bob, "/concepts", channel=bob_dm)
    await server.wait_for_text("Bo is ready!", dm, timeout=10)
    texts = server.texts(dm)
    counted = [n for n, text in enumerate(texts) if text.startswith("Got 1 photo of Bo")]
    learning = next(n for n, text in enumerate(texts) if text.startswith("Learning Bo"))
    assert len(counted) == 3 and max(counted) < learning, texts
    assert not any("I have 0" in text for text in texts), texts
    assert server.texts(bob_dm)


async def test_concept_options_offer_the_askers_own_names_as_they_type(server: FakeDiscord, yo: Assistant) -> None:
    alice, bob = server.user("alice"), server.user("bob")
    await teach_bo_in_dm(server, alice)
    dm = server.dm(alice)
    await server.say(alice, "this is Boris", channel=dm,
                     attachments=[server.attachment(photo(SKY, seed=n), f"boris{n}.jpg") for n in range(3)])
    await server.wait_for_text("Boris is ready!", dm, timeout=10)
    assert await server.typing_option(alice, "forget", "name", "") == ["Bo", "Boris"]
    assert await server.typing_option(alice, "rename", "name", "ri") == ["Boris"]
    assert await server.typing_option(bob, "share", "name", "b") == [], "nobody else's names"
    carol = server.user("carol")
    assert await server.typing_option(carol, "forget", "name", "") == []
    assert await yo.store.find_user("discord", str(carol.id)) is None, "nothing stored for a stranger"
