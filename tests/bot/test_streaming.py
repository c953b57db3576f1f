"""An answer shown as it is written: one message, edited as the model's text grows (within each
platform's edit pace), its last edit exactly the answer; the terminal prints it as it goes.
Recognition's yes / no stays one message."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Sequence

from bot.assistant import Assistant, Message
from bot.assistant.asking import WRITING
from bot.console import ConsoleChannel
from bot.settings import Settings
from serving.protocol import ConceptRef, ModelUnavailable, Segments, TextCallback
from tests.bot.conftest import Person, wait_for
from tests.bot.running import running
from tests.fakes.discord_harness import connected
from tests.fakes.models import FakeModelService
from tests.fakes.photos import photo
from tests.fakes.telegram_bot import telegram_bot, telegram_settings

QUESTION = "what should I get Bo for his birthday?"
ANSWER = f"(fake answer to: {QUESTION})"
ORANGE = (220, 120, 30)


def writing(word_seconds: float = 0.01) -> FakeModelService:
    return FakeModelService(word_seconds=word_seconds)


async def test_the_answer_is_one_message_edited_as_it_is_written(settings: Settings) -> None:
    models = writing()
    async with running(settings, models) as assistant:
        channel = await Person(assistant, "ana").says(QUESTION)
    [message] = channel.sent
    shown = [message.reply.text] + [edit.text for edit in message.edits]
    assert len(shown) >= 3, shown
    assert shown[-1] == ANSWER, "the last edit is exactly the answer"
    assert all(text.endswith(WRITING) and ANSWER.startswith(text.removesuffix(WRITING)) for text in shown[:-1])
    words = ANSWER.split(" ")
    assert models.streamed == [[" ".join(words[:n]) for n in range(1, len(words) + 1)]], "written word by word"
    assert channel.activity == ["typing"], "typing… shows until the first words"


async def test_an_empty_answer_says_i_dont_know(settings: Settings) -> None:
    class Silent(FakeModelService):
        async def answer(self, question: Segments, concepts: Sequence[ConceptRef], photo: bytes | None = None,
                         on_text: TextCallback | None = None) -> str:
            return ""

    async with running(settings, Silent()) as assistant:
        channel = await Person(assistant, "ana").says(QUESTION)
    assert channel.texts == ["I don't know."] and not channel.sent[0].edits


async def test_a_model_that_fails_mid_answer_says_so_after_the_words_so_far(settings: Settings) -> None:
    class Failing(FakeModelService):
        async def answer(self, question: Segments, concepts: Sequence[ConceptRef], photo: bytes | None = None,
                         on_text: TextCallback | None = None) -> str:
            assert on_text is not None
            on_text("Bo likes")
            await asyncio.sleep(0.05)
            on_text("Bo likes long")
            raise ModelUnavailable("My model restarted while working on this. Please try again.")

    async with running(settings, Failing()) as assistant:
        channel = await Person(assistant, "ana").says(QUESTION)
        await asyncio.sleep(0.05)
    assert channel.texts == ["Bo likes" + WRITING, "My model restarted while working on this. Please try again."]
    assert not channel.sent[0].edits, "nothing more is written once the answer failed"


async def test_recognition_stays_one_message(settings: Settings) -> None:
    async with running(settings, writing()) as assistant:
        ana = Person(assistant, "ana")
        await ana.says("/teach Bo", *[photo(ORANGE, seed=i) for i in range(3)])
        await wait_for(lambda: any("Bo is ready!" in t for t in ana.channel.texts))
        before = len(ana.channel.sent)
        await ana.says("is Bo in this?", photo(ORANGE, seed=42))
    [answer] = ana.channel.sent[before:]
    assert answer.reply.text.startswith("Yes, Bo is in this photo") and not answer.edits


async def test_telegram_edits_the_answer_in_place_at_its_pace(tmp_path: Path) -> None:
    settings = telegram_settings(tmp_path / "data")
    interval = 0.1
    async with running(settings, writing(word_seconds=0.04)) as assistant:
        async with telegram_bot(settings, assistant, edit_interval=interval) as (api, _):
            api.text(api.user(201, "Ana"), QUESTION)
            await api.wait_for(lambda: any(m.content == ANSWER for m in api.messages(201)), timeout=10)
    [message] = [m for m in api.messages(201) if m.content.startswith("(fake answer")]
    assert len(message.edits) >= 2, "edited as the text grew"
    assert message.edits[-1]["text"] == ANSWER
    times = [edit["at"] for edit in message.edits]
    assert all(b - a >= interval * 0.9 for a, b in zip(times, times[1:])), "no faster than the throttle"


async def test_discord_edits_the_answer_in_place(settings: Settings) -> None:
    async with running(settings, writing(word_seconds=0.04)) as assistant:
        async with connected(assistant, edit_interval=0.05) as (server, _):
            alice = server.user("alice")
            dm = server.dm(alice)
            await server.say(alice, QUESTION, channel=dm)
            await server.wait_for(lambda: ANSWER in server.texts(dm), timeout=10)
            [message] = [m for m in server.messages(dm) if m.text.startswith("(fake answer")]
    assert len(message.edits) >= 2 and message.edits[-1].content == ANSWER
    assert message.content.endswith(WRITING), "sent with the first words, then edited"


class Writes(io.StringIO):
    """A terminal that keeps each write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


async def test_the_terminal_prints_the_answer_as_it_goes(settings: Settings, tmp_path: Path) -> None:
    terminal = Writes()
    channel = ConsoleChannel(tmp_path / "out", stream=terminal)
    async with running(settings, writing()) as assistant:
        await answer_in(assistant, channel, QUESTION)
        await answer_in(assistant, channel, "/help")
    lines = terminal.getvalue().splitlines()
    assert lines[0] == f"yo › {ANSWER}", "one line, written as it grew, ended by the last edit"
    assert lines[1].startswith("yo › ") and "updated" not in terminal.getvalue()
    words = [w for w in terminal.writes if w.strip() and not w.startswith("yo › ")]
    assert len(words) >= 3 and not any(WRITING.strip() in w for w in terminal.writes)


async def answer_in(assistant: Assistant, channel: ConsoleChannel, text: str) -> None:
    await assistant.handle(Message("console", "local", "local", text=text), channel)
