"""The assistant's buttons as Discord buttons, and presses on them back as `ButtonPress`es.

Each button's custom id is "yo:" + the assistant's button data. Presses are matched by
that template (a discord.py DynamicItem registered on the client), not by a view kept in
memory, so buttons keep working after the bot restarts and nothing piles up per message.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import discord

from bot.assistant.messages import Button

PREFIX = "yo:"
MAX_ROWS = 5
MAX_PER_ROW = 5
MAX_LABEL = 80


class PressHandler(Protocol):
    async def on_assistant_button(self, interaction: discord.Interaction[Any], data: str) -> None: ...


def _style(label: str) -> discord.ButtonStyle:
    if label.startswith("✅"):
        return discord.ButtonStyle.success
    if label.startswith("❌"):
        return discord.ButtonStyle.danger
    return discord.ButtonStyle.secondary


class AssistantButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=re.compile(r"yo:(?P<data>.+)", re.DOTALL)):
    def __init__(self, label: str, data: str, *, row: int | None = None) -> None:
        super().__init__(discord.ui.Button(label=(label or "·")[:MAX_LABEL], custom_id=PREFIX + data,
                                           style=_style(label)), row=row)
        self.data = data

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> "AssistantButton":
        label = getattr(item, "label", None) or ""
        return cls(label, match["data"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        client: PressHandler = interaction.client
        await client.on_assistant_button(interaction, self.data)


def make_view(rows: list[list[Button]], link: str | None = None) -> discord.ui.View | None:
    """A view of the buttons (5 rows of 5 at most), plus a link button; None when there are none."""
    if not rows and not link:
        return None
    view = discord.ui.View(timeout=None)
    used = 0
    for row in rows[:MAX_ROWS]:
        if not row:
            continue
        for button in row[:MAX_PER_ROW]:
            view.add_item(AssistantButton(button.label, button.data, row=used))
        used += 1
    if link and used < MAX_ROWS:
        view.add_item(discord.ui.Button(label="Open", url=link, row=used))
    # Presses reach AssistantButton through the client's dynamic items; a stopped view is not
    # kept in discord.py's view store (which would also dispatch them, and grow per message).
    view.stop()
    return view
