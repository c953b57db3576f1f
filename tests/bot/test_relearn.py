"""YO_MODEL changed: the concepts learned on the old model are learned again on the new one, from
their kept photos, and nobody is asked about tokens the new model cannot read meanwhile."""

from __future__ import annotations

import asyncio

from bot.assistant.relearn import relearn_on_this_model
from bot.settings import Settings
from tests.bot.conftest import Person, wait_for
from tests.bot.running import running
from tests.fakes.chat import RecordingChannel
from tests.fakes.models import FakeModelService
from tests.fakes.photos import photo

ORANGE, GREEN = (220, 120, 30), (20, 200, 40)


class AnotherModel(FakeModelService):
    model_id = "fake/another-model"


async def test_concepts_of_the_old_model_are_learned_again_from_their_photos(settings: Settings) -> None:
    async with running(settings, FakeModelService()) as assistant:
        ana = Person(assistant, "ana")
        await ana.says("/teach Bo", *[photo(ORANGE, seed=i) for i in range(3)])
        await wait_for(lambda: any("Bo is ready!" in t for t in ana.channel.texts))
        await ana.says("remember that Bo loves tennis balls")  # a fact: the user's, kept whatever the model
        user = await assistant.store.get_or_create_user("test", "ana")
        [old] = await assistant.store.list_concepts(user.id)
        assert old.base_model == "fake/colour-model" and old.tokens_file and old.prototype
        old_file = settings.yo_data_dir / old.tokens_file

    models = AnotherModel(step_seconds=0.05)  # slow enough to see it queued
    async with running(settings, models) as assistant:
        ana = Person(assistant, "ana")
        reached: list[str] = []  # the chats the bot opened to tell someone something

        async def open_chat(chat_id: str) -> RecordingChannel:
            reached.append(chat_id)
            return ana.channel

        assistant.register_notifier("test", open_chat)
        # Before the bot has relearned (a one-shot verb on another model): the old tokens are never sent.
        await ana.says("is Bo in this?", photo(ORANGE, seed=42))
        assert "still learning Bo" in ana.channel.last.text
        await ana.says("what does Bo like?")
        assert ana.channel.last.text.startswith("(fake answer to: what does Bo like?)")

        assert await relearn_on_this_model(assistant.services) == 1
        [concept] = await assistant.store.list_concepts(user.id)
        assert concept.base_model == models.model_id and concept.tokens_file is None
        assert not old_file.exists()
        assert concept.prototype is not None  # the new model's quick look, at once
        await wait_for(lambda: models.trained)
        [request] = models.trained
        assert len(request.positives) == 3 and request.warm_start is None  # from the kept photos, from scratch

        deadline = asyncio.get_running_loop().time() + 5
        while (await assistant.store.get_concept(concept.id)).status != "ready":  # type: ignore[union-attr]
            assert asyncio.get_running_loop().time() < deadline, "the relearning never finished"
            await asyncio.sleep(0.05)
        # Ana hears of it where she heard Bo was ready the first time: her private chat.
        await wait_for(lambda: any("I've learned Bo again" in t for t in ana.channel.texts))
        assert reached == ["ana"] and models.model_id in ana.channel.last.text
        await ana.says("is Bo in this?", photo(ORANGE, seed=43))
        assert ana.channel.last.text.startswith("Yes, Bo is in this photo")
        await ana.says("is Bo in this?", photo(GREEN, seed=44))
        assert ana.channel.last.text.startswith("No, I don't think Bo")
        assert [f.text for f in await assistant.store.list_facts(concept.id)] == ["Bo loves tennis balls"]
        assert await relearn_on_this_model(assistant.services) == 0  # nothing left of the old model
