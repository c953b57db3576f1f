"""The Telegram adapter over real HTTP on 127.0.0.1: PTB's own HTTP client (httpx) polling a
fake Bot API server, files fetched from its file URL; and updates arriving by webhook."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.assistant import Assistant
from bot.telegram import build_application, serving
from bot.telegram.webhook import webhook_secret
from tests.bot.running import running
from tests.fakes.models import FakeModelService
from tests.fakes.photos import photo
from tests.fakes.telegram_api import FakeBotAPI, FakeBotAPIServer
from tests.fakes.telegram_bot import TOKEN, telegram_settings

ANA = 301
ORANGE = (220, 120, 30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def assistant(tmp_path: Path) -> AsyncIterator[Assistant]:
    async with running(telegram_settings(tmp_path / "data"), FakeModelService()) as assistant:
        yield assistant


async def test_polling_over_http(tmp_path: Path, assistant: Assistant) -> None:
    api = FakeBotAPI()
    ana = api.user(ANA)
    async with FakeBotAPIServer(api) as server:
        settings = telegram_settings(tmp_path / "data", telegram_api_url=server.base_url)
        application = build_application(settings, assistant, album_wait=0.3)
        assert application.bot.base_file_url == f"{server.base_file_url}{TOKEN}"
        async with serving(application, settings, poll_timeout=1.0):
            api.album(ana, [photo(ORANGE, seed=i) for i in range(3)], "/teach Bo")
            await api.wait_for_text(ANA, "Bo is ready!", timeout=10)
            api.photo(ana, photo(ORANGE, seed=7), "is Bo in this?")
            answer = await api.wait_for_text(ANA, "Yes, Bo is in this photo")
            api.press(ana, answer, answer.button("✅ Right")["callback_data"])
            await api.wait_for_text(ANA, "Thanks! I'll remember this is Bo.")
    assert len(api.calls_of("download")) == 4
    assert api.calls_of("sendPhoto")[0].files, "the collage was uploaded as multipart"


@pytest.mark.parametrize("secret", ["s3cret-token", ""])
async def test_webhook(tmp_path: Path, assistant: Assistant, secret: str) -> None:
    api = FakeBotAPI()
    ana = api.user(ANA)
    port = free_port()
    async with FakeBotAPIServer(api) as server:
        settings = telegram_settings(tmp_path / "data", telegram_api_url=server.base_url,
                                     yo_webhook_url=f"http://127.0.0.1:{port}/telegram/hook",
                                     yo_webhook_secret=secret, yo_webhook_listen="127.0.0.1", yo_webhook_port=port)
        application = build_application(settings, assistant)
        async with serving(application, settings):
            assert api.webhook == {"url": f"http://127.0.0.1:{port}/telegram/hook",
                                   "secret_token": webhook_secret(secret, TOKEN)}
            api.text(ana, "/help")
            await api.wait_for_text(ANA, "Teach me: /teach Bo")
            async with aiohttp.ClientSession() as session:
                forged = {"update_id": 99, "message": {"message_id": 50, "date": 0, "text": "/forget Bo",
                                                       "chat": api.chats[ANA], "from": ana}}
                async with session.post(api.webhook["url"], json=forged,
                                        headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as response:
                    assert response.status == 403
        assert not api.calls_of("getUpdates"), "no polling while a webhook is set"
        assert server.webhook_responses == [200]
