"""One command table: Telegram's menus, Discord's slash commands and /help are all made from it,
and every command means the same on Telegram, Discord and the terminal."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bot.assistant.commands import (
    BY_WORD,
    COMMANDS,
    MAX_DRAWINGS,
    MAX_SEED,
    PHOTOS_PER_MESSAGE,
    ArgType,
    Argument,
    Audience,
    Command,
    admin_commands,
    menu,
    user_commands,
)
from bot.assistant.intents import Intent, Kind, draw_values, parse
from bot.assistant.texts import ADMIN_HELP, HELP
from bot.discord import commands as discord_commands
from bot.discord.inbound import MAX_ATTACHMENTS
from tests.fakes.discord_harness import ScriptedAssistant, connected
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.telegram_bot import RecordingAssistant, telegram_bot, telegram_settings

EXAMPLES = {ArgType.CONCEPT: "Bo", ArgType.NAME: "Bobby", ArgType.TEXT: "Bo on a beach",
            ArgType.ACCOUNT: "telegram:12345"}


def example_values(command: Command) -> dict[str, Any]:
    """A value for each of `command`'s arguments (photos left out)."""
    return {a.name: a.low if a.type is ArgType.INTEGER else EXAMPLES[a.type]
            for a in command.arguments if a.type is not ArgType.PHOTOS}


def expected_kind(command: Command) -> Kind:
    return Kind.ASK if command.kind is Kind.ASK else command.kind  # "/ask Bo on a beach": a plain question


# ---- the table itself ----------------------------------------------------------------------------------

def test_the_table_is_consistent() -> None:
    names = [word for c in COMMANDS for word in (c.name, *c.aliases)]
    assert len(names) == len(set(names)), "every command word names one command"
    assert len({c.kind for c in COMMANDS}) == len(COMMANDS), "one command per kind"
    for command in COMMANDS:
        assert re.fullmatch(r"[a-z]{1,32}", command.name)  # both platforms' rule for names
        assert 3 <= len(command.help) <= 100, command.name  # Telegram's and Discord's limits
        assert isinstance(command.example, str) and "\n" not in command.usage
        for argument in command.arguments:
            assert 1 <= len(argument.description) <= 100
            if argument.type is ArgType.INTEGER:
                assert argument.low is not None and argument.high is not None


def test_every_command_word_parses_to_its_kind() -> None:
    for word, command in BY_WORD.items():
        assert parse(f"/{word}", has_photo=False).kind is command.kind


def test_limits_are_the_same_everywhere() -> None:
    teach, draw = BY_WORD["teach"], BY_WORD["draw"]
    assert teach.argument("photos").high == PHOTOS_PER_MESSAGE == MAX_ATTACHMENTS == 10
    assert (draw.argument("count").low, draw.argument("count").high) == (1, MAX_DRAWINGS) == (1, 4)
    # the typed words make the same typed values as the slash command's options
    for count in range(1, MAX_DRAWINGS + 1):
        for seed in (None, 0, MAX_SEED):
            values: dict[str, str | int] = {"text": "Bo on a beach", "count": count}
            if seed is not None:
                values["seed"] = seed
            words = f"{count} Bo on a beach" + (f" seed {seed}" if seed is not None else "")
            typed, parsed = Intent.of_command(draw, values), parse(f"/draw {words}", has_photo=False)
            assert (parsed.kind, parsed.values) == (typed.kind, typed.values)
            assert parse(f"draw {count} pictures of Bo on a beach" + (f" seed {seed}" if seed is not None else ""),
                         has_photo=False).values == values
    assert draw_values(f"{MAX_DRAWINGS + 1} Bo")["count"] == 1, "a count over the limit is not taken as one"


# ---- /help --------------------------------------------------------------------------------------------

def commands_in(text: str) -> set[str]:
    return set(re.findall(r"^/(\w+)", text, re.MULTILINE))


def test_help_lists_exactly_the_users_commands() -> None:
    assert commands_in(HELP) == {c.name for c in user_commands()}
    assert set(re.findall(r"/(\w+)", HELP)) <= set(BY_WORD), "every command HELP mentions exists"
    assert commands_in(ADMIN_HELP) == {c.name for c in admin_commands()}
    for command in COMMANDS:
        assert f"{command.usage} — {command.help}" in (ADMIN_HELP if command.audience is Audience.ADMINS else HELP)


# ---- Telegram -------------------------------------------------------------------------------------------

async def test_telegram_menus_are_the_tables(tmp_path: Path) -> None:
    async with telegram_bot(telegram_settings(tmp_path / "data"), RecordingAssistant()) as (api, _):
        menus = {scope: [(c["command"], c["description"]) for c in commands] for scope, commands in api.menus.items()}
    expected = {c.name for c in COMMANDS if c.audience is not Audience.ADMINS}
    assert set(menus) == {"all_private_chats", "all_group_chats"}
    assert menus["all_private_chats"] == [(c.name, c.help) for c in menu(groups=False)]
    assert menus["all_group_chats"] == [(c.name, c.help) for c in menu(groups=True)]
    assert {name for commands in menus.values() for name, _ in commands} == expected


@pytest.mark.parametrize("command", user_commands(), ids=lambda c: c.name)
async def test_each_command_on_telegram_and_the_terminal(command: Command, tmp_path: Path) -> None:
    text = f"/{command.name} {' '.join(str(v) for v in example_values(command).values())}".strip()
    assistant = RecordingAssistant()
    async with telegram_bot(telegram_settings(tmp_path / "data"), assistant) as (api, _):
        api.text(api.user(101), text)
        await api.wait_for(lambda: assistant.messages)
    typed = assistant.messages[0].text
    # the terminal hands the assistant the line as typed, as Telegram does
    assert parse(typed, has_photo=False).kind is expected_kind(command)


# ---- Discord --------------------------------------------------------------------------------------------

def option_of(argument: Argument) -> dict[str, Any]:
    return {"type": 4 if argument.type is ArgType.INTEGER else 3, "name": argument.name,
            "required": argument.required}


async def test_discord_registers_exactly_the_tables_commands() -> None:
    async with connected(ScriptedAssistant()) as (server, _):
        registered = {c["name"]: c for c in server.commands}
    assert set(registered) == {c.name for c in user_commands()}
    for command in user_commands():
        options = registered[command.name]["options"]
        for argument in command.arguments:
            if argument.type is ArgType.PHOTOS:
                photos = [o for o in options if o["type"] == 11]
                assert len(photos) == argument.high
                continue
            option = next(o for o in options if o["name"] == argument.name)
            assert {k: option[k] for k in ("type", "name", "required")} == option_of(argument)
            if argument.type is ArgType.INTEGER:
                assert (option["min_value"], option["max_value"]) == (argument.low, argument.high)
        contexts = set(registered[command.name]["contexts"])
        assert contexts == {Audience.EVERYONE: {0, 1}, Audience.PRIVATE: {1}, Audience.GROUPS: {0}}[command.audience]
    draw = registered["draw"]["options"]
    assert [(o["name"], o.get("min_value"), o.get("max_value")) for o in draw] == \
        [("text", None, None), ("count", 1, 4), ("seed", 0, MAX_SEED)]


@pytest.mark.parametrize("command", user_commands(), ids=lambda c: c.name)
async def test_each_command_on_discord(command: Command) -> None:
    assistant = ScriptedAssistant()
    values = example_values(command)
    async with connected(assistant) as (server, _):
        alice = server.user("alice")
        channel = server.general if command.audience is Audience.GROUPS else server.dm(alice)
        await server.slash(alice, command.name, channel=channel, **values)
        await server.wait_for(lambda: assistant.messages)
    intent = assistant.intents[0]
    if command.kind is Kind.ASK:  # the question goes on as words, read as if typed
        assert intent is None and assistant.messages[0].text == values["text"]
        return
    assert intent == Intent.of_command(command, values) and intent.kind is command.kind
    # the same words typed on Telegram or in the terminal make the same intent
    typed = parse(f"/{command.name} {intent.argument}".strip(), has_photo=False)
    assert (typed.kind, typed.argument) == (intent.kind, intent.argument)


async def test_discord_syncs_its_commands_only_when_the_table_changed(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def same_bot() -> FakeDiscord:
        server = FakeDiscord()
        server.application_id = first.application_id  # the same application, restarted
        return server

    first = FakeDiscord()
    async with connected(ScriptedAssistant(), data_dir=tmp_path, server=first) as (server, _):
        assert server.commands, "first start: registered"
    assert (tmp_path / "discord-commands.sha256").is_file()
    async with connected(ScriptedAssistant(), data_dir=tmp_path, server=same_bot()) as (server, _):
        assert server.commands == [] and not server.unknown, "the same table: not registered again"
        interaction = await server.slash(server.user("alice"), "concepts")  # the commands registered before work
        await server.wait_for_text("got", interaction=interaction)
    changed = discord_commands.payload()
    changed[0]["description"] = "Say hello!"
    monkeypatch.setattr("bot.discord.client.payload", lambda: changed)
    async with connected(ScriptedAssistant(), data_dir=tmp_path, server=same_bot()) as (server, _):
        assert server.commands[0]["description"] == "Say hello!", "a changed table: registered again"
    async with connected(ScriptedAssistant(), data_dir=tmp_path) as (server, _):
        assert server.commands, "another application (another token): registered there too"
