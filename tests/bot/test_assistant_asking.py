"""Asking, recognising, corrections, facts, the collection, and isolation between users."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot import verbs
from bot.assistant.asking import together
from serving.protocol import Recognition

from tests.bot.conftest import Person, wait_for
from tests.bot.running import running
from tests.fakes.models import FakeModelService
from tests.fakes.photos import BAD_NAMES, bad_inputs, photo

ORANGE, BLUE, GREEN = (220, 120, 30), (20, 20, 220), (20, 200, 40)


async def taught(person, user="ana", name="Bo", colour=ORANGE):
    someone = person(user)
    await someone.says(f"/teach {name}", *[photo(colour, seed=i) for i in range(3)])
    await wait_for(lambda: any(f"{name} is ready!" in t for t in someone.channel.texts))
    return someone


async def test_recognise_with_a_photo_and_correct_it(assistant, person) -> None:
    ana = await taught(person)
    channel = await ana.says("is Bo in this?", photo(ORANGE, seed=42))
    assert channel.last.text.startswith("Yes, Bo is in this photo")
    await ana.presses(channel.button("Wrong"))
    assert "this isn't Bo" in channel.last.text
    user = await assistant.store.get_or_create_user("test", "ana")
    [concept] = await assistant.store.list_concepts(user.id)
    negatives = await assistant.store.list_photos(concept.id, "negative")
    assert len(negatives) == 1 and negatives[0].source == "correction"


async def test_that_is_not_bo_keeps_a_negative(assistant, person) -> None:
    ana = await taught(person)
    channel = await ana.says("that's not Bo", photo(GREEN, seed=1))
    assert "that's not Bo" in channel.last.text
    user = await assistant.store.get_or_create_user("test", "ana")
    [concept] = await assistant.store.list_concepts(user.id)
    assert len(await assistant.store.list_photos(concept.id, "negative")) == 1


async def test_who_is_in_this_names_every_concept_present(assistant, person) -> None:
    ana = await taught(person)
    await ana.says("/teach Mắm", *[photo(ORANGE, seed=10 + i) for i in range(3)])
    await wait_for(lambda: any("Mắm is ready!" in t for t in ana.channel.texts))
    await ana.says("/teach Kiwi", *[photo(GREEN, seed=20 + i) for i in range(3)])
    await wait_for(lambda: any("Kiwi is ready!" in t for t in ana.channel.texts))
    channel = await ana.says("", photo(ORANGE, seed=99))  # no caption in a private chat
    assert channel.last.text.startswith("I see Bo") and "Mắm" in channel.last.text and "Kiwi" not in channel.last.text


async def test_is_bo_next_to_kiwi_answers_for_each(assistant, person) -> None:
    ana = await taught(person)
    await ana.says("/teach Kiwi", *[photo(GREEN, seed=20 + i) for i in range(3)])
    await wait_for(lambda: any("Kiwi is ready!" in t for t in ana.channel.texts))
    channel = await ana.says("is Bo next to Kiwi?", photo(ORANGE, seed=42))
    assert channel.texts[-3] == "No: I see Bo, but not Kiwi."  # the answer first, then each one's
    assert channel.texts[-2].startswith("Yes, Bo is in this photo")
    assert channel.texts[-1].startswith("No, I don't think Kiwi is in this photo")
    before = len(channel.texts)
    channel = await ana.says("are Bo and Kiwi here?", photo(ORANGE, seed=43))  # not "together": no summing up
    assert len(channel.texts) == before + 2 and channel.texts[-2].startswith("Yes, Bo is in this photo")


async def test_the_ask_verb_says_what_the_chat_says(assistant, tmp_path) -> None:
    """`yo ask` about a photo answers as the chat does, and its recognition says which answers are a
    quick look (a concept whose photos are still coming in)."""
    ana = Person(assistant, "ana", platform="console")  # the terminal's user, whom `yo ask --user ana` is
    for name, colour, first in (("Bo", ORANGE, 0), ("Kiwi", GREEN, 20)):
        await ana.says(f"/teach {name}", *[photo(colour, seed=first + i) for i in range(3)])
        await wait_for(lambda: any(f"{name} is ready!" in t for t in ana.channel.texts))
    await ana.says("/teach Mắm", *[photo(BLUE, seed=30 + i) for i in range(3)])  # no /done: collecting
    park = tmp_path / "park.png"
    park.write_bytes(photo(ORANGE, seed=42))
    for question, lines in (("is Bo next to Kiwi?", 3), ("who is in this?", 1)):
        channel = await ana.says(question, park.read_bytes())
        asked = await verbs.ask(assistant, "ana", question, park)
        assert asked["answer"].splitlines() == channel.texts[-lines:], question
    assert asked["answer"].startswith("I see Bo")
    assert {name: r["quick_look"] for name, r in asked["recognition"].items()} == {
        "Bo": False, "Kiwi": False, "Mắm": True}
    assert asked["recognition"]["Bo"]["present"] and not asked["recognition"]["Mắm"]["present"]


async def test_a_smoke_model_marks_every_reply_that_rests_on_it(settings) -> None:
    """A model whose answers mean nothing (a smoke run) says so after a written answer, after a
    yes/no about a photo and "who is in this?", and after the description of a new concept."""
    smoke = FakeModelService()
    smoke.label = "smoke run: answers mean nothing"
    async with running(settings, smoke) as assistant:
        ana = await taught(lambda user: Person(assistant, user))
        assert any(smoke.label in t and "here's what I see" in t for t in ana.channel.texts)
        for question, photos in (("is Bo in this?", [photo(ORANGE, seed=42)]), ("who is in this?", [photo(GREEN)]),
                                 ("what does Bo like?", [])):
            channel = await ana.says(question, *photos)
            assert channel.last.text.endswith(f"\n\n[{smoke.label}]"), question
        untaught = await Person(assistant, "ben").says("is Bo in this?", photo(ORANGE))
        assert smoke.label not in untaught.last.text  # "I couldn't tell whom you mean" rests on no model


def test_together_says_who_is_missing() -> None:
    def seen(*pairs: tuple[str, bool]) -> list[tuple[SimpleNamespace, Recognition]]:
        return [(SimpleNamespace(display_name=name), Recognition(present, 0.9)) for name, present in pairs]

    assert together(seen(("Bo", True), ("Kiwi", True))) == "Yes, Bo and Kiwi are both here."
    assert together(seen(("Bo", True), ("Kiwi", True), ("Mắm", True))) == "Yes, Bo, Kiwi and Mắm are all here."
    assert together(seen(("Bo", False), ("Kiwi", False))) == "No, I don't see Bo or Kiwi here."
    assert together(seen(("Bo", False), ("Kiwi", True), ("Mắm", False))) == "No: I see Kiwi, but not Bo or Mắm."


async def test_questions_carry_facts_and_segments(assistant, person) -> None:
    ana = await taught(person)
    await ana.says("remember that Bo's birthday is 3 May")
    assert "Noted for Bo" in ana.channel.last.text
    channel = await ana.says("what should I buy bo for his birthday?")
    assert channel.last.text == ("(fake answer to: what should I buy Bo for his birthday?)"
                                 " [facts: Bo's birthday is 3 May]")
    kind, (segments, names, with_photo) = assistant.services.models.calls[-1]
    assert segments == ["what should I buy ", 0, " for his birthday?"] and names == ["Bo"] and not with_photo


async def test_forget_asks_first_then_removes_everything(assistant, person) -> None:
    ana = await taught(person)
    channel = await ana.says("/forget Bo")
    assert "Forget Bo?" in channel.last.text
    await ana.presses(channel.button("Forget Bo"))
    assert "Forgot Bo" in channel.last.text
    data = assistant.services.settings.yo_data_dir
    assert not [p for p in (data / "photos").rglob("*") if p.is_file()]
    assert not [p for p in (data / "concepts").rglob("*") if p.is_file()]
    await ana.says("/concepts")
    assert "haven't taught me anyone" in channel.last.text


async def test_rename_and_list(assistant, person) -> None:
    ana = await taught(person)
    await ana.says("/rename Bo Bobby")
    assert ana.channel.last.text == "Bo is now called Bobby."
    await ana.says("/concepts")
    assert "• Bobby — ready, 3 photos" in ana.channel.last.text


async def test_another_user_cannot_see_use_rename_or_forget(assistant, person) -> None:
    await taught(person)
    ben = person("ben")
    user = await assistant.store.get_or_create_user("test", "ana")
    [bo] = await assistant.store.list_concepts(user.id)
    for command in ("/forget Bo", "/rename Bo Bob", "/share Bo"):
        await ben.says(command)
    assert all("no concept called" in t or "inside the group" in t for t in ben.channel.texts)
    # Guessing ids in button data does not help either.
    await ben.presses(f"forget:{bo.id}")
    await ben.presses(f"fb:n:{bo.id}:whatever")
    assert "gone already" in ben.channel.texts[-2] and "Only the owner" in ben.channel.texts[-1]
    await ben.says("is Bo in this?", photo(ORANGE, seed=5))
    assert "couldn't tell whom you mean" in ben.channel.last.text
    assert await assistant.store.get_concept(bo.id) is not None


async def test_sharing_into_a_group(assistant, person) -> None:
    await taught(person)
    ana_in_group = person("ana", "group-1", group=True)
    ben_in_group = person("ben", "group-1", group=True)
    await ben_in_group.says("is Bo in this?", photo(ORANGE, seed=5))
    assert "couldn't tell whom you mean" in ben_in_group.channel.last.text
    await ana_in_group.says("/share Bo")
    assert "Everyone here can now ask me about Bo" in ana_in_group.channel.last.text
    await ben_in_group.says("is Bo in this?", photo(ORANGE, seed=5))
    assert ben_in_group.channel.last.text.startswith("Yes, Bo")
    # Shared means usable, not owned: Ben still can't forget it, and not elsewhere.
    await ben_in_group.says("/forget Bo")
    assert "no concept called" in ben_in_group.channel.last.text
    ben_alone = person("ben")
    await ben_alone.says("is Bo in this?", photo(ORANGE, seed=5))
    assert "couldn't tell whom you mean" in ben_alone.channel.last.text


async def test_group_messages_not_addressed_are_ignored(assistant, person) -> None:
    ana = person("ana", "group-1", group=True)
    channel = await ana.says("/help", addressed=False)
    assert channel.sent == []


@pytest.mark.parametrize("kind", list(bad_inputs()))
async def test_bad_photos_get_a_reply_and_leave_the_store_alone(assistant, person, kind) -> None:
    ana = person("ana")
    before = await snapshot(assistant)
    channel = await ana.says("/teach Bo", bad_inputs()[kind])
    assert channel.texts and "Traceback" not in channel.last.text and "wrong on my side" not in channel.last.text
    assert await snapshot(assistant) == before
    channel = await ana.says("who is in this?", bad_inputs()[kind])
    assert "wrong on my side" not in channel.last.text
    assert await snapshot(assistant) == before


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_bad_names_get_a_reply_and_leave_the_store_alone(assistant, person, name) -> None:
    ana = person("ana")
    before = await snapshot(assistant)
    channel = await ana.says(f"/teach {name}", photo(ORANGE))
    assert channel.texts and "wrong on my side" not in channel.last.text
    assert await snapshot(assistant) == before


async def snapshot(assistant) -> tuple:
    store = assistant.store
    data = assistant.services.settings.yo_data_dir
    files = sorted(str(p.relative_to(data)) for p in data.rglob("*") if p.is_file() and p.suffix in (".png", ".jpg", ".safetensors", ".json"))
    rows = []
    for table in ("concepts", "photos", "facts", "jobs", "shares"):
        async with store.db.connection.execute(f"SELECT * FROM {table}") as cursor:
            rows.append(await cursor.fetchall())
    return files, rows


async def test_enough_corrections_queue_a_warm_started_refresh(assistant, person) -> None:
    assistant.services.settings.yo_refresh_after = 3
    ana = await taught(person)
    models = assistant.services.models
    for seed in range(3):
        channel = await ana.says("is Bo in this?", photo(GREEN, seed=seed))
        await ana.presses(channel.button("Right"))  # "No" was right: a negative example each time
    await wait_for(lambda: any("I've refreshed Bo" in t for t in ana.channel.texts))
    first, refresh = models.trained
    assert refresh.warm_start is not None and first.warm_start is None
    assert len(refresh.negatives) == len(first.negatives) + 3
    # The evidence was used: the next correction alone does not queue another refresh.
    channel = await ana.says("is Bo in this?", photo(GREEN, seed=7))
    await ana.presses(channel.button("Right"))
    assert len(models.trained) == 2


async def test_before_training_ends_a_quick_look_answers(settings) -> None:
    from tests.bot.conftest import Person
    from tests.fakes.models import FakeModelService

    async with running(settings, FakeModelService(train_steps=200, step_seconds=0.05)) as assistant:
        ana = Person(assistant, "ana")
        await ana.says("/teach Bo", *[photo(ORANGE, seed=i) for i in range(3)])
        await ana.says("is Bo in this?", photo(ORANGE, seed=50))
        assert ana.channel.last.text.startswith("Yes, Bo is in this photo")
        assert "quick look: I'm still learning Bo" in ana.channel.last.text
        await ana.says("", photo(BLUE, seed=51))
        assert ana.channel.last.text == "I don't see any of Bo here."


async def test_who_is_in_this_asks_the_model_only_about_likely_concepts(assistant, person) -> None:
    assistant.services.settings.yo_max_queued_jobs_per_user = 10
    ana = person("ana")
    colours = [(25 * i, 255 - 25 * i, (97 * i) % 255) for i in range(10)]
    for i, colour in enumerate(colours):
        await ana.says(f"/teach C{i}", *[photo(colour, seed=s) for s in range(3)])
    try:
        await wait_for(lambda: sum("is ready!" in t for t in ana.channel.texts) >= 10, timeout=30)
    except AssertionError:
        raise AssertionError("\n".join(ana.channel.texts))
    models = assistant.services.models
    models.calls.clear()
    await ana.says("", photo(colours[4], seed=77))
    assert ana.channel.last.text.startswith("I see C4")
    screening, asking = [names for kind, names in models.calls if kind == "recognise"]
    assert len(screening) == 10 and 1 <= len(asking) <= 8


async def test_forget_me_removes_every_row_and_file_of_the_user_only(assistant, person) -> None:
    ana = await taught(person)
    ben = await taught(person, user="ben", colour=BLUE)
    await ana.says("remember that Bo's birthday is 3 May")
    channel = await ana.says("/forgetme")
    await ben.presses(channel.button("Forget everything"))  # Ben pressing Ana's button: refused
    assert "Only you can do that" in ben.channel.last.text
    await ana.presses(channel.button("Forget everything"))
    assert "forgotten everything about you" in channel.last.text
    store = assistant.store
    async with store.db.connection.execute("SELECT COUNT(*) FROM users WHERE platform_user_id = 'ana'") as cursor:
        assert (await cursor.fetchone())[0] == 0
    ben_user = await store.get_or_create_user("test", "ben")
    [ben_bo] = await store.list_concepts(ben_user.id)
    files = {p.name for p in (assistant.services.settings.yo_data_dir / "photos").rglob("*.png")}
    assert files == {p.sha256 + ".png" for p in await store.list_photos(ben_bo.id)}
    await ana.says("/concepts")
    assert "haven't taught me anyone" in ana.channel.last.text


async def test_draw_with_count_seed_and_progress(settings) -> None:
    from tests.bot.conftest import Person
    from tests.fakes.models import FakeDrawingService

    async with running(settings, FakeDrawingService()) as assistant:
        ana = await taught(lambda user: Person(assistant, user))
        channel = await ana.says("/draw 2 pictures of Bo and Mắm on a beach seed 7")
        progress = next(m for m in channel.sent if m.reply.text.startswith("Drawing 2 pictures"))
        assert progress.current.text == "Drew Bo and Mắm on a beach."
        assert len(channel.last.images) == 2
        kind, (segments, names, n, seed) = assistant.services.models.calls[-1]
        assert kind == "draw" and segments == [0, " and Mắm on a beach"] and names == ["Bo"] and (n, seed) == (2, 7)


async def test_draw_on_a_model_that_cannot_draw_says_so(assistant, person) -> None:
    ana = person("ana")
    channel = await ana.says("draw Bo on a beach")
    assert "I can't draw with the model I run (fake/colour-model)" in channel.last.text


# Issue 22, item 7: invisible names, command words and look-alikes, end to end.
@pytest.mark.parametrize("name", ["\u3164", "Bo\u3164", "\u2800", "help", "Teach", "done"])
async def test_invisible_and_command_names_are_refused(assistant, person, name) -> None:
    ana = person("ana")
    before = await snapshot(assistant)
    channel = await ana.says(f"/teach {name}", photo(ORANGE))
    assert "invisible" in channel.last.text or "one of my commands" in channel.last.text
    assert await snapshot(assistant) == before


async def test_a_look_alike_name_is_the_same_concept(assistant, person) -> None:
    ana = await taught(person)  # Latin "Bo"
    await ana.says("/teach \u0412\u043e")  # Cyrillic "Во"
    assert "You already have Bo" in ana.channel.last.text
    await ana.says("/cancel")
    await ana.says("/teach Kiwi", *[photo(GREEN, seed=20 + i) for i in range(3)])
    await wait_for(lambda: any("Kiwi is ready!" in t for t in ana.channel.texts))
    await ana.says("/rename Kiwi \u0412\u043e")
    assert "already have a concept called" in ana.channel.last.text
    user = await assistant.store.get_or_create_user("test", "ana")
    assert sorted(c.display_name for c in await assistant.store.list_concepts(user.id)) == ["Bo", "Kiwi"]
    # "Бо" looks like nothing else the user has: a name of its own.
    await ana.says("/teach \u0411\u043e")
    assert "Let's meet \u0411\u043e" in ana.channel.last.text


# Issue 22, item 8: one bound on a message's length, whatever the transport.
async def test_a_too_long_message_is_refused_before_it_costs_anything(assistant, person) -> None:
    from bot.assistant.intents import MAX_QUESTION_CHARS

    ana = await taught(person)
    models = assistant.services.models
    calls = len(models.calls)
    text = ("what is Bo doing? " * 6667)[:120_000]
    channel = await ana.says(text)
    assert channel.last.text == ("That message is too long for me (120,000 characters); "
                                 f"please keep it under {MAX_QUESTION_CHARS:,}.")
    assert len(models.calls) == calls
    await ana.says("what is Bo doing? " + "x" * (MAX_QUESTION_CHARS - 18))  # at the bound: answered
    assert ana.channel.last.text.startswith("(fake answer to: what is Bo doing?")
