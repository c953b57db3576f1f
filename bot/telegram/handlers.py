"""The Telegram handlers: each turns one kind of update into a call on the assistant.

- `ChatMessages`: text, commands, a photo, an image file → `Assistant.handle`
- `AlbumItems`: one photo of an album → gathered by the `AlbumCollector`, then `Assistant.handle` once
- `ButtonPresses`: a press on an inline button → `Assistant.press`
- `UnsupportedMedia`: videos, stickers, voice notes in a private chat → a short "photos only"
- `report_error`: anything that went wrong → logged with its context, a short apology in the chat
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import telegram
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes, filters

from ..assistant.messages import ButtonPress, Channel, Message, Reply
from ..operations import report_failure
from .albums import AlbumCollector
from .channel import Channels
from .incoming import GROUP_TYPES, PLATFORM, Fetcher, Incoming, merge_album, read, to_message

log = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on my side. Please try again in a moment."
PHOTOS_ONLY = "I can only look at photos (sent as photos or as image files) and read text."


class AssistantAPI(Protocol):
    """What the adapter needs of `bot.assistant.Assistant`."""

    async def handle(self, message: Message, channel: Channel) -> None: ...

    async def press(self, press: ButtonPress, channel: Channel) -> None: ...

    def register_notifier(self, platform: str, open_channel: Callable[[str], Awaitable[Channel]]) -> None: ...


class _InAlbum(filters.MessageFilter):
    """Messages that belong to an album (a media group)."""

    def filter(self, message: telegram.Message) -> bool:
        return message.media_group_id is not None


IN_ALBUM = _InAlbum(name="IN_ALBUM")
NEW_MESSAGES = filters.UpdateType.MESSAGE
CHAT_CONTENT = filters.TEXT | filters.PHOTO | filters.Document.ALL
UNSUPPORTED = (filters.VIDEO | filters.ANIMATION | filters.Sticker.ALL | filters.VOICE | filters.AUDIO
               | filters.VIDEO_NOTE)


class Conversation:
    """What every handler shares: the assistant, the way to fetch photos and open channels."""

    def __init__(self, assistant: AssistantAPI, channels: Channels, fetcher: Fetcher) -> None:
        self.assistant = assistant
        self.channels = channels
        self.fetcher = fetcher
        self.albums: AlbumCollector | None = None  # set by build_application

    async def deliver(self, incoming: Incoming) -> None:
        """Fetch the photos of one message (or album) and hand it to the assistant.

        Files that can't be used are explained in one reply; when none of the message's
        own files was usable the assistant isn't called at all, so nothing half-done is
        stored (e.g. "/teach Bo" on a 25 MB photo creates no empty Bo)."""
        if incoming.is_group and not incoming.addressed:
            return  # privacy: group messages not meant for Yo are neither fetched nor passed on
        channel = self.channels.open(incoming.chat_id, reply_to=incoming.message_id if incoming.is_group else None)
        photos, problems = await self.fetcher.fetch(incoming.files)
        reply_photos, reply_problems = await self.fetcher.fetch(incoming.reply_files)
        problems = list(incoming.refused) + problems + ([] if photos else reply_problems)
        if problems:
            await channel.send(Reply("\n".join(problems)))
        if incoming.has_media and not photos:
            return
        try:
            await self.assistant.handle(to_message(incoming, photos, reply_photos), channel)
        finally:
            channel.done()

    async def deliver_album(self, items: list[Incoming]) -> None:
        await self.deliver(merge_album(items))


class ChatMessages:
    """Text, commands, captions, a single photo or image file."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        incoming = read(message, context.bot.bot)
        albums = self.conversation.albums
        if albums is not None:  # an album this person sent just before comes first
            await albums.flush((incoming.chat_id, incoming.user_id))
        await self.conversation.deliver(incoming)


class AlbumItems:
    """One item of an album; the album goes on when complete (see albums.py)."""

    def __init__(self, conversation: Conversation, albums: AlbumCollector) -> None:
        self.conversation = conversation
        self.albums = albums

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        incoming = read(message, context.bot.bot)
        await self.albums.add(incoming, (incoming.chat_id, incoming.user_id))


class ButtonPresses:
    """A press on one of the assistant's inline buttons."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        try:
            await query.answer()  # stops the button's spinner; the answer itself comes as a message
        except TelegramError as error:  # too old to answer: still act on it
            log.debug("answerCallbackQuery failed: %s", error)
        if not query.data:
            return
        chat = query.message.chat if query.message is not None else None
        chat_id = chat.id if chat is not None else query.from_user.id
        is_group = chat is not None and chat.type in GROUP_TYPES
        press = ButtonPress(platform=PLATFORM, user_id=str(query.from_user.id), chat_id=str(chat_id),
                            data=query.data, is_group=is_group, user_name=query.from_user.full_name,
                            user_handle=query.from_user.username)
        reply_to = query.message.message_id if is_group and query.message is not None else None
        channel = self.conversation.channels.open(chat_id, reply_to=reply_to)
        try:
            await self.conversation.assistant.press(press, channel)
        finally:
            channel.done()


class UnsupportedMedia:
    """Videos, GIFs, stickers, voice notes in a private chat: say what Yo can look at."""

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is not None:
            await message.reply_text(PHOTOS_ONLY)


async def report_error(update: object, context: ContextTypes.DEFAULT_TYPE, *, assistant: object = None) -> None:
    """Log what failed with its update, chat and user; tell the chat briefly, never the traceback.
    Counted as a Telegram error in the assistant's /metrics (bot/operations.py)."""
    error = context.error
    report_failure(assistant, PLATFORM)
    if not isinstance(update, Update):
        log.error("Telegram error outside an update: %s", error, exc_info=error)
        return
    chat, user = update.effective_chat, update.effective_user
    log.error("update %s failed (chat %s, user %s): %s", update.update_id, chat.id if chat else None,
              user.id if user else None, error, exc_info=error)
    if chat is None:
        return
    try:
        await context.bot.send_message(chat.id, APOLOGY)
    except TelegramError as again:
        log.warning("could not apologise in chat %s: %s", chat.id, again)
