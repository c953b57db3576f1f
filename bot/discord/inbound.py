"""Discord messages and attachments → the assistant's `Message` and `Photo`s.

Who is being spoken to: in a server the bot acts on a mention of itself (or of its own
integration role), or on a reply to one of its messages; in a DM on everything.
Which chat: a server message's chat is the *server* (guild id), so that a concept shared
"into the server" is visible in every channel of it; a DM's chat is the DM channel.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
from dataclasses import dataclass, field
from typing import Sequence

import aiohttp
import discord

from bot.assistant.messages import Message, Photo

PLATFORM = "discord"

# Bigger attachments are refused before download. Discord itself lets Nitro users send up to
# 500 MB; no photo worth learning from needs more than this.
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
# What one message may bring: more than the assistant uses for one concept, bounded all the same.
MAX_ATTACHMENTS = 10

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_SPACES = re.compile(r"[ \t]+")


@dataclass
class Photos:
    """Attachments read for the assistant, and a line for each one left out."""

    photos: list[Photo] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def chat_id(guild_id: int | None, channel_id: int) -> str:
    """The assistant's chat: the server for server channels (threads included), else the DM channel."""
    return str(guild_id) if guild_id is not None else str(channel_id)


def bot_role_ids(message: discord.Message) -> set[int]:
    """The bot's own integration role in this server (people often @ it instead of the bot)."""
    guild = message.guild
    me = guild.me if guild is not None else None
    if me is None:
        return set()
    return {role.id for role in me.roles if role.is_bot_managed() and role.tags is not None
            and role.tags.bot_id == me.id}


def roles_of(user: object) -> tuple[str, ...]:
    """A server member's roles, by id and by name, for YO_ALLOWED_USERS' discord:role: entries.
    None in a DM: Discord gives a DM's author as a user, not a member of any server."""
    roles = getattr(user, "roles", None) or ()
    return tuple(str(role.id) for role in roles) + tuple(role.name for role in roles)


def replies_to(message: discord.Message, user_id: int) -> bool:
    reference = message.reference
    if reference is None:
        return False
    resolved = reference.resolved if reference.resolved is not None else reference.cached_message
    return isinstance(resolved, discord.Message) and resolved.author.id == user_id


def is_addressed(message: discord.Message, me_id: int) -> bool:
    """A DM, a mention of the bot or of its role, or a reply to the bot. @everyone is not for Yo."""
    if message.guild is None:
        return True
    if any(user.id == me_id for user in message.mentions):
        return True
    if bot_role_ids(message) & {role.id for role in message.role_mentions}:
        return True
    return replies_to(message, me_id)


def clean_text(message: discord.Message, me_id: int) -> str:
    """The message's words for the assistant: the bot's mentions removed, other people's made readable."""
    content = message.content
    for role_id in bot_role_ids(message):
        content = content.replace(f"<@&{role_id}>", " ")
    names = {user.id: user.display_name for user in message.mentions}

    def readable(match: re.Match[str]) -> str:
        user_id = int(match.group(1))
        if user_id == me_id:
            return " "
        return "@" + names.get(user_id, "someone")

    content = _USER_MENTION.sub(readable, content)
    lines = [_SPACES.sub(" ", line).strip() for line in content.splitlines()]
    return "\n".join(line for line in lines if line).strip()


def _content_type(attachment: discord.Attachment) -> str | None:
    if attachment.content_type:
        return attachment.content_type.split(";")[0].strip().lower()
    guessed, _ = mimetypes.guess_type(attachment.filename)
    return guessed


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


async def read_photos(attachments: Sequence[discord.Attachment], *,
                      max_bytes: int = MAX_ATTACHMENT_BYTES) -> Photos:
    """Download the attachments that may be photos; explain each one that is not used.

    Only what Discord says is an image is downloaded (anything it can't type is left to the
    assistant's own checks of the bytes), and nothing larger than `max_bytes`.
    """
    out = Photos()
    for number, attachment in enumerate(attachments, start=1):
        name = attachment.filename or f"attachment {number}"
        if number > MAX_ATTACHMENTS:
            out.problems.append(f"I only look at the first {MAX_ATTACHMENTS} attachments of a message.")
            break
        kind = _content_type(attachment)
        if kind is not None and not kind.startswith("image/"):
            out.problems.append(f"“{name}” isn't a photo ({kind}); send JPEG, PNG or WebP pictures.")
            continue
        if attachment.size > max_bytes:
            out.problems.append(f"“{name}” is too large ({_megabytes(attachment.size)}); "
                                f"the most I take is {_megabytes(max_bytes)}.")
            continue
        try:
            data = await attachment.read()
        except (discord.HTTPException, aiohttp.ClientError, asyncio.TimeoutError):
            out.problems.append(f"I couldn't download “{name}”; please send it again.")
            continue
        if len(data) > max_bytes:
            out.problems.append(f"“{name}” is too large; the most I take is {_megabytes(max_bytes)}.")
            continue
        out.photos.append(Photo(data, attachment.filename))
    return out


async def to_message(message: discord.Message, me_id: int) -> tuple[Message, list[str]] | None:
    """The assistant's Message for a Discord message, with lines about attachments left out;
    None when the bot isn't addressed (or there is nothing in it for the bot to see)."""
    if message.author.bot or message.type not in (discord.MessageType.default, discord.MessageType.reply):
        return None
    if not is_addressed(message, me_id):
        return None
    text = clean_text(message, me_id)
    attached = await read_photos(message.attachments)
    replied = Photos()
    reference = message.reference
    if reference is not None and isinstance(reference.resolved, discord.Message):
        replied = await read_photos([a for a in reference.resolved.attachments
                                     if (_content_type(a) or "image/").startswith("image/")])
    if not text and not attached.photos and not replied.photos and not attached.problems:
        if message.guild is not None and message.content.strip() and not message.attachments:
            text = "/help"  # a bare "@Yo": say what Yo can do
        else:
            return None  # e.g. a reply without a ping while the message-content intent is off: Discord hid it
    guild = message.guild
    translated = Message(
        platform=PLATFORM,
        user_id=str(message.author.id),
        chat_id=chat_id(guild.id if guild else None, message.channel.id),
        is_group=guild is not None,
        text=text,
        photos=tuple(attached.photos),
        addressed=True,
        user_name=message.author.display_name,
        chat_title=guild.name if guild else None,
        reply_photos=tuple(replied.photos),
        message_id=str(message.id),
        user_handle=message.author.name,
        roles=roles_of(message.author),
    )
    return translated, attached.problems + replied.problems
