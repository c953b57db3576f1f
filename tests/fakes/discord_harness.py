"""The real discord.py client of Yo connected to the fake Discord, for tests."""

from __future__ import annotations

import asyncio
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

from bot.assistant.access import Who
from bot.assistant.intents import Intent
from bot.assistant.messages import ButtonPress, Channel, Message, Reply
from bot.discord.app import build_client
from bot.discord.client import AssistantLike, YoClient
from bot.discord.outbound import EditGate
from bot.settings import Settings
from tests.fakes.discord_server import TOKEN, FakeDiscord


@asynccontextmanager
async def connected(assistant: AssistantLike, *, message_content: bool = False, gateway_from_api: bool = False,
                    server: FakeDiscord | None = None, edit_interval: float | None = None,
                    data_dir: Path | None = None) -> AsyncIterator[tuple[FakeDiscord, YoClient]]:
    """A fake Discord and Yo's client logged in to it, READY, with the server in its cache.

    `edit_interval`: the seconds between edits of one message (Discord's pace, made faster);
    `data_dir`: the client's data folder (where it keeps the slash commands' hash; a fresh one by default)."""
    server = await (server or FakeDiscord()).start()
    scratch = tempfile.TemporaryDirectory(prefix="yo-discord-") if data_dir is None else None
    data_dir = Path(scratch.name) if scratch is not None else data_dir
    settings = Settings(_env_file=None, discord_bot_token=TOKEN, discord_api_url=server.api_url,  # type: ignore[call-arg]
                        discord_gateway_url="" if gateway_from_api else server.gateway_url,
                        discord_message_content=message_content, yo_data_dir=data_dir)
    client = build_client(settings, assistant, guild_ready_timeout=0.01)
    if edit_interval is not None:
        client.gate = EditGate(interval=edit_interval)
    task = asyncio.create_task(client.start(settings.discord_bot_token))
    try:
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait({ready, task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()  # raises what stopped the client
        if ready not in done:
            raise AssertionError(f"the client never got ready; unknown routes: {server.unknown}")
        yield server, client
    finally:
        await client.close()
        try:
            await asyncio.wait_for(task, 5)
        except (asyncio.CancelledError, Exception):
            pass
        await server.stop()
        if scratch is not None:
            scratch.cleanup()


Script = Callable[[Message, Channel], Awaitable[None]]


class ScriptedAssistant:
    """Stands in for the assistant where a test is about translation only: records what
    arrives, and answers with `script` (by default: what it got)."""

    def __init__(self, script: Script | None = None) -> None:
        self.messages: list[Message] = []
        self.intents: list[Intent | None] = []  # what each message came with: a slash command's typed intent
        self.presses: list[tuple[ButtonPress, Channel]] = []
        self.notifiers: dict[str, Callable[[str], Awaitable[Channel]]] = {}
        self.script = script or self.echo

    def register_notifier(self, platform: str, open_channel: Callable[[str], Awaitable[Channel]]) -> None:
        self.notifiers[platform] = open_channel

    async def handle(self, message: Message, channel: Channel, intent: Intent | None = None) -> None:
        self.messages.append(message)
        self.intents.append(intent)
        await self.script(message, channel)

    @staticmethod
    async def echo(message: Message, channel: Channel) -> None:
        await channel.send(Reply(f"got {message.text!r} with {len(message.photos)} photo(s)"
                                 + (f" and {len(message.reply_photos)} replied" if message.reply_photos else "")))

    async def own_names(self, who: Who) -> list[str]:
        return []

    async def press(self, press: ButtonPress, channel: Channel) -> None:
        self.presses.append((press, channel))
        await channel.send(Reply(f"pressed {press.data}"))
