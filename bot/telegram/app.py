"""Building and running Yo's Telegram bot.

`build_application` returns a python-telegram-bot `Application` talking to the Bot API at
TELEGRAM_API_URL (the public one by default, or a local Bot API server), with
  - a rate limiter that waits out Telegram's flood limits and retries after "retry after N",
  - updates of different users handled at once, each user's own in order,
  - the bot's command menus (setMyCommands) set on start, for private chats and for groups,
    from the assistant's command table,
  - an error handler that logs what failed and only ever shows the user a short apology.

`run_telegram` serves it until cancelled: long polling by default, a webhook when
YO_WEBHOOK_URL is set. (It runs inside `yo run`'s event loop next to other transports,
so it uses PTB's async start/stop sequence rather than `Application.run_polling`, which
owns and closes its own event loop.)
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from telegram import BotCommand, BotCommandScope, BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    BaseRateLimiter,
    CallbackQueryHandler,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from ..assistant.commands import menu
from ..assistant.messages import Channel
from ..operations import connected
from ..settings import Settings
from ..turns import KeyedLocks
from .albums import AlbumCollector
from .channel import Channels, EditThrottle
from .handlers import (
    CHAT_CONTENT,
    IN_ALBUM,
    NEW_MESSAGES,
    UNSUPPORTED,
    AlbumItems,
    AssistantAPI,
    ButtonPresses,
    ChatMessages,
    Conversation,
    UnsupportedMedia,
    report_error,
)
from .incoming import Fetcher
from .ordering import OrderedPerUserProcessor
from .webhook import WebhookServer, webhook_secret

log = logging.getLogger(__name__)



def command_menus() -> list[tuple[BotCommandScope, list[BotCommand]]]:
    """The command menu of private chats and of groups, from the command table (admins' commands
    are in neither: they type them)."""
    return [(scope, [BotCommand(c.name, c.help) for c in menu(groups=groups)])
            for scope, groups in ((BotCommandScopeAllPrivateChats(), False), (BotCommandScopeAllGroupChats(), True))]


ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
NOTIFIER_WAIT = 60.0  # seconds a late "Bo is ready" waits for the bot to come up


def file_url(api_url: str) -> str:
    """The Bot API's file URL for an API URL: ".../bot" → ".../file/bot" (public or local server)."""
    head, sep, tail = api_url.rpartition("/bot")
    if not sep:
        return api_url.rstrip("/") + "/file/bot"
    return f"{head}/file/bot{tail}"


class _Lifecycle:
    """post_init / post_stop of the Application: commands menu, readiness, last deliveries."""

    def __init__(self, conversation: Conversation, albums: AlbumCollector, throttle: EditThrottle) -> None:
        self.conversation = conversation
        self.albums = albums
        self.throttle = throttle
        self.ready = asyncio.Event()

    async def post_init(self, application: Application) -> None:  # type: ignore[type-arg]
        for scope, commands in command_menus():
            try:
                await application.bot.set_my_commands(commands, scope=scope)
            except TelegramError as error:  # the menu is a nicety; never fail start-up over it
                log.warning("setMyCommands (%s) failed: %s", scope.type, error)
        self.ready.set()

    async def post_stop(self, application: Application) -> None:  # type: ignore[type-arg]
        await self.albums.flush_all()
        await self.throttle.drain()

    async def open_channel(self, chat_id: str) -> Channel:
        """A channel to a chat by id, for messages the assistant sends later ("Bo is ready")."""
        await asyncio.wait_for(self.ready.wait(), NOTIFIER_WAIT)
        return self.conversation.channels.open(int(chat_id))


def build_application(settings: Settings, assistant: AssistantAPI, *,
                      request: BaseRequest | None = None,
                      updates_request: BaseRequest | None = None,
                      rate_limiter: BaseRateLimiter[Any] | None = None,
                      album_wait: float = 1.0,
                      edit_interval: float = 1.0) -> Application:  # type: ignore[type-arg]
    """The Telegram bot for `assistant`, configured from `settings`; serve it with `serving`.

    `request`/`updates_request` replace PTB's HTTP client (tests pass a fake Bot API);
    `album_wait` is how long after an album's latest photo it is handed on."""
    builder = (
        Application.builder()
        .token(settings.telegram_bot_token)
        .base_url(settings.telegram_api_url)
        .base_file_url(file_url(settings.telegram_api_url))
        .rate_limiter(rate_limiter or AIORateLimiter(max_retries=3))
    )
    locks = KeyedLocks()
    builder = builder.concurrent_updates(OrderedPerUserProcessor(locks))
    if request is not None:
        builder = builder.request(request)
    if updates_request is not None:
        builder = builder.get_updates_request(updates_request)
    application = builder.build()
    assert application.job_queue is not None, "python-telegram-bot[job-queue] is required"

    throttle = EditThrottle(edit_interval)
    conversation = Conversation(assistant, Channels(application.bot, throttle), Fetcher(application.bot))
    albums = AlbumCollector(application.job_queue, locks, conversation.deliver_album, wait=album_wait)
    conversation.albums = albums
    lifecycle = _Lifecycle(conversation, albums, throttle)
    application.post_init = lifecycle.post_init
    application.post_stop = lifecycle.post_stop

    application.add_handler(MessageHandler(NEW_MESSAGES & IN_ALBUM, AlbumItems(conversation, albums)))
    application.add_handler(MessageHandler(NEW_MESSAGES & CHAT_CONTENT, ChatMessages(conversation)))
    application.add_handler(MessageHandler(NEW_MESSAGES & filters.ChatType.PRIVATE & UNSUPPORTED,
                                           UnsupportedMedia()))
    application.add_handler(CallbackQueryHandler(ButtonPresses(conversation)))
    application.add_error_handler(partial(report_error, assistant=assistant))  # counted in /metrics
    assistant.register_notifier("telegram", lifecycle.open_channel)
    return application


@asynccontextmanager
async def serving(application: Application, settings: Settings, *,  # type: ignore[type-arg]
                  poll_timeout: float = 10.0) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """Run the bot for the duration of the block: long polling, or the webhook when
    YO_WEBHOOK_URL is set. The same start/stop steps as `Application.run_polling`,
    without taking over the event loop."""
    await application.initialize()
    webhook: WebhookServer | None = None
    try:
        if application.post_init is not None:
            await application.post_init(application)
        if settings.yo_webhook_url:
            webhook = WebhookServer(application, settings.yo_webhook_url,
                                    webhook_secret(settings.yo_webhook_secret, settings.telegram_bot_token),
                                    settings.yo_webhook_listen, settings.yo_webhook_port, ALLOWED_UPDATES)
            await webhook.start()
        else:
            assert application.updater is not None
            await application.updater.start_polling(timeout=dtm.timedelta(seconds=poll_timeout),
                                                    allowed_updates=ALLOWED_UPDATES)
        await application.start()
        log.info("Telegram bot @%s is up (%s)", application.bot.username,
                 "webhook" if webhook else "long polling")
        try:
            yield application
        finally:
            if webhook is not None:
                await webhook.stop()
            elif application.updater is not None and application.updater.running:
                await application.updater.stop()
            if application.running:
                await application.stop()
                if application.post_stop is not None:
                    await application.post_stop(application)
    finally:
        await application.shutdown()


async def run_telegram(settings: Settings, assistant: AssistantAPI) -> None:
    """`yo run`'s Telegram transport: serve until cancelled (the assistant is started by the caller)."""
    application = build_application(settings, assistant)
    try:
        async with serving(application, settings):
            with connected(assistant, "telegram"):  # /healthz: up while serving (bot/operations.py)
                await asyncio.Event().wait()
    except InvalidToken as error:
        raise SystemExit(f"Telegram did not accept TELEGRAM_BOT_TOKEN ({error}). "
                         "Check the token @BotFather gave you.") from error
