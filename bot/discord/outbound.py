"""The assistant's `Reply`s → Discord messages, and the `Channel`s the assistant answers on.

Discord's limits live here: 2,000 characters of text, 10 files, the upload size of the
server (or the interaction), 5 rows of 5 buttons of 80 characters. Replies never ping
anyone (`AllowedMentions.none()`), whatever a model writes.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Awaitable, Callable

import discord
from PIL import Image

from bot.activity import KeptActivity
from bot.assistant.messages import Reply

from .buttons import make_view

log = logging.getLogger(__name__)

MAX_TEXT = 2000
MAX_FILES = 10
DM_FILESIZE_LIMIT = discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
# Typing shows for about 10 s per call; repeat it this often while the assistant works (bot/activity.py).
TYPING_EVERY = 8.0
# An interaction token lasts 15 minutes; after this long, talk through the channel instead.
INTERACTION_FRESH_SECONDS = 14 * 60
NO_MENTIONS = discord.AllowedMentions.none()
TOO_BIG = "(The picture is too big to upload here, even made smaller.)"


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces of at most `limit` characters, cut at a line break or space where there is one."""
    text = text.strip()
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = text.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


def fit_image(data: bytes, limit: int) -> bytes | None:
    """`data` if it fits in `limit` bytes, else a smaller JPEG of it; None when nothing fits."""
    if len(data) <= limit:
        return data
    try:
        image: Image.Image = Image.open(io.BytesIO(data))
        image.load()
    except Exception:  # not an image Pillow reads: nothing to shrink
        return None
    image = image.convert("RGB")
    for quality in (85, 70):
        for _ in range(8):
            out = io.BytesIO()
            image.save(out, format="JPEG", quality=quality, optimize=True)
            if out.tell() <= limit:
                return out.getvalue()
            if min(image.size) <= 64:
                break
            image = image.resize((max(1, image.width * 3 // 4), max(1, image.height * 3 // 4)))
    return None


def fit_images(images: list[bytes], limit: int) -> tuple[list[bytes], bool]:
    """The images made to fit one message under `limit` bytes in all; True when some had to go."""
    images = images[:MAX_FILES]
    if not images:
        return [], False
    share = max(1, limit // len(images)) if sum(len(i) for i in images) > limit else limit
    fitted = [fit_image(image, share) for image in images]
    kept = [image for image in fitted if image is not None]
    return kept, len(kept) < len(images)


def _extension(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return "jpg"


def as_files(images: list[bytes]) -> list[discord.File]:
    return [discord.File(io.BytesIO(data), filename=f"yo-{n}.{_extension(data)}")
            for n, data in enumerate(images, start=1)]


@dataclass
class Rendered:
    """A Reply as Discord message pieces: text chunks, then files and buttons on the last one."""

    texts: list[str]
    images: list[bytes]
    view: discord.ui.View | None

    @property
    def empty(self) -> bool:
        return not self.texts and not self.images and self.view is None


def render(reply: Reply, filesize_limit: int) -> Rendered:
    images, dropped = fit_images(list(reply.images), filesize_limit)
    text = reply.text
    if dropped:
        text = f"{text}\n{TOO_BIG}" if text else TOO_BIG
    texts = split_text(text)
    view = make_view(reply.buttons, reply.link)
    if view is not None and not texts and not images:
        texts = ["\u200b"]  # Discord wants something besides buttons
    return Rendered(texts, images, view)


class EditGate:
    """At most one edit a second per channel; an edit overtaken by a newer one of the same
    message is dropped, so the chat sees the latest state without a burst of edits."""

    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: dict[int, float] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def wait_turn(self, channel_id: int) -> None:
        lock = self._locks.setdefault(channel_id, asyncio.Lock())
        async with lock:
            delay = self._last.get(channel_id, float("-inf")) + self.interval - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            self._last[channel_id] = self.clock()


class DiscordSentMessage:
    """A message Yo sent (the last piece of a long reply), editable in place."""

    def __init__(self, channel: "BaseChannel", message: discord.Message | None) -> None:
        self.channel = channel
        self.message = message
        self._version = 0

    async def edit(self, reply: Reply) -> None:
        self._version += 1
        mine = self._version
        await self.channel.gate.wait_turn(self.channel.channel_id)
        if mine != self._version:
            return  # a newer edit of this message is on its way
        rendered = render(reply, self.channel.filesize_limit)
        if self.message is None:  # nothing was shown yet: show it now
            if not rendered.empty:
                self.message = await self.channel.post(rendered)
            return
        text = "\n".join(rendered.texts)[:MAX_TEXT] or "\u200b"
        try:
            await self.channel.edit_message(self.message, text, rendered)
        except discord.HTTPException as error:
            log.warning("could not edit message %s (%s); sending the update anew", self.message.id, error)
            self.message = await self.channel.post(rendered)


class BaseChannel(ABC):
    """What every Discord channel does for the assistant; subclasses say how to post and edit."""

    platform_channel: discord.abc.Messageable
    channel_id: int
    filesize_limit: int
    gate: EditGate

    def __init__(self) -> None:
        self.activity = KeptActivity(every=TYPING_EVERY)

    async def send(self, reply: Reply) -> DiscordSentMessage:
        self.activity.stop()
        rendered = render(reply, self.filesize_limit)
        message = await self.post(rendered) if not rendered.empty else None
        return DiscordSentMessage(self, message)

    async def post(self, rendered: Rendered) -> discord.Message | None:
        """Send the pieces; return the last one (which carries files and buttons)."""
        last: discord.Message | None = None
        texts = rendered.texts or [""]
        for number, text in enumerate(texts):
            final = number == len(texts) - 1
            last = await self.post_one(text, rendered.images if final else [],
                                       rendered.view if final else None)
        return last

    @abstractmethod
    async def post_one(self, text: str, images: list[bytes], view: discord.ui.View | None) -> discord.Message | None:
        """Post one message (a channel message, or an interaction follow-up)."""

    async def edit_message(self, message: discord.Message, text: str, rendered: Rendered) -> None:
        await message.edit(content=text, attachments=as_files(rendered.images), view=rendered.view,
                           allowed_mentions=NO_MENTIONS)

    async def show_activity(self, kind: str = "typing") -> None:
        """Show "Yo is typing…" now and keep it up until the next send (Discord has no other action)."""
        await self.activity.start(self.platform_channel.typing)

    def done(self) -> None:
        """The assistant has finished with this message: no more "typing…"."""
        self.activity.stop()

    def private_link(self, payload: str) -> str | None:
        return None  # Discord has no link that opens a DM with a bot carrying a payload


class DiscordChannel(BaseChannel):
    """A text channel, thread or DM; the first reply to a server message answers it as a Discord reply."""

    def __init__(self, channel: discord.abc.Messageable, channel_id: int, *, gate: EditGate,
                 filesize_limit: int = DM_FILESIZE_LIMIT, reply_to: discord.Message | None = None) -> None:
        super().__init__()
        self.platform_channel = channel
        self.channel_id = channel_id
        self.gate = gate
        self.filesize_limit = filesize_limit
        self._reply_to = reply_to

    async def post_one(self, text: str, images: list[bytes], view: discord.ui.View | None) -> discord.Message:
        reference, self._reply_to = self._reply_to, None
        kwargs: dict[str, object] = {"allowed_mentions": NO_MENTIONS}
        if images:
            kwargs["files"] = as_files(images)
        if view is not None:
            kwargs["view"] = view
        if reference is not None:
            kwargs["reference"] = reference.to_reference(fail_if_not_exists=False)
            kwargs["mention_author"] = False
        send: Callable[..., Awaitable[discord.Message]] = self.platform_channel.send  # overloads, one call
        return await send(text or None, **kwargs)


class InteractionChannel(BaseChannel):
    """Answers to a slash command or a button press: follow-ups of the interaction while its
    token is good (the first one replaces "Yo is thinking…"), the plain channel after that.
    `ephemeral`: follow-ups only the asker sees (a private command in a server)."""

    def __init__(self, interaction: discord.Interaction, fallback: DiscordChannel, *, gate: EditGate,
                 ephemeral: bool = False) -> None:
        super().__init__()
        self.interaction = interaction
        self.fallback = fallback
        self.platform_channel = fallback.platform_channel
        self.channel_id = fallback.channel_id
        self.filesize_limit = interaction.filesize_limit or fallback.filesize_limit
        self.gate = gate
        self.answered = False
        self.ephemeral = ephemeral
        self._created = time.monotonic()

    @property
    def fresh(self) -> bool:
        return time.monotonic() - self._created < INTERACTION_FRESH_SECONDS

    async def post_one(self, text: str, images: list[bytes], view: discord.ui.View | None) -> discord.Message:
        if not self.fresh:
            return await self.fallback.post_one(text, images, view)
        kwargs: dict[str, object] = {"allowed_mentions": NO_MENTIONS, "wait": True, "ephemeral": self.ephemeral}
        if images:
            kwargs["files"] = as_files(images)
        if view is not None:
            kwargs["view"] = view
        send: Callable[..., Awaitable[discord.WebhookMessage]] = self.interaction.followup.send
        message = await send(text or discord.utils.MISSING, **kwargs)
        self.answered = True
        return message

    async def edit_message(self, message: discord.Message, text: str, rendered: Rendered) -> None:
        if self.fresh:
            await super().edit_message(message, text, rendered)  # a webhook message: edited with the token
            return
        # The token has expired: the bot's own message is edited through the channel.
        partial = discord.PartialMessage(channel=self.platform_channel, id=message.id)  # type: ignore[arg-type]
        await partial.edit(content=text, attachments=as_files(rendered.images), view=rendered.view)

    async def show_activity(self, kind: str = "typing") -> None:
        if self.answered or not self.fresh:
            await super().show_activity(kind)
        # before the first answer Discord already shows "Yo is thinking…"

    async def finish(self) -> None:
        """After the assistant is done: an interaction that got no answer loses its "thinking…"."""
        self.done()
        if self.answered or not self.fresh or self.interaction.type is not discord.InteractionType.application_command:
            return
        try:
            await self.interaction.delete_original_response()
        except discord.HTTPException as error:
            log.debug("could not remove the thinking message: %s", error)

