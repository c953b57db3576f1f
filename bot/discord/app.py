"""`yo run` on Discord: the client for the settings, run until cancelled."""

from __future__ import annotations

from typing import Any

import discord

from bot.settings import Settings

from .client import AssistantLike, YoClient


class DiscordNotStarted(SystemExit):
    """The bot could not connect; the message says why and what to change."""


# In the data folder: the hash of the slash commands last registered (see commands.py).
COMMANDS_RECORD = "discord-commands.sha256"


def build_client(settings: Settings, assistant: AssistantLike, **options: Any) -> YoClient:
    options.setdefault("commands_record", settings.yo_data_dir / COMMANDS_RECORD)
    return YoClient(assistant, message_content=settings.discord_message_content,
                    api_url=settings.discord_api_url, gateway_url=settings.discord_gateway_url, **options)


async def run_discord(settings: Settings, assistant: AssistantLike) -> None:
    """Connect with DISCORD_BOT_TOKEN and answer until cancelled (or the connection is refused)."""
    client = build_client(settings, assistant)
    async with client:
        try:
            await client.start(settings.discord_bot_token)
        except discord.LoginFailure as error:
            raise DiscordNotStarted(f"Discord refused DISCORD_BOT_TOKEN ({error}).") from error
        except discord.PrivilegedIntentsRequired as error:
            raise DiscordNotStarted(
                "DISCORD_MESSAGE_CONTENT=true asks for the Message Content intent, which this bot may not use: "
                "switch it on under Bot → Privileged Gateway Intents in the Discord developer portal, "
                "or unset DISCORD_MESSAGE_CONTENT (mentions and DMs work without it).") from error
