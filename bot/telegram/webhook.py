"""Receiving updates by webhook (YO_WEBHOOK_URL set) instead of long polling.

Telegram POSTs each update to YO_WEBHOOK_URL; put a TLS-terminating reverse proxy in front
that forwards that URL's path to YO_WEBHOOK_LISTEN:YO_WEBHOOK_PORT. Every request must carry
the secret token Telegram was given (YO_WEBHOOK_SECRET, or one derived from the bot token
when unset); anything else is refused.

Served with aiohttp (already a dependency) rather than PTB's tornado-based webhook server,
which needs the extra `python-telegram-bot[webhooks]`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update
from telegram.ext import Application

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_secret(configured: str, token: str) -> str:
    """The secret Telegram echoes in every webhook request: the configured one, or a stable
    one derived from the bot token (Telegram allows A-Z, a-z, 0-9, _ and -, up to 256)."""
    return configured or hashlib.sha256(f"yo-webhook:{token}".encode()).hexdigest()[:48]


class WebhookServer:
    """An aiohttp server that feeds Telegram's webhook requests into the Application."""

    def __init__(self, application: Application, url: str, secret: str, listen: str, port: int,  # type: ignore[type-arg]
                 allowed_updates: list[str] | None = None) -> None:
        self.application = application
        self.url = url
        self.secret = secret
        self.listen = listen
        self.port = port
        self.path = urlsplit(url).path or "/"
        self.allowed_updates = allowed_updates
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen, then tell Telegram where to send updates."""
        app = web.Application()
        app.router.add_post(self.path, self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.listen, self.port).start()
        await self.application.bot.set_webhook(self.url, secret_token=self.secret,
                                               allowed_updates=self.allowed_updates)
        log.info("receiving Telegram updates at %s (listening on %s:%s%s)", self.url, self.listen,
                 self.port, self.path)

    async def stop(self) -> None:
        """Stop listening. The webhook stays set: Telegram keeps updates until we are back."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, ""), self.secret):
            log.warning("webhook request without the right secret from %s", request.remote)
            return web.Response(status=403)
        try:
            data = await request.json()
            update = Update.de_json(data, self.application.bot)
        except (json.JSONDecodeError, ValueError, TypeError, KeyError) as error:
            log.warning("unreadable webhook request: %s", error)
            return web.Response(status=400)
        await self.application.update_queue.put(update)
        return web.Response()
