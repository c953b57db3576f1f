"""The assistant's `Channel` over a Telegram chat: replies become sendMessage / sendPhoto /
sendMediaGroup calls, buttons become an inline keyboard, edits become editMessageText.

Telegram allows about one message (edits included) per second in a chat; progress edits are
therefore throttled per chat: a newer text replaces one still waiting, and the latest is
always shown in the end.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import telegram
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaPhoto,
    ReplyParameters,
    constants,
)
from telegram.error import BadRequest, Forbidden, TelegramError

from ..activity import KeptActivity
from ..assistant.messages import Reply
from .media import Outgoing, fit_photo

log = logging.getLogger(__name__)

TEXT_LIMIT = constants.MessageLimit.MAX_TEXT_LENGTH  # 4096
CAPTION_LIMIT = constants.MessageLimit.CAPTION_LENGTH  # 1024
ALBUM_LIMIT = constants.MediaGroupLimit.MAX_MEDIA_LENGTH  # 10
CALLBACK_DATA_LIMIT = 64  # bytes
_PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ACTIONS = {
    "typing": constants.ChatAction.TYPING,
    "upload_photo": constants.ChatAction.UPLOAD_PHOTO,
    "upload_document": constants.ChatAction.UPLOAD_DOCUMENT,
}

# A chat action shows for 5 s or until the next message; repeat it this often while the
# assistant works (bot/activity.py).
TYPING_EVERY = 4.0

Edit = Callable[[], Awaitable[None]]


@dataclass
class _ChatEdits:
    last: float = float("-inf")
    pending: OrderedDict[int, Edit] = field(default_factory=OrderedDict)
    flusher: asyncio.Task[None] | None = None


class EditThrottle:
    """At most one edit per `interval` seconds in each chat; of several edits of one message
    waiting, only the latest is made."""

    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._chats: dict[int, _ChatEdits] = {}

    async def submit(self, chat_id: int, message_id: int, edit: Edit) -> None:
        """Make the edit now if the chat's last edit is old enough, else queue it and return."""
        chat = self._chats.setdefault(chat_id, _ChatEdits())
        if not chat.pending and chat.flusher is None and self.clock() - chat.last >= self.interval:
            chat.last = self.clock()
            await _safely(edit)
            return
        chat.pending[message_id] = edit
        chat.pending.move_to_end(message_id)
        if chat.flusher is None:
            chat.flusher = asyncio.create_task(self._flush(chat_id, chat), name=f"yo-edits-{chat_id}")
        self._prune()

    async def _flush(self, chat_id: int, chat: _ChatEdits) -> None:
        try:
            while chat.pending:
                wait = chat.last + self.interval - self.clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                _, edit = chat.pending.popitem(last=False)
                chat.last = self.clock()
                await _safely(edit)
        finally:
            chat.flusher = None

    def _prune(self) -> None:
        if len(self._chats) < 1024:
            return
        now = self.clock()
        for chat_id, chat in list(self._chats.items()):
            if chat.flusher is None and not chat.pending and now - chat.last >= self.interval:
                del self._chats[chat_id]

    async def drain(self) -> None:
        """Wait until every queued edit is made (at shutdown)."""
        flushers = [chat.flusher for chat in self._chats.values() if chat.flusher is not None]
        if flushers:
            await asyncio.gather(*flushers, return_exceptions=True)


async def _safely(edit: Edit) -> None:
    try:
        await edit()
    except BadRequest as error:
        if "not modified" not in str(error).lower():
            log.warning("edit refused by Telegram: %s", error)
    except Forbidden as error:  # the user blocked the bot or left the chat
        log.info("edit not allowed: %s", error)
    except TelegramError as error:
        log.warning("edit failed: %s", error)


def link_label(url: str) -> str:
    return "Open a private chat with me" if url.startswith("https://t.me/") else "Open"


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """Reply.buttons as an inline keyboard (callback data), and Reply.link as a URL button."""
    rows: list[list[InlineKeyboardButton]] = []
    for row in reply.buttons:
        buttons = []
        for button in row:
            if len(button.data.encode()) > CALLBACK_DATA_LIMIT:
                log.error("button %r dropped: its data is over Telegram's 64 bytes", button.label)
                continue
            buttons.append(InlineKeyboardButton(button.label, callback_data=button.data))
        if buttons:
            rows.append(buttons)
    if reply.link:
        rows.append([InlineKeyboardButton(link_label(reply.link), url=reply.link)])
    return InlineKeyboardMarkup(rows) if rows else None


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Text in pieces Telegram accepts, cut at line ends where possible."""
    pieces = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    pieces.append(text)
    return pieces


class TelegramSentMessage:
    """A message Yo sent; `edit` changes it in place (its caption, if it is a photo).
    A reply with no text and no images sends nothing until it is edited."""

    def __init__(self, channel: TelegramChannel, message_id: int | None, *, is_caption: bool = False,
                 text: str = "") -> None:
        self.channel = channel
        self.message_id = message_id
        self.is_caption = is_caption
        self.text = text

    async def edit(self, reply: Reply) -> None:
        if self.message_id is None:
            sent = await self.channel.send(reply)
            self.message_id, self.is_caption = sent.message_id, sent.is_caption
            return
        await self.channel.throttle.submit(self.channel.chat_id, self.message_id, lambda: self._apply(reply))

    async def _apply(self, reply: Reply) -> None:
        assert self.message_id is not None
        bot, chat_id, markup = self.channel.bot, self.channel.chat_id, keyboard(reply)
        if not reply.text:
            await bot.edit_message_reply_markup(chat_id, self.message_id, reply_markup=markup)
        elif self.is_caption:
            await bot.edit_message_caption(chat_id, self.message_id, caption=reply.text[:CAPTION_LIMIT],
                                           reply_markup=markup)
        else:
            text = reply.text if len(reply.text) <= TEXT_LIMIT else reply.text[:TEXT_LIMIT - 1] + "…"
            await bot.edit_message_text(text, chat_id, self.message_id, reply_markup=markup)
        self.text = reply.text


class TelegramChannel:
    """One Telegram chat as the assistant sees it. In groups, replies quote the message they
    answer, so everyone sees whom Yo is talking to."""

    def __init__(self, bot: telegram.Bot, chat_id: int, throttle: EditThrottle, *,
                 reply_to: int | None = None) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.throttle = throttle
        self.reply_to = reply_to
        self.activity = KeptActivity(every=TYPING_EVERY)

    def _reply_parameters(self) -> ReplyParameters | None:
        if self.reply_to is None:
            return None
        return ReplyParameters(self.reply_to, allow_sending_without_reply=True)

    async def send(self, reply: Reply) -> TelegramSentMessage:
        self.activity.stop()
        if reply.images:
            return await self._send_images(reply)
        if not reply.text and not reply.buttons and not reply.link:
            return TelegramSentMessage(self, None)
        return await self._send_text(reply.text or "…", keyboard(reply))

    async def _send_text(self, text: str, markup: InlineKeyboardMarkup | None) -> TelegramSentMessage:
        pieces = split_text(text)
        message: telegram.Message | None = None
        for number, piece in enumerate(pieces, start=1):
            message = await self.bot.send_message(
                self.chat_id, piece, reply_markup=markup if number == len(pieces) else None,
                reply_parameters=self._reply_parameters() if number == 1 else None)
        assert message is not None
        return TelegramSentMessage(self, message.message_id, text=text)

    async def _send_images(self, reply: Reply) -> TelegramSentMessage:
        markup = keyboard(reply)
        prepared = [await fit_photo(image, f"yo-{n}") for n, image in enumerate(reply.images, start=1)]
        photos = [p for p in prepared if p.as_photo]
        files = [p for p in prepared if not p.as_photo]
        # The text rides as the caption of the first image when it fits and, for albums,
        # when it needs no keyboard (an album can't carry one); otherwise it follows alone.
        caption_fits = bool(reply.text) and len(reply.text) <= CAPTION_LIMIT
        sent: TelegramSentMessage | None = None
        if len(photos) == 1 and caption_fits:
            message = await self.bot.send_photo(
                self.chat_id, InputFile(photos[0].data, filename=photos[0].filename), caption=reply.text,
                reply_markup=markup, reply_parameters=self._reply_parameters())
            sent = TelegramSentMessage(self, message.message_id, is_caption=True, text=reply.text)
        elif photos:
            caption = reply.text if caption_fits and markup is None else None
            first = await self._send_album(photos, caption)
            if caption is not None:
                sent = TelegramSentMessage(self, first, is_caption=True, text=reply.text)
        for item in files:
            await self.bot.send_document(self.chat_id, InputFile(item.data, filename=item.filename))
        if sent is None and (reply.text or markup is not None):
            sent = await self._send_text(reply.text or "…", markup)
        return sent or TelegramSentMessage(self, None)

    async def _send_album(self, photos: list[Outgoing], caption: str | None) -> int:
        """Photos in albums of at most ten (one alone goes as a plain photo); the id of the first."""
        first: int | None = None
        for start in range(0, len(photos), ALBUM_LIMIT):
            chunk = photos[start:start + ALBUM_LIMIT]
            text = caption if start == 0 else None
            if len(chunk) == 1:
                message = await self.bot.send_photo(
                    self.chat_id, InputFile(chunk[0].data, filename=chunk[0].filename), caption=text,
                    reply_parameters=self._reply_parameters() if start == 0 else None)
                ids = [message.message_id]
            else:
                media = [InputMediaPhoto(p.data, caption=text if i == 0 else None, filename=p.filename)
                         for i, p in enumerate(chunk)]
                messages = await self.bot.send_media_group(
                    self.chat_id, media, reply_parameters=self._reply_parameters() if start == 0 else None)
                ids = [m.message_id for m in messages]
            first = ids[0] if first is None else first
        assert first is not None
        return first

    async def show_activity(self, kind: str = "typing") -> None:
        """Show "typing…" (or "sending photo…") until the next message or `done()`."""
        action = _ACTIONS.get(kind, constants.ChatAction.TYPING)
        await self.activity.start(lambda: self.bot.send_chat_action(self.chat_id, action))

    def done(self) -> None:
        """The assistant has finished with this update: no more "typing…"."""
        self.activity.stop()

    def private_link(self, payload: str) -> str | None:
        """A t.me deep link that opens a private chat with the bot and sends "/start PAYLOAD"."""
        username = self.bot.username if _initialized(self.bot) else None
        if not username or not _PAYLOAD.match(payload):
            return None
        return f"https://t.me/{username}?start={payload}"


def _initialized(bot: telegram.Bot) -> bool:
    try:
        bot.username  # noqa: B018 - raises until get_me has run
    except RuntimeError:
        return False
    return True


class Channels:
    """Opens channels over one bot, sharing the per-chat edit throttle."""

    def __init__(self, bot: telegram.Bot, throttle: EditThrottle | None = None) -> None:
        self.bot = bot
        self.throttle = throttle or EditThrottle()

    def open(self, chat_id: int, *, reply_to: int | None = None) -> TelegramChannel:
        return TelegramChannel(self.bot, chat_id, self.throttle, reply_to=reply_to)
