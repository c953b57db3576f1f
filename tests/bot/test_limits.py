"""Per-user limits: questions a minute and drawings an hour (token buckets), trainings a day."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.assistant.limits import Limits, TokenBucket, slow_down
from tests.bot.conftest import Person, wait_for
from tests.bot.test_access import Clock, settings_for, started
from tests.fakes.models import FakeDrawingService
from tests.fakes.photos import photo

ORANGE = (220, 120, 30)


def test_a_bucket_lets_a_burst_through_then_one_per_share_of_its_period() -> None:
    bucket = TokenBucket(3, 60.0, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(20.0)
    assert bucket.take(15.0) == pytest.approx(5.0), "a refused request takes nothing"
    assert bucket.take(20.0) == 0.0
    assert bucket.take(1000.0) == 0.0 and bucket.tokens == pytest.approx(2.0), "never more than its size"


def test_limits_are_per_user_and_kind_and_zero_is_none() -> None:
    clock = Clock()
    limits = Limits(1, 0, 5, clock=clock)
    assert limits.wait("question", "test", "ana") == 0.0
    assert limits.wait("question", "test", "ana") == pytest.approx(60.0)
    assert limits.wait("question", "test", "bob") == 0.0, "Bob has his own bucket"
    assert limits.wait("question", "discord", "ana") == 0.0, "so has Ana on another platform"
    assert all(limits.wait("drawing", "test", "ana") == 0.0 for _ in range(100)), "0: no limit"


def test_the_wait_is_said_in_a_unit_people_use() -> None:
    assert slow_down(20.000000001) == "Slow down a little — try again in 20 s."
    assert slow_down(0.2) == "Slow down a little — try again in 1 s."
    assert slow_down(30 * 60) == "Slow down a little — try again in 30 min."
    assert slow_down(86_399) == "Slow down a little — try again in 24 h."


async def test_one_question_too_many_waits_and_then_works(tmp_path: Path) -> None:
    clock = Clock()
    async with started(settings_for(tmp_path, yo_questions_per_minute=3), clock) as assistant:
        ana = Person(assistant, "ana")
        for n in range(3):
            await ana.says(f"what is a corgi? ({n})")
        assert all(t.startswith("(fake answer to:") for t in ana.channel.texts)
        await ana.says("what is a corgi? (3)")
        assert ana.channel.last.text == "Slow down a little — try again in 20 s."
        for free in ("/help", "/concepts", "remember that corgis are short"):  # not questions: not limited
            await ana.says(free)
            assert "Slow down" not in ana.channel.last.text
        await Person(assistant, "bob").says("what is a corgi?")
        assert assistant.services.models.calls[-1][0] == "answer", "Bob has his own limit"

        clock.now += 20
        await ana.says("what is a corgi? (4)")
        assert ana.channel.last.text == "(fake answer to: what is a corgi? (4))"
        await ana.says("what is a corgi? (5)")
        assert ana.channel.last.text == "Slow down a little — try again in 20 s."


async def test_admins_have_no_limits(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, yo_questions_per_minute=1, yo_admins="test:carol")
    async with started(settings) as assistant:
        carol = Person(assistant, "carol")
        for n in range(5):
            await carol.says(f"what is a corgi? ({n})")
        assert not any("Slow down" in t for t in carol.channel.texts)


async def test_photos_while_teaching_are_not_questions(tmp_path: Path) -> None:
    async with started(settings_for(tmp_path, yo_questions_per_minute=1)) as assistant:
        ana = Person(assistant, "ana")
        await ana.says("/teach Bo")
        for n in range(3):
            await ana.says("", photo(ORANGE, seed=n))
        assert any("(3 in all)" in t for t in ana.channel.texts)
        assert not any("slow down" in t.lower() for t in ana.channel.texts)


async def test_drawings_an_hour(tmp_path: Path) -> None:
    clock = Clock()
    settings = settings_for(tmp_path, yo_drawings_per_hour=2)
    async with started(settings, clock, models=FakeDrawingService()) as assistant:
        ana = Person(assistant, "ana")
        await ana.says("/draw a cat")
        await ana.says("/draw a dog")
        assert ana.channel.last.images
        await ana.says("/draw a fish")
        assert ana.channel.last.text == "Slow down a little — try again in 30 min."
        clock.now += 30 * 60
        await ana.says("/draw a fish")
        assert ana.channel.last.images


async def test_trainings_a_day_are_counted_from_the_queue(tmp_path: Path) -> None:
    async with started(settings_for(tmp_path, yo_trainings_per_day=1)) as assistant:
        ana = Person(assistant, "ana")
        await ana.says("/teach Bo", *[photo(ORANGE, seed=i) for i in range(3)])
        await wait_for(lambda: any("Bo is ready!" in t for t in ana.channel.texts))
        await ana.says("/teach Kiwi")
        await ana.says("", *[photo((20, 200, 40), seed=10 + i) for i in range(3)])
        await ana.says("/done")
        assert ana.channel.last.text == "Slow down a little — try again in 24 h."
        assert len(await assistant.store.list_jobs()) == 1
