"""What goes into the assistant and what comes out: plain data, no platform types.

Adapters (Telegram, Discord, the terminal) build a `Message` from a platform event,
hand it to `Assistant.handle` together with a `Channel` that knows how to talk back
to that chat, and turn each `Reply` into platform calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Photo:
    """An image exactly as the user sent it; validated by the assistant, never trusted."""

    data: bytes
    filename: str | None = None


@dataclass(frozen=True)
class Message:
    platform: str  # "telegram", "discord", "console"
    user_id: str  # the platform's id for the sender
    chat_id: str  # the platform's id for the chat (a DM's chat id may equal the user id)
    is_group: bool = False
    text: str = ""
    photos: tuple[Photo, ...] = ()
    # In a group the bot only acts when addressed: a command, a mention or a reply to it.
    addressed: bool = True
    user_name: str | None = None
    chat_title: str | None = None
    # A photo of an earlier message this one replies to ("is Bo in this?" as a reply).
    reply_photos: tuple[Photo, ...] = ()
    # Opaque id of the platform message, for logging.
    message_id: str | None = None
    # Who the sender is beyond their id, for YO_ALLOWED_USERS / YO_ADMINS: the @username
    # (without @) and, in a Discord server, their roles' ids and names.
    user_handle: str | None = None
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Button:
    label: str
    data: str  # at most 64 bytes (Telegram's callback_data limit)


@dataclass(frozen=True)
class ButtonPress:
    """A press on one of the assistant's buttons."""

    platform: str
    user_id: str
    chat_id: str
    data: str
    is_group: bool = False
    user_name: str | None = None
    user_handle: str | None = None  # as in Message
    roles: tuple[str, ...] = ()


@dataclass
class Reply:
    text: str = ""
    images: list[bytes] = field(default_factory=list)  # PNG/JPEG bytes
    buttons: list[list[Button]] = field(default_factory=list)  # rows of buttons
    # A link the adapter should offer (e.g. a Telegram deep link into a private chat).
    link: str | None = None


class SentMessage(Protocol):
    """A message the bot sent and may edit in place (progress, results)."""

    async def edit(self, reply: Reply) -> None: ...


class Channel(Protocol):
    """One chat as the assistant sees it: send, edit, show that work is going on."""

    async def send(self, reply: Reply) -> SentMessage: ...

    async def show_activity(self, kind: str = "typing") -> None:
        """Show 'typing…' (or 'upload_photo') until the next message is sent or the adapter is done
        with the update (bot/activity.py keeps it up)."""
        ...

    def private_link(self, payload: str) -> str | None:
        """A link that opens a private chat with the bot carrying `payload` (Telegram deep links)."""
        ...
