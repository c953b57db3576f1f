"""Running Yo's Telegram adapter against the fake Bot API, for tests and benchmarks.

`telegram_bot(...)` builds the real Application (bot.telegram.build_application) over a
`FakeBotAPI` and serves it with long polling for the duration of an `async with` block.
`RecordingAssistant` is a stand-in for the assistant that records what reaches it, for
tests of the adapter alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from telegram.ext import Application

from bot.assistant.messages import ButtonPress, Channel, Message, Reply
from bot.settings import Settings
from bot.telegram import build_application, serving
from tests.fakes.telegram_api import FakeBotAPI

TOKEN = "123456:TEST-token"

Responder = Callable[[Message, Channel], Awaitable[None]]


def telegram_settings(data_dir: Path, **overrides: Any) -> Settings:
    return Settings(yo_data_dir=data_dir, yo_model="fake/colour-model", telegram_bot_token=TOKEN,  # type: ignore[call-arg]
                    _env_file=None, **overrides)


class RecordingAssistant:
    """Records every Message and ButtonPress; answers "heard: TEXT (N photos)" unless
    `respond` says otherwise."""

    def __init__(self, respond: Responder | None = None) -> None:
        self.messages: list[Message] = []
        self.presses: list[ButtonPress] = []
        self.notifiers: dict[str, Callable[[str], Awaitable[Channel]]] = {}
        self.respond = respond

    async def handle(self, message: Message, channel: Channel) -> None:
        self.messages.append(message)
        if self.respond is not None:
            await self.respond(message, channel)
        else:
            await channel.send(Reply(f"heard: {message.text} ({len(message.photos)} photos)"))

    async def press(self, press: ButtonPress, channel: Channel) -> None:
        self.presses.append(press)
        await channel.send(Reply(f"pressed: {press.data}"))

    def register_notifier(self, platform: str, open_channel: Callable[[str], Awaitable[Channel]]) -> None:
        self.notifiers[platform] = open_channel


@asynccontextmanager
async def telegram_bot(settings: Settings, assistant: Any, api: FakeBotAPI | None = None, *,
                       album_wait: float = 0.2, edit_interval: float = 1.0,
                       **build: Any) -> AsyncIterator[tuple[FakeBotAPI, Application]]:  # type: ignore[type-arg]
    """The adapter over `assistant`, polling a fake Telegram, until the block ends."""
    api = api or FakeBotAPI()
    application = build_application(settings, assistant, request=api.request(), updates_request=api.request(),
                                     album_wait=album_wait, edit_interval=edit_interval, **build)
    async with serving(application, settings, poll_timeout=1.0):
        yield api, application
