"""The teaching dialogue: /teach, photos, /done, training, ready; and its undo."""

from __future__ import annotations

from pathlib import Path

from bot.app import build_assistant
from bot.assistant import Assistant, Photo
from bot.assistant.tracking import progress_text
from bot.assistant.teaching import kind_of
from serving.protocol import TrainProgress
from storage.models import Concept
from tests.bot.conftest import Person, wait_for
from tests.bot.running import running
from tests.fakes.models import FakeModelService
from tests.fakes.photos import photo

ORANGE = (220, 120, 30)
BLUE = (40, 90, 220)


async def concept_rows(assistant: Assistant) -> int:
    async with assistant.store.db.connection.execute("SELECT COUNT(*) FROM concepts") as cursor:
        return (await cursor.fetchone())[0]


async def test_teach_photos_done_trains_and_reports_ready(assistant, person) -> None:
    ana = person("ana")
    channel = await ana.says("/teach Bo")
    assert "Send me 3–10 photos of Bo" in channel.last.text
    await ana.says("", photo(ORANGE, seed=1), photo(ORANGE, seed=2))
    assert "Got 2 photos of Bo (2 in all). 1 more" in channel.last.text
    await ana.says("/done")
    assert "I need at least 3 photos of Bo" in channel.last.text
    await ana.says("", photo(ORANGE, seed=3))
    await ana.says("/done")
    progress = next(m for m in channel.sent if m.reply.text.startswith("Learning Bo: waiting"))
    await wait_for(lambda: any("Bo is ready!" in t for t in channel.texts))
    assert progress.current.text == "Learning Bo: done ✅"
    ready = next(m.reply for m in channel.sent if "Bo is ready!" in m.reply.text)
    assert ready.images, "the ready message carries a collage of the training photos"
    concepts = await assistant.store.list_concepts((await assistant.store.get_or_create_user("test", "ana")).id)
    assert [(c.display_name, c.status) for c in concepts] == [("Bo", "ready")]


def test_progress_says_why_it_drops_back_when_training_adds_rounds() -> None:
    planned = TrainProgress("training", epoch=15, epochs=15, step=150, steps=150, eta_seconds=5)
    extended = TrainProgress("training", epoch=16, epochs=25, step=160, steps=250, eta_seconds=120, extended=True)
    assert progress_text("Bo", planned) == "Learning Bo: 100% (round 15 of 15, less than a minute left)"
    assert progress_text("Bo", extended) == ("Learning Bo: 64% (round 16 of 25, extra rounds to tell Bo from "
                                             "look-alikes, about 2 min left)")
    assert progress_text("Bo", TrainProgress("preparing")) == "Learning Bo: getting ready…"


async def test_teach_as_album_caption_in_one_step(assistant, person) -> None:
    ana = person("ana")
    channel = await ana.says("/teach Bo", *[photo(ORANGE, seed=i) for i in range(5)])
    assert any("Got 5 photos of Bo" in t for t in channel.texts)
    await wait_for(lambda: any("Bo is ready!" in t for t in channel.texts))


async def test_cancel_leaves_nothing_of_a_new_concept(assistant, person) -> None:
    ana = person("ana")
    await ana.says("/teach Bo")
    await ana.says("", photo(ORANGE, seed=1))
    channel = await ana.says("/cancel")
    assert "didn't keep anything" in channel.last.text
    assert await concept_rows(assistant) == 0
    assert not list((assistant.services.settings.yo_data_dir / "photos").rglob("*.*"))


async def test_teaching_survives_a_restart(settings) -> None:
    first = await build_assistant(settings, FakeModelService())
    ana = Person(first, "ana")
    await ana.says("/teach Bo")
    await ana.says("", photo(ORANGE, seed=1), photo(ORANGE, seed=2))
    await first.close()

    async with running(settings, FakeModelService()) as second:
        ana = Person(second, "ana")
        await ana.says("", photo(ORANGE, seed=3))
        assert any("Got 1 photo of Bo (3 in all)" in t for t in ana.channel.texts)
        await ana.says("/done")
        await wait_for(lambda: any("Bo is ready!" in t for t in ana.channel.texts))


async def test_teaching_in_a_group_and_its_cancel_survive_a_restart(settings) -> None:
    """Teaching sessions live in the store: after a restart the photos sent in a group still go to
    Bo, and /cancel still takes back exactly the photos its session added."""
    first = await build_assistant(settings, FakeModelService())
    ana = Person(first, "ana", "group-1", group=True)
    await ana.says("/teach Bo")
    await ana.says("", photo(ORANGE, seed=1))
    await first.close()

    async with running(settings, FakeModelService()) as second:
        ana = Person(second, "ana", "group-1", group=True)
        await ana.says("", photo(ORANGE, seed=2), photo(ORANGE, seed=3))
        assert any("Got 2 photos of Bo (3 in all)" in t for t in ana.channel.texts)
        await ana.says("/done")
        await wait_for(lambda: any("Bo is ready!" in t for t in ana.channel.texts))
        await ana.says("/teach Bo")  # more photos of a Bo already learned ...
        await ana.says("", photo(ORANGE, seed=4))
    async with running(settings, FakeModelService()) as third:
        ana = Person(third, "ana", "group-1", group=True)
        await ana.says("/cancel")  # ... taken back after a restart; Bo and his three stay
        user = await third.store.get_or_create_user("test", "ana")
        [concept] = await third.store.list_concepts(user.id)
        assert concept.status == "ready" and len(await third.store.list_photos(concept.id, "positive")) == 3
        assert (await ana.says("/cancel")).last.text == "Nothing to cancel."


async def ready_bo(assistant: Assistant, ana: Person) -> tuple[int, Concept]:
    """Ana teaches Bo from three photos and waits for him to be ready: her user id, and Bo."""
    await ana.says("/teach Bo", *[photo(ORANGE, seed=i) for i in range(3)])
    await wait_for(lambda: any("Bo is ready!" in t for t in ana.channel.texts))
    user = await assistant.store.get_or_create_user("test", "ana")
    [concept] = await assistant.store.list_concepts(user.id)
    return user.id, concept


async def test_the_base_model_names_the_kind_of_a_subject_taught_in_a_chat(assistant, person) -> None:
    """The concept's category (what its attribute questions are about) comes from the base model."""
    _, concept = await ready_bo(assistant, person("ana"))
    assert concept.category == "toy"  # the fake model's "A toy."
    assert [r.category for r in assistant.services.models.trained] == ["toy"]


def test_the_kind_is_read_from_the_answer() -> None:
    assert kind_of("Dog.") == kind_of("A small brown dog with a red collar.\nIt looks happy.") == "dog"
    assert kind_of("Woman") == kind_of("a woman wearing glasses") == "woman"
    assert kind_of("a purple square toy with a white bag") == "toy"  # the stand-in answers so
    assert kind_of("the 2 cats!") == "cats"
    assert kind_of("") == kind_of("...") == kind_of("With") == ""


async def test_same_name_twice_offers_to_add_photos(assistant, person) -> None:
    ana = person("ana")
    await ana.says("/teach Bo", *[photo(ORANGE, seed=i) for i in range(3)])
    await wait_for(lambda: any("Bo is ready!" in t for t in ana.channel.texts))
    channel = await ana.says("/teach bo")
    assert "You already have Bo" in channel.last.text
    assert await concept_rows(assistant) == 1


async def test_two_users_same_name_are_independent(assistant, person) -> None:
    ana, ben = person("ana"), person("ben")
    await ana.says("/teach Bo", *[photo(ORANGE, seed=i) for i in range(3)])
    await ben.says("/teach Bo", *[photo((20, 20, 220), seed=i) for i in range(3)])
    await wait_for(lambda: any("Bo is ready!" in t for t in ana.channel.texts)
                   and any("Bo is ready!" in t for t in ben.channel.texts))
    await ana.says("is Bo in this?", photo((20, 20, 220), seed=9))
    assert ana.channel.last.text.startswith("No")
    await ben.says("is Bo in this?", photo((20, 20, 220), seed=9))
    assert ben.channel.last.text.startswith("Yes")


async def test_teaching_in_a_group_with_photos_stays_there_and_the_owner_shares_it(assistant, person) -> None:
    ana, ben = person("ana", "group-1", group=True), person("ben", "group-1", group=True)
    await ana.says("/teach Bo", *[photo(ORANGE, seed=i) for i in range(3)])
    await wait_for(lambda: any("Bo is ready!" in t for t in ana.channel.texts))
    progress = next(m for m in ana.channel.sent if m.reply.text.startswith("Learning Bo"))
    assert progress.current.text == "Learning Bo: done ✅", "progress edited in the group"
    ready = next(m.reply for m in ana.channel.sent if "Bo is ready!" in m.reply.text)
    assert "Only you can ask me about Bo here until you share it" in ready.text
    [[share]] = ready.buttons
    assert share.label == "Share Bo here"

    await ben.says("is Bo in this?", photo(ORANGE, seed=50))
    assert "couldn't tell whom you mean" in ben.channel.last.text, "Bo is Ana's until she shares it"
    await ben.presses(share.data)
    assert ben.channel.last.text == "Only the one who taught Bo can share it."
    await ana.presses(share.data)
    assert ana.channel.last.text.startswith("Everyone here can now ask me about Bo.")
    await ben.says("is Bo in this?", photo(ORANGE, seed=51))
    assert ben.channel.last.text.startswith("Yes, Bo is in this photo")


async def test_teach_in_a_group_without_photos_offers_the_group_and_a_private_chat(assistant, person) -> None:
    ana = person("ana", "group-1", group=True)
    channel = await ana.says("/teach Bo")
    assert "Send me 3–10 photos of Bo here" in channel.last.text
    assert channel.last.link == "https://t.me/yo_test_bot?start=teach_Bo"
    # The deep link lands in the private chat and goes on teaching there...
    private = person("ana")
    await private.says("/start teach_Bo")
    assert "Back to Bo: I have 0 photos so far" in private.channel.last.text
    # ... or the photos come in the group, addressed to Yo.
    await ana.says("", *[photo(ORANGE, seed=i) for i in range(3)])
    assert any("Got 3 photos of Bo (3 in all)" in t for t in channel.texts)
    await ana.says("/done")
    await wait_for(lambda: any("Bo is ready!" in t for t in channel.texts))


async def test_stop_cancels_a_running_training(settings) -> None:
    slow = FakeModelService(train_steps=200, step_seconds=0.05)
    async with running(settings, slow) as assistant:
        ana = Person(assistant, "ana")
        await ana.says("/teach Bo", *[photo(ORANGE, seed=i) for i in range(3)])
        await wait_for(lambda: any("%" in m.current.text for m in ana.channel.sent))
        await ana.presses(ana.channel.button("Stop"))
        await wait_for(lambda: any("Stopped learning Bo" in t for t in ana.channel.texts))
        user = await assistant.store.get_or_create_user("test", "ana")
        [concept] = await assistant.store.list_concepts(user.id)
        assert concept.status == "collecting" and concept.tokens_file is None


async def test_a_description_answers_before_training_ends_and_can_be_corrected(settings) -> None:
    models = FakeModelService(train_steps=100, step_seconds=0.05)
    async with running(settings, models) as assistant:
        ana = Person(assistant, "ana")
        await ana.says("/teach Bo", *[photo(ORANGE, seed=i) for i in range(3)])
        assert any("here's what I see: “a subject of one colour”" in t for t in ana.channel.texts)
        await ana.says("/describe Bo a small tan corgi with a red collar")
        assert ana.channel.last.text == "Thanks, noted: Bo is a small tan corgi with a red collar"
        user = await assistant.store.get_or_create_user("test", "ana")
        [bo] = await assistant.store.list_concepts(user.id)
        assert bo.tokens_file is None and bo.description == "a small tan corgi with a red collar"
        # Not trained yet: the question goes out with the description in place of tokens.
        await ana.says("what colour is Bo?")
        assert "(fake answer to: what colour is Bo?)" in ana.channel.last.text
        ref = await assistant.services.concept_ref(bo)
        assert ref.tokens is None and ref.description == "a small tan corgi with a red collar"


async def test_the_same_photo_twice_is_kept_once_and_said_so(assistant, person) -> None:
    ana = person("ana")
    await ana.says("/teach Bo")
    same = photo(ORANGE, seed=1)
    channel = await ana.says("", same, same, photo(ORANGE, seed=2))
    assert "Got 2 photos of Bo (2 in all)" in channel.last.text
    assert "Photo 2: I already have this photo." in channel.last.text


async def test_every_photo_left_out_is_named_with_its_reason(assistant, person) -> None:
    """Issue 22: a broken photo and the photos past the limit are named, not dropped in silence."""
    ana = person("ana")
    sent = [Photo(photo(ORANGE, seed=seed), f"bo{seed}.jpg") for seed in range(11)]
    sent.insert(1, Photo(b"", "zero.jpg"))
    channel = await ana.says("/teach Bo", *sent)
    said = "\n".join(channel.texts)
    assert "Photo 2 (zero.jpg): " in said
    assert "Photo 12 (bo10.jpg): Bo already has 10 photos, the most I use, so I left this out." in said
    user = await assistant.store.get_or_create_user("test", "ana")
    [bo] = await assistant.store.list_concepts(user.id)
    assert len(await assistant.store.list_photos(bo.id, "positive")) == 10


async def test_the_quick_look_answers_from_the_photos_before_done(settings) -> None:
    """Enough photos, no /done yet: "is Bo in this?" gets a quick look, rebuilt as photos arrive,
    against the everyday photos as well as the user's (the folder is the worker's to read)."""
    settings = settings.model_copy(update={"yo_negatives_dir": Path("/photos/everyday")})
    models = FakeModelService()
    async with running(settings, models) as assistant:
        ana = Person(assistant, "ana")
        await ana.says("/teach Bo")
        await ana.says("", photo(ORANGE, seed=1), photo(ORANGE, seed=2))
        await ana.says("is Bo in this?", photo(ORANGE, seed=50))
        assert "still learning Bo" in ana.channel.last.text, "two photos: no quick look yet"
        await ana.says("", photo(ORANGE, seed=3))
        assert any("here's what I see: “a subject of one colour”" in t for t in ana.channel.texts)
        await ana.says("is Bo in this?", photo(ORANGE, seed=51))
        assert ana.channel.last.text.startswith("Yes, Bo is in this photo")
        assert "quick look from the photos so far; send /done" in ana.channel.last.text
        await ana.says("is Bo in this?", photo(BLUE, seed=52))
        assert ana.channel.last.text.startswith("No, I don't think Bo is in this photo")
        await ana.says("", photo(BLUE, seed=4))  # a fourth photo: the quick look is built again
        built = [args for name, args in models.calls if name == "prototype"]
        assert [positives for positives, _, _ in built] == [3, 4]
        assert {folder for _, _, folder in built} == {"/photos/everyday"}
        assert [name for name, _ in models.calls].count("describe") == 1, "one description"
        await ana.says("/done")
        await wait_for(lambda: any("Bo is ready!" in t for t in ana.channel.texts))
        assert [name for name, _ in models.calls].count("describe") == 1


async def test_cancel_undoes_the_quick_look_of_added_photos(assistant, person) -> None:
    ana = person("ana")
    user_id, before = await ready_bo(assistant, ana)
    await ana.says("/teach Bo")
    await ana.says("", *[photo(BLUE, seed=10 + i) for i in range(3)])
    [changed] = await assistant.store.list_concepts(user_id)
    assert changed.prototype != before.prototype
    await ana.says("/cancel")
    [after] = await assistant.store.list_concepts(user_id)
    assert after.prototype == before.prototype
