"""Reading Telegram messages: who wrote, where, whether Yo was addressed, which files are photos.

`read` looks at one Telegram message without any network call; `Fetcher` then downloads
the photos it found, checking sizes first (Telegram lets bots fetch files of up to 20 MB);
`to_message` builds the assistant's `Message`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Sequence

import telegram
from telegram import MessageEntity, constants
from telegram.error import TelegramError

from ..assistant.messages import Message, Photo

log = logging.getLogger(__name__)

PLATFORM = "telegram"
GROUP_TYPES = frozenset({constants.ChatType.GROUP, constants.ChatType.SUPERGROUP})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"})
_COMMAND = re.compile(r"^/(\w+)(?:@(\w+))?", re.ASCII)


@dataclass(frozen=True)
class FileRef:
    """A file on Telegram's servers that should be an image."""

    file_id: str
    size: int | None  # bytes, as Telegram reported it (may be missing)
    filename: str | None = None


@dataclass(frozen=True)
class Incoming:
    """One Telegram message (or a whole album), read but not downloaded yet."""

    user_id: int
    chat_id: int
    message_id: int
    is_group: bool
    addressed: bool
    text: str
    files: tuple[FileRef, ...] = ()
    reply_files: tuple[FileRef, ...] = ()
    # Things we can say no to without downloading anything ("notes.pdf isn't an image").
    refused: tuple[str, ...] = ()
    user_name: str | None = None
    chat_title: str | None = None
    media_group_id: str | None = None
    user_handle: str | None = None  # @username, for YO_ALLOWED_USERS' telegram:@alice

    @property
    def has_media(self) -> bool:
        return bool(self.files or self.refused)


def is_image_document(document: telegram.Document) -> bool:
    """An image sent "as a file" (uncompressed): by its MIME type, or its name when the type is vague."""
    mime = (document.mime_type or "").lower()
    if mime.startswith("image/"):
        return True
    if mime in ("", "application/octet-stream") and document.file_name:
        return PurePosixPath(document.file_name.lower()).suffix in IMAGE_SUFFIXES
    return False


def image_of(message: telegram.Message) -> FileRef | str | None:
    """The image a message carries (the largest size of a photo, or an image file), a reason
    why its file is not one, or None when it carries no file."""
    if message.photo:
        largest = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
        return FileRef(largest.file_id, largest.file_size)
    document = message.document
    if document is not None:
        if is_image_document(document):
            return FileRef(document.file_id, document.file_size, document.file_name)
        name = f"“{document.file_name}”" if document.file_name else "That file"
        return f"{name} isn't an image, so I can't use it. Send photos, or image files (JPEG, PNG…)."
    return None


def is_addressed(message: telegram.Message, me: telegram.User) -> bool:
    """Whether a message speaks to the bot: always in private; in groups only a command
    (not one for another bot), an @mention of the bot (in text or photo caption), or a
    reply to one of the bot's messages."""
    if message.chat.type not in GROUP_TYPES:
        return True
    text = message.text or message.caption or ""
    command = _COMMAND.match(text)
    if command and (command.group(2) is None or _same_name(command.group(2), me.username)):
        return True
    entities = message.parse_entities() if message.text else message.parse_caption_entities()
    for entity, value in entities.items():
        if entity.type == MessageEntity.MENTION and _same_name(value.lstrip("@"), me.username):
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user is not None and entity.user.id == me.id:
            return True
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.id == me.id:
        # In forum topics every message "replies" to the topic's first message: not a real reply.
        return not (message.is_topic_message and reply.forum_topic_created is not None)
    return False


def _same_name(name: str | None, username: str | None) -> bool:
    return bool(name and username and name.lower() == username.lower())


def clean_text(text: str, username: str | None) -> str:
    """The text as the assistant should read it: "/teach@YoBot Bo" → "/teach Bo",
    "@YoBot is Bo in this?" → "is Bo in this?"."""
    if not username:
        return text.strip()
    command = _COMMAND.match(text)
    if command and command.group(2) and _same_name(command.group(2), username):
        text = f"/{command.group(1)}{text[command.end():]}"
    mention = re.compile(rf"(?<![\w@])@{re.escape(username)}\b[,:]?", re.IGNORECASE)
    if mention.search(text):
        text = mention.sub("", text)
        text = re.sub(r"[ \t]{2,}", " ", text)
    return text.strip()


def read(message: telegram.Message, me: telegram.User) -> Incoming:
    """Everything the adapter needs from one Telegram message, without any network call."""
    user = message.from_user
    chat = message.chat
    image = image_of(message)
    reply = message.reply_to_message
    reply_image = image_of(reply) if reply is not None else None
    return Incoming(
        user_id=user.id if user else chat.id,
        chat_id=chat.id,
        message_id=message.message_id,
        is_group=chat.type in GROUP_TYPES,
        addressed=is_addressed(message, me),
        text=clean_text(message.text or message.caption or "", me.username),
        files=(image,) if isinstance(image, FileRef) else (),
        reply_files=(reply_image,) if isinstance(reply_image, FileRef) else (),
        refused=(image,) if isinstance(image, str) else (),
        user_name=user.full_name if user else None,
        chat_title=chat.title,
        media_group_id=message.media_group_id,
        user_handle=user.username if user else None,
    )


def merge_album(items: Sequence[Incoming]) -> Incoming:
    """An album's messages as one: all photos in order, the first caption as the text;
    addressed when any item was (the mention may sit on any caption)."""
    items = sorted(items, key=lambda item: item.message_id)
    first = items[0]
    text = next((item.text for item in items if item.text), "")
    refused = tuple(f"Item {n}: {reason}" if len(items) > 1 else reason
                    for n, item in enumerate(items, start=1) for reason in item.refused)
    return replace(
        first,
        text=text,
        addressed=any(item.addressed for item in items),
        files=tuple(f for item in items for f in item.files),
        reply_files=next((item.reply_files for item in items if item.reply_files), ()),
        refused=refused,
    )


def megabytes(size: int) -> str:
    """25_000_000 → "25", 20_300_000 → "20.3" (Telegram counts 1 MB as 10⁶ bytes)."""
    return f"{size / 1e6:.1f}".rstrip("0").rstrip(".")


class Fetcher:
    """Downloads photos from Telegram, refusing files over the Bot API's download limit
    (20 MB) before asking for them."""

    def __init__(self, bot: telegram.Bot, limit: int = constants.FileSizeLimit.FILESIZE_DOWNLOAD) -> None:
        self.bot = bot
        self.limit = limit

    def too_big(self, size: int | None, label: str) -> str | None:
        if size is None or size <= self.limit:
            return None
        return (f"{label} {megabytes(size)} MB; I can only fetch files up to "
                f"{megabytes(self.limit)} MB from Telegram.")

    async def fetch(self, refs: Sequence[FileRef]) -> tuple[tuple[Photo, ...], list[str]]:
        """The photos' bytes, and one line for each that could not be fetched."""
        labels = ["That file is"] if len(refs) == 1 else [f"Photo {n} is" for n in range(1, len(refs) + 1)]
        results = await asyncio.gather(*(self.fetch_one(ref, label) for ref, label in zip(refs, labels)),
                                       return_exceptions=True)
        photos: list[Photo] = []
        problems: list[str] = []
        for result in results:
            if isinstance(result, Photo):
                photos.append(result)
            elif isinstance(result, FetchFailed):
                problems.append(str(result))
            else:
                raise result
        return tuple(photos), problems

    async def fetch_one(self, ref: FileRef, label: str = "That file is") -> Photo:
        if (reason := self.too_big(ref.size, label)) is not None:
            raise FetchFailed(reason)
        try:
            file = await self.bot.get_file(ref.file_id)
            if (reason := self.too_big(file.file_size, label)) is not None:
                raise FetchFailed(reason)
            data = bytes(await file.download_as_bytearray())
        except TelegramError as error:
            log.warning("could not fetch file %s: %s", ref.file_id, error)
            if "too big" in str(error).lower():
                raise FetchFailed(f"{label} too big; I can only fetch files up to "
                                  f"{megabytes(self.limit)} MB from Telegram.") from error
            raise FetchFailed("I couldn't fetch that photo from Telegram; please send it again.") from error
        return Photo(data, ref.filename)


class FetchFailed(Exception):
    """A file could not be fetched; str() is the line for the user."""


def to_message(incoming: Incoming, photos: tuple[Photo, ...], reply_photos: tuple[Photo, ...]) -> Message:
    return Message(
        platform=PLATFORM,
        user_id=str(incoming.user_id),
        chat_id=str(incoming.chat_id),
        is_group=incoming.is_group,
        text=incoming.text,
        photos=photos,
        addressed=incoming.addressed,
        user_name=incoming.user_name,
        chat_title=incoming.chat_title,
        reply_photos=reply_photos,
        message_id=str(incoming.message_id),
        user_handle=incoming.user_handle,
    )
