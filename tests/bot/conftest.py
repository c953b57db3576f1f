from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator, Callable

import pytest

from bot.assistant import Assistant, ButtonPress, Message, Photo
from bot.settings import Settings
from tests.bot.running import running
from tests.fakes.chat import RecordingChannel
from tests.fakes.models import FakeModelService


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(yo_data_dir=tmp_path / "data", yo_model="fake/colour-model", _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
async def assistant(settings: Settings) -> AsyncIterator[Assistant]:
    async with running(settings, FakeModelService()) as assistant:
        yield assistant


class Person:
    """One user talking to the assistant, in a private chat by default."""

    def __init__(self, assistant: Assistant, user_id: str, chat_id: str | None = None, *, group: bool = False,
                 platform: str = "test") -> None:
        self.assistant = assistant
        self.platform = platform
        self.user_id = user_id
        self.chat_id = chat_id or user_id
        self.group = group
        self.channel = RecordingChannel()

    async def says(self, text: str = "", *photos: bytes | Photo, addressed: bool = True,
                   reply_photos: tuple[bytes, ...] = ()) -> RecordingChannel:
        message = Message(self.platform, self.user_id, self.chat_id, is_group=self.group, text=text,
                          photos=tuple(p if isinstance(p, Photo) else Photo(p) for p in photos), addressed=addressed,
                          reply_photos=tuple(Photo(p) for p in reply_photos))
        await self.assistant.handle(message, self.channel)
        return self.channel

    async def presses(self, data: str) -> RecordingChannel:
        await self.assistant.press(ButtonPress(self.platform, self.user_id, self.chat_id, data, is_group=self.group),
                                   self.channel)
        return self.channel


@pytest.fixture
def person(assistant: Assistant) -> Callable[..., Person]:
    return lambda user_id, chat_id=None, group=False: Person(assistant, user_id, chat_id, group=group)


async def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll until `condition()` is true: training runs in the background."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)
