"""Who may use Yo: the allowlist, admins, Telegram @names and Discord roles, blocks, the admin commands."""

from __future__ import annotations

import asyncio
import logging
import re
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import pytest
from pydantic import ValidationError

from bot.assistant import Assistant, Message, Photo
from bot.assistant.access import BLOCKS_FRESH_SECONDS, People, Who, parse_account, parse_people
from bot.assistant.texts import ADMIN_HELP, ADMINS_ONLY, REFUSED
from bot.settings import Settings
from serving.protocol import ModelService
from storage import Store
from tests.bot.conftest import Person, wait_for
from tests.fakes.chat import RecordingChannel
from tests.fakes.models import FakeModelService
from tests.fakes.photos import photo

ORANGE = (220, 120, 30)
TABLES = ("users", "chats", "concepts", "photos", "jobs", "facts")


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings_for(tmp_path: Path, **fields: object) -> Settings:
    return Settings(yo_data_dir=tmp_path / "data", yo_model="fake/colour-model",  # type: ignore[call-arg]
                    _env_file=None, **fields)


@asynccontextmanager
async def started(settings: Settings, clock: Clock | None = None,
                  models: ModelService | None = None) -> AsyncIterator[Assistant]:
    """A running assistant whose limits and refusals read `clock`."""
    store = await Store.open(settings.yo_data_dir)
    assistant = Assistant(store, models or FakeModelService(), settings, clock=clock or Clock())
    assistant.services.queue.poll_seconds = 0.05
    await assistant.start()
    try:
        yield assistant
    finally:
        await assistant.close()


async def rows(assistant: Assistant) -> dict[str, int]:
    counts = {}
    for table in TABLES:
        row = await assistant.store.db.fetch_one(f"SELECT COUNT(*) AS n FROM {table}")
        counts[table] = row["n"] if row else 0
    return counts


def files_under(data_dir: Path) -> list[Path]:
    return [p for folder in ("photos", "concepts") for p in (data_dir / folder).rglob("*") if p.is_file()]


async def taught(someone: Person, name: str = "Bo") -> None:
    await someone.says(f"/teach {name}", *[photo(ORANGE, seed=i) for i in range(3)])
    await wait_for(lambda: any(f"{name} is ready!" in t for t in someone.channel.texts))


# -- the settings -------------------------------------------------------------------------------


def test_entries_are_read_and_mistakes_named() -> None:
    people = parse_people(" telegram:12345, telegram:@Alice ,discord:987, discord:role:Best Friends,, ")
    assert people.ids == {("telegram", "12345"), ("discord", "987")}
    assert people.handles == {("telegram", "alice")} and people.roles == {("discord", "best friends")}
    assert people.includes(Who("telegram", "1", handle="ALICE"))
    assert not people.includes(Who("discord", "1", handle="alice")), "a handle belongs to its platform"
    assert people.includes(Who("discord", "5", roles=("111", "Best Friends")))
    assert not parse_people("") and not People()
    with pytest.raises(ValueError, match="'alice' isn't platform:id"):
        parse_people("telegram:1, alice", "YO_ALLOWED_USERS")
    with pytest.raises(ValidationError, match="YO_ADMINS"):
        Settings(yo_admins="telegram:", _env_file=None)  # type: ignore[call-arg]
    assert parse_account("telegram:42", "discord") == ("telegram", "42")
    assert parse_account("42", "discord") == ("discord", "42")
    assert parse_account("@alice", "telegram") is None and parse_account("discord:role:x", "discord") is None


async def test_an_open_bot_says_so_once_at_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bot.assistant.access")
    async with started(settings_for(tmp_path)):
        pass
    assert [r.getMessage() for r in caplog.records if "open to everyone" in r.getMessage()] != []
    caplog.clear()
    async with started(settings_for(tmp_path, yo_allowed_users="test:ana")):
        pass
    assert not any("open to everyone" in r.getMessage() for r in caplog.records)


# -- the gate -----------------------------------------------------------------------------------


async def test_someone_not_allowed_is_refused_once_and_nothing_is_kept(tmp_path: Path) -> None:
    clock = Clock()
    settings = settings_for(tmp_path, yo_allowed_users="test:ana")
    async with started(settings, clock) as assistant:
        bob = Person(assistant, "bob")
        await bob.says("/teach Bo", *[photo(ORANGE, seed=i) for i in range(3)])
        assert bob.channel.texts == [REFUSED]
        await bob.says("/done")
        await bob.says("/help")
        await bob.says("remember that Bo's birthday is 3 May")
        await bob.presses("forgetme:1")
        assert bob.channel.texts == [REFUSED], "one refusal, not one per message"
        assert await rows(assistant) == dict.fromkeys(TABLES, 0)
        assert files_under(settings.yo_data_dir) == []

        clock.now += 3601  # an hour later he hears it once more
        await bob.says("hello?")
        assert bob.channel.texts == [REFUSED, REFUSED]
        assert await rows(assistant) == dict.fromkeys(TABLES, 0)


async def test_an_allowed_user_and_an_admin_work(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, yo_allowed_users="test:ana", yo_admins="test:carol")
    async with started(settings) as assistant:
        ana, carol = Person(assistant, "ana"), Person(assistant, "carol")
        await taught(ana)
        await taught(carol, "Kiwi")
        await ana.says("/help")
        assert ADMIN_HELP not in ana.channel.last.text
        await carol.says("/help")
        assert carol.channel.last.text.endswith(ADMIN_HELP), "admins see their commands"
        assert REFUSED not in ana.channel.texts + carol.channel.texts


async def test_telegram_usernames_and_discord_roles_let_people_in(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, yo_allowed_users="telegram:@alice, discord:role:Friends")
    async with started(settings) as assistant:
        async def says(message: Message) -> list[str]:
            channel = RecordingChannel()
            await assistant.handle(message, channel)
            return channel.texts

        assert await says(Message("telegram", "1", "1", text="/concepts", user_handle="Alice")) == [
            "You haven't taught me anyone yet. Try /teach Bo."]
        assert await says(Message("telegram", "2", "2", text="/concepts", user_handle="mallory")) == [REFUSED]
        friend = Message("discord", "10", "guild", is_group=True, text="/concepts", roles=("555", "Friends"))
        assert await says(friend) == ["You haven't taught me anyone yet. Try /teach Bo."]
        stranger = Message("discord", "11", "guild", is_group=True, text="/concepts", roles=("556", "Visitors"))
        assert await says(stranger) == [REFUSED]
        users = await assistant.store.db.fetch_all("SELECT platform, platform_user_id FROM users ORDER BY id")
        assert [(u["platform"], u["platform_user_id"]) for u in users] == [("telegram", "1"), ("discord", "10")]


# -- the admin commands -------------------------------------------------------------------------


async def test_admin_commands_are_for_admins_only(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, yo_admins="test:carol")  # no allowlist: open to everyone
    async with started(settings) as assistant:
        ana = Person(assistant, "ana")
        for command in ("/status", "/pause", "/resume", "/block test:carol", "/unblock test:ana"):
            await ana.says(command)
            assert ana.channel.last.text == ADMINS_ONLY
        assert not await assistant.store.training_paused()


async def test_status_shows_the_numbers(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, yo_admins="test:carol")
    async with started(settings) as assistant:
        await taught(Person(assistant, "ana"))
        carol = Person(assistant, "carol")
        await carol.says("/status")
        text = carol.channel.last.text
        assert "Training: on" in text and "Queue: 0 waiting, 0 training" in text
        assert "Users: 2 · concepts: 1 (1 trained) · photos: 3" in text, text
        assert "Workers: not reported" in text and "Blocked: 0" in text
        assert re.search(r"Data folder: [\d.]+ (KB|MB) \(", text), text


async def test_pause_stops_new_trainings_and_resume_runs_them(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, yo_admins="test:carol")
    models = FakeModelService()
    async with started(settings, models=models) as assistant:
        ana, carol = Person(assistant, "ana"), Person(assistant, "carol")
        await carol.says("/pause")
        assert carol.channel.last.text.startswith("Training is paused")
        await ana.says("/teach Bo", *[photo(ORANGE, seed=i) for i in range(3)])
        await asyncio.sleep(0.5)  # ten polls of the queue
        assert models.trained == [] and [j.state for j in await assistant.store.list_jobs()] == ["queued"]
        await carol.says("/status")
        assert "Training: paused" in carol.channel.last.text and "Queue: 1 waiting" in carol.channel.last.text

    async with started(settings, models=models) as assistant:  # the pause is kept in the store
        await asyncio.sleep(0.3)
        assert models.trained == []
        ana, carol = Person(assistant, "ana"), Person(assistant, "carol")
        await carol.says("/resume")
        assert carol.channel.last.text == "Training is on again."
        await wait_for(lambda: len(models.trained) == 1)
        for _ in range(100):  # the job row is finished just after training returns
            if [j.state for j in await assistant.store.list_jobs()] == ["done"]:
                break
            await asyncio.sleep(0.05)
        assert [j.state for j in await assistant.store.list_jobs()] == ["done"]


async def test_a_training_already_running_finishes_after_a_pause(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, yo_admins="test:carol")
    models = FakeModelService(train_steps=5, step_seconds=0.1)
    async with started(settings, models=models) as assistant:
        ana, carol = Person(assistant, "ana"), Person(assistant, "carol")
        await ana.says("/teach Bo", *[photo(ORANGE, seed=i) for i in range(3)])
        await wait_for(lambda: models.trained)
        await carol.says("/pause")
        await wait_for(lambda: any("Bo is ready!" in t for t in ana.channel.texts))
        await ana.says("/teach Kiwi", *[photo((20, 200, 40), seed=10 + i) for i in range(3)])
        await asyncio.sleep(0.3)
        assert len(models.trained) == 1, "the second waits for /resume"


async def test_block_refuses_a_user_and_unblock_lets_them_back(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, yo_admins="test:carol")
    async with started(settings) as assistant:
        ana, carol = Person(assistant, "ana"), Person(assistant, "carol")
        await ana.says("/concepts")
        await carol.says("/block test:ana")
        assert carol.channel.last.text.startswith("Blocked test:ana")
        await ana.says("/concepts")
        await ana.says("is Bo here?")
        assert ana.channel.texts[1:] == [REFUSED]
        assert await assistant.store.list_blocked() == [("test", "ana")]
        await carol.says("/block carol")
        assert "is an admin" in carol.channel.last.text
        await carol.says("/unblock ana")  # a bare id: on the admin's own platform
        assert carol.channel.last.text == "Unblocked test:ana."
        await ana.says("/concepts")
        assert ana.channel.last.text == "You haven't taught me anyone yet. Try /teach Bo."


async def test_blocks_are_seen_by_every_assistant_on_the_data_folder(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, yo_admins="test:carol")
    clock = Clock()
    async with started(settings, clock) as first, started(settings, clock) as second:
        bob = Person(second, "bob")
        await bob.says("/concepts")  # the second assistant has read the (empty) blocked set now
        await Person(first, "carol").says("/block test:bob")
        await bob.says("/concepts")
        assert bob.channel.texts[-1] != REFUSED, "read at most BLOCKS_FRESH_SECONDS ago, so not yet"
        clock.now += BLOCKS_FRESH_SECONDS + 0.1
        await bob.says("/concepts")
        assert bob.channel.texts[-1] == REFUSED


async def test_a_photo_from_someone_not_allowed_is_not_even_read(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, yo_allowed_users="test:ana")
    async with started(settings) as assistant:
        bob = Person(assistant, "bob")
        await bob.says("", Photo(b"not an image at all"))
        assert bob.channel.texts == [REFUSED], "refused before the photo is looked at"


def test_admin_words_are_commands_but_still_free_as_names() -> None:
    from bot.assistant.intents import Kind, parse
    from bot.assistant.names import clean_name

    assert parse("/status", has_photo=False).kind is Kind.STATUS
    assert parse("/block telegram:42", has_photo=False).argument == "telegram:42"
    assert parse("/unblock@YoBot 42", has_photo=False).kind is Kind.UNBLOCK
    assert clean_name("Status") == "Status", "a dog may be called Status"


# -- what the transports say about the sender ----------------------------------------------------


async def test_telegram_messages_carry_the_username(tmp_path: Path) -> None:
    from tests.fakes.telegram_bot import RecordingAssistant, telegram_bot, telegram_settings

    assistant = RecordingAssistant()
    async with telegram_bot(telegram_settings(tmp_path / "data"), assistant) as (api, _):
        api.text(api.user(101, "Ana", "ana_b"), "hello")
        await api.wait_for_text(101, "heard: hello")
    assert assistant.messages[0].user_handle == "ana_b"


async def test_discord_server_messages_carry_username_and_roles() -> None:
    from bot.discord.inbound import roles_of
    from tests.fakes.discord_harness import ScriptedAssistant, connected

    assistant = ScriptedAssistant()
    async with connected(assistant) as (server, _):
        alice = server.user("alice")
        await server.say(alice, "hello", mention=True)
        await server.wait_for(lambda: assistant.messages)
    message = assistant.messages[0]
    assert message.user_handle == "alice"
    assert str(server.guild_id) in message.roles and "@everyone" in message.roles, "the member's roles"

    class Role:
        def __init__(self, id: int, name: str) -> None:
            self.id, self.name = id, name

    class Member:
        roles = [Role(5, "Friends")]

    assert roles_of(Member()) == ("5", "Friends") and roles_of(object()) == (), "a DM's author has none"
