"""A started assistant for a test, closed after it."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from bot.app import build_assistant
from bot.assistant import Assistant
from bot.settings import Settings
from serving.protocol import ModelService


@asynccontextmanager
async def running(settings: Settings, models: ModelService | None = None) -> AsyncIterator[Assistant]:
    """The assistant over settings' data folder (`models` or the one settings name), training
    jobs picked up within 50 ms."""
    assistant = await build_assistant(settings, models)
    assistant.services.queue.poll_seconds = 0.05
    await assistant.start()
    try:
        yield assistant
    finally:
        await assistant.close()
