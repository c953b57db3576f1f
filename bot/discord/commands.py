"""Yo's slash commands, generated from the assistant's command table (bot/assistant/commands.py).

`payload()` is the JSON Discord's bulk-overwrite of global commands takes: one command per
table entry that isn't an admin's (admins type those: "/status" in a DM, "@Yo /status" in a
server), typed options with the table's limits, concept names offered as the user types.
`SyncRecord` keeps a hash of the last payload Discord accepted in the data folder, so that a
restart re-registers the commands only when the table changed (Discord rate-limits the call
and clients cache the old set for a while after each change).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from bot.assistant.commands import COMMANDS, ArgType, Audience, Command

log = logging.getLogger(__name__)

# Discord's numbers: option types, and where a command may be used.
STRING, INTEGER, ATTACHMENT = 3, 4, 11
GUILD, BOT_DM = 0, 1
GUILD_INSTALL = 0
_CONTEXTS = {Audience.EVERYONE: [GUILD, BOT_DM], Audience.PRIVATE: [BOT_DM], Audience.GROUPS: [GUILD]}


def slash_commands() -> list[Command]:
    """The table's commands that become slash commands (admins' commands don't)."""
    return [c for c in COMMANDS if c.audience is not Audience.ADMINS]


def _options(command: Command) -> list[dict[str, Any]]:
    required: list[dict[str, Any]] = []
    optional: list[dict[str, Any]] = []
    for argument in command.arguments:
        if argument.type is ArgType.PHOTOS:
            count = argument.high or 1
            names = [argument.name] if count == 1 else [f"photo{n}" for n in range(1, count + 1)]
            optional += [{"type": ATTACHMENT, "name": name, "required": False,
                          "description": argument.description if n == 0 else "Another photo"}
                         for n, name in enumerate(names)]
            continue
        option: dict[str, Any] = {"name": argument.name, "description": argument.description,
                                  "required": argument.required}
        if argument.type is ArgType.INTEGER:
            option.update(type=INTEGER, min_value=argument.low, max_value=argument.high)
        else:
            option.update(type=STRING, max_length=argument.max_length)
            if argument.type is ArgType.CONCEPT:
                option["autocomplete"] = True
        (required if argument.required else optional).append(option)
    return required + optional  # Discord wants the required options first


def payload() -> list[dict[str, Any]]:
    """Every slash command as Discord's bulk-overwrite takes it."""
    return [{"type": 1, "name": c.name, "description": c.help[:100], "options": _options(c),
             "contexts": _CONTEXTS[c.audience], "integration_types": [GUILD_INSTALL]}
            for c in slash_commands()]


def digest(commands: list[dict[str, Any]], application_id: int | None) -> str:
    """A hash of what is registered, and for which application (another token: sync again)."""
    text = json.dumps({"application": application_id, "commands": commands}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class SyncRecord:
    """The hash of the commands last registered, in a file in the data folder; no file: always sync."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def current(self, value: str) -> bool:
        try:
            return self.path is not None and self.path.read_text().strip() == value
        except OSError:
            return False

    def keep(self, value: str) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(value + "\n")
        except OSError as error:  # only costs a sync at the next start
            log.warning("could not keep the slash commands' hash in %s: %s", self.path, error)
