"""The Discord client: gateway events and slash commands in, the assistant's answers out."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Awaitable, Callable, Protocol

import discord
from discord import app_commands

from bot.assistant.access import Who
from bot.assistant.commands import BY_WORD, ArgType, Audience, Command, Kind
from bot.assistant.intents import Intent
from bot.assistant.messages import ButtonPress, Channel, Message, Reply
from bot.operations import report_connected, report_failure
from bot.turns import KeyedLocks

from . import endpoints
from .buttons import AssistantButton
from .commands import SyncRecord, digest, payload
from .inbound import PLATFORM, chat_id, read_photos, roles_of, to_message
from .outbound import DM_FILESIZE_LIMIT, NO_MENTIONS, DiscordChannel, EditGate, InteractionChannel

log = logging.getLogger(__name__)

SORRY = "Sorry, something went wrong on my side. Please try again in a moment."
AUTOCOMPLETE_CHOICES = 25  # Discord's most


class AssistantLike(Protocol):
    async def handle(self, message: Message, channel: Channel, intent: Intent | None = None) -> None: ...

    async def own_names(self, who: Who) -> list[str]: ...

    async def press(self, press: ButtonPress, channel: Channel) -> None: ...

    def register_notifier(self, platform: str, open_channel: Callable[[str], Awaitable[Channel]]) -> None: ...


def intents_for(message_content: bool) -> discord.Intents:
    """Servers (channels, upload limits), messages in servers and DMs; the privileged
    message-content intent only when asked for. Without it Discord still delivers the text
    and attachments of DMs and of messages that mention the bot, which is all Yo needs."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = message_content
    return intents


class YoClient(discord.Client):
    def __init__(self, assistant: AssistantLike, *, message_content: bool = False, api_url: str = "",
                 gateway_url: str = "", sync_commands: bool = True, commands_record: Path | None = None,
                 **options: Any) -> None:
        """`commands_record`: the file keeping the hash of the slash commands last registered
        (in the data folder), so that they are registered again only when they change."""
        intents = intents_for(message_content)
        options.setdefault("allowed_mentions", NO_MENTIONS)
        options.setdefault("chunk_guilds_at_startup", False)
        options.setdefault("member_cache_flags", discord.MemberCacheFlags.from_intents(intents))
        super().__init__(intents=intents, **options)
        self.assistant = assistant
        self.api_url = api_url
        self.gateway_url = gateway_url
        self.sync_commands = sync_commands
        self.commands_record = SyncRecord(commands_record)
        self.gate = EditGate()
        self._last_channel: dict[int, int] = {}  # guild id → the channel Yo last answered in there
        self.turns = KeyedLocks()  # (channel id, user id): one user's messages in order
        self._restore_endpoints: Callable[[], None] | None = None

    # ---- connecting -------------------------------------------------------------------------

    async def login(self, token: str) -> None:
        if self.api_url or self.gateway_url:
            self._restore_endpoints = endpoints.point_at(self.api_url, self.gateway_url)
        await super().login(token)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(AssistantButton)
        if self.api_url and not self.gateway_url:
            # A self-hosted API names its own gateway, as Discord's does, in GET /gateway/bot.
            _, url, _ = await self.http.get_bot_gateway()
            endpoints.use_gateway(url)
        if self.sync_commands:
            await self.register_commands()
        self.assistant.register_notifier(PLATFORM, self.open_channel)

    async def register_commands(self) -> None:
        """Register the slash commands the command table makes, unless exactly these are registered already."""
        commands = payload()
        value = digest(commands, self.application_id)
        if self.commands_record.current(value):
            log.info("Discord: the slash commands are registered already")
            return
        assert self.application_id is not None  # known once logged in
        try:
            await self.http.bulk_upsert_global_commands(self.application_id, commands)  # type: ignore[arg-type]
        except discord.HTTPException:
            log.exception("could not register the slash commands; mentions and DMs still work")
            return
        self.commands_record.keep(value)

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            if self._restore_endpoints is not None:
                self._restore_endpoints()
                self._restore_endpoints = None

    async def on_ready(self) -> None:
        log.info("Discord: logged in as %s (%s), in %d servers", self.user, getattr(self.user, "id", "?"),
                 len(self.guilds))
        report_connected(self.assistant, PLATFORM)  # /healthz (bot/operations.py)

    async def on_resumed(self) -> None:
        report_connected(self.assistant, PLATFORM)

    async def on_disconnect(self) -> None:  # discord.py reconnects by itself: on_resumed or on_ready follows
        report_connected(self.assistant, PLATFORM, False, "disconnected from the gateway")

    # ---- channels -----------------------------------------------------------------------------

    def channel_for(self, channel: discord.abc.Messageable, channel_id: int, guild: discord.Guild | None,
                    reply_to: discord.Message | None = None) -> DiscordChannel:
        limit = guild.filesize_limit if guild is not None else DM_FILESIZE_LIMIT
        if guild is not None:
            self._last_channel[guild.id] = channel_id
        return DiscordChannel(channel, channel_id, gate=self.gate, filesize_limit=limit, reply_to=reply_to)

    def interaction_channel(self, interaction: discord.Interaction[Any], *,
                            ephemeral: bool = False) -> InteractionChannel:
        channel_id = interaction.channel_id or 0
        raw = interaction.channel
        target: discord.abc.Messageable = (raw if isinstance(raw, discord.abc.Messageable)
                                           else self.get_partial_messageable(channel_id, guild_id=interaction.guild_id))
        fallback = self.channel_for(target, channel_id, interaction.guild)
        return InteractionChannel(interaction, fallback, gate=self.gate, ephemeral=ephemeral)

    async def open_channel(self, chat: str) -> Channel:
        """A channel for the assistant to write to later: a DM channel, or for a server the
        channel Yo last spoke in there (else its system channel, else one it may write in)."""
        ident = int(chat)
        guild = self.get_guild(ident)
        if guild is None:
            channel = self.get_channel(ident) or self.get_partial_messageable(ident)
            return self.channel_for(channel, ident, None)  # type: ignore[arg-type]
        candidates: list[Any] = [guild.get_channel_or_thread(self._last_channel.get(guild.id, 0)),
                                 guild.system_channel, *guild.text_channels]
        me = guild.me
        for candidate in candidates:
            if candidate is not None and (me is None or candidate.permissions_for(me).send_messages):
                return self.channel_for(candidate, candidate.id, guild)
        raise LookupError(f"no channel Yo may write in, in server {guild.id}")

    # ---- messages -----------------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        if self.user is None or message.author.id == self.user.id:
            return
        # Asked for before the first await, so this user's messages here are handled in the
        # order Discord sent them (bot/turns.py); other users' go on meanwhile.
        async with self.turns.hold((message.channel.id, message.author.id)):
            await self.handle_message(message, self.user.id)

    async def handle_message(self, message: discord.Message, me: int) -> None:
        try:
            translated = await to_message(message, me)
            if translated is None:
                return
            incoming, problems = translated
            # In a busy server channel, answer as a Discord reply to the asker's message.
            channel = self.channel_for(message.channel, message.channel.id, message.guild,
                                       reply_to=message if message.guild is not None else None)
            if problems:
                await channel.send(Reply("\n".join(problems)))
                if not incoming.photos and message.attachments:
                    return  # nothing usable came: don't act on the words alone ("this is Bo" without Bo)
            try:
                await self.assistant.handle(incoming, channel)
            finally:
                channel.done()
        except Exception:
            report_failure(self.assistant, PLATFORM)
            log.exception("failed on Discord message %s in %s", message.id, message.channel.id)
            await self._apologise(message.channel)

    async def _apologise(self, channel: discord.abc.Messageable) -> None:
        try:
            await channel.send(SORRY, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            pass

    # ---- slash commands and buttons ----------------------------------------------------------------

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """Slash commands (buttons are discord.py's dynamic items, see buttons.py)."""
        if interaction.type is discord.InteractionType.application_command:
            await self.run_command(interaction)
        elif interaction.type is discord.InteractionType.autocomplete:
            await self.offer_names(interaction)

    async def offer_names(self, interaction: discord.Interaction[Any]) -> None:
        """A concept option being typed: the asker's concepts whose names hold what they typed so far."""
        options = (interaction.data or {}).get("options", [])
        typed = str(next((o.get("value", "") for o in options if o.get("focused")), "")).casefold()
        user = interaction.user
        try:
            names = await self.assistant.own_names(Who(PLATFORM, str(user.id), user.name, roles_of(user)))
        except Exception:
            log.exception("could not list the concepts of %s for autocomplete", user.id)
            names = []
        matches = [n for n in names if typed in n.casefold()][:AUTOCOMPLETE_CHOICES]
        try:
            await interaction.response.autocomplete([app_commands.Choice(name=n, value=n) for n in matches])
        except discord.HTTPException as error:  # the user typed on: this answer is no longer wanted
            log.debug("autocomplete answer failed: %s", error)

    async def run_command(self, interaction: discord.Interaction[Any]) -> None:
        """A slash command as the assistant's typed intent (its options are the table's arguments):
        defer at once (Discord allows 3 seconds), then answer in follow-ups; only the asker sees
        the answers to a private command (/concepts, /forget…) in a server."""
        data: dict[str, Any] = dict(interaction.data or {})
        command = BY_WORD.get(str(data.get("name", "")))
        if command is None or command.audience is Audience.ADMINS:  # a command of an older table
            await interaction.response.send_message("I don't know that command any more; /help shows mine.",
                                                    ephemeral=True)
            return
        private = command.private and interaction.guild_id is not None
        await interaction.response.defer(thinking=True, ephemeral=private)
        channel = self.interaction_channel(interaction, ephemeral=private)
        # After the defer (Discord wants it within 3 s, whatever this user has running), in turn
        # with this user's messages in this channel.
        async with self.turns.hold((interaction.channel_id or 0, interaction.user.id)):
            await self.handle_command(interaction, command, data, channel)

    async def handle_command(self, interaction: discord.Interaction[Any], command: Command, data: dict[str, Any],
                             channel: InteractionChannel) -> None:
        try:
            options = app_commands.Namespace(interaction, data.get("resolved", {}),  # type: ignore[arg-type]
                                             data.get("options", []))
            attachments, values = typed_options(command, options)
            photos = await read_photos(attachments)
            if photos.problems:
                await channel.send(Reply("\n".join(photos.problems)))
            if not (attachments and not photos.photos):
                user = interaction.user
                # /ask's text is a message as if typed ("is Bo in this?" asks about the photo);
                # every other command is its intent, typed.
                asked = str(values.get("text", "")) if command.kind is Kind.ASK else ""
                incoming = Message(
                    platform=PLATFORM, user_id=str(user.id),
                    chat_id=chat_id(interaction.guild_id, interaction.channel_id or 0),
                    is_group=interaction.guild_id is not None, text=asked, photos=tuple(photos.photos),
                    addressed=True, user_name=user.display_name,
                    chat_title=interaction.guild.name if interaction.guild else None,
                    message_id=str(interaction.id), user_handle=user.name, roles=roles_of(user))
                intent = None if command.kind is Kind.ASK else Intent.of_command(command, values)
                await self.assistant.handle(incoming, channel, intent)
        except Exception:
            report_failure(self.assistant, PLATFORM)
            log.exception("failed on /%s from %s", command.name, interaction.user.id)
            await channel.send(Reply(SORRY))
        finally:
            await channel.finish()

    async def on_assistant_button(self, interaction: discord.Interaction[Any], data: str) -> None:
        await interaction.response.defer()  # acknowledged; the answer comes as a new message
        channel = self.interaction_channel(interaction)
        user = interaction.user
        press = ButtonPress(platform=PLATFORM, user_id=str(user.id),
                            chat_id=chat_id(interaction.guild_id, interaction.channel_id or 0), data=data,
                            is_group=interaction.guild_id is not None, user_name=user.display_name,
                            user_handle=user.name, roles=roles_of(user))
        try:
            await self.assistant.press(press, channel)
        except Exception:
            report_failure(self.assistant, PLATFORM)
            log.exception("failed on button %r from %s", data, user.id)
            await channel.send(Reply(SORRY))
        finally:
            channel.done()


def typed_options(command: Command, options: app_commands.Namespace) -> tuple[list[discord.Attachment],
                                                                              dict[str, str | int]]:
    """A slash command's options as the table's arguments: the photos in order, and the other values."""
    attachments: list[discord.Attachment] = []
    values: dict[str, str | int] = {}
    for argument in command.arguments:
        if argument.type is ArgType.PHOTOS:
            count = argument.high or 1
            names = [argument.name] if count == 1 else [f"photo{n}" for n in range(1, count + 1)]
            attachments += [a for a in (getattr(options, name, None) for name in names)
                            if isinstance(a, discord.Attachment)]
        elif (value := getattr(options, argument.name, None)) is not None:
            values[argument.name] = value if isinstance(value, int) else str(value).strip()
    return attachments, values
