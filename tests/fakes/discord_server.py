"""A fake Discord, REST and gateway, on 127.0.0.1, for the real discord.py client to connect to.

It speaks enough of the API for Yo: login (GET /users/@me, the application), GET /gateway/bot,
the gateway handshake (HELLO → IDENTIFY → READY → GUILD_CREATE, heartbeats), dispatch of
MESSAGE_CREATE and INTERACTION_CREATE events a test injects, channel messages (JSON and
multipart with files), edits, typing, interaction callbacks and follow-up webhooks, command
sync, and attachment downloads from its own "CDN".

Like Discord, it withholds the content and attachments of server messages that don't mention
the bot unless the client identified with the message-content intent, and it sends server
messages only to clients with the guild-messages intent, DMs only with the DM intent.

Everything the bot does is recorded (`posted`, `typing`, `callbacks`, `commands`, `downloads`,
`unknown`) for tests to assert on.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from aiohttp import BodyPartReader, web

TOKEN = "fake-bot-token"
DISCORD_EPOCH_MS = 1420070400000
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15
ADMINISTRATOR = 1 << 3
EPHEMERAL = 1 << 6

_counter = itertools.count(1)


def snowflake() -> int:
    """A fresh id that dates from now, as Discord's do (discord.py reads creation times off ids)."""
    return ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) + (next(_counter) % (1 << 22))


def _json(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json", as Discord answers: discord.py parses nothing else.
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass
class FakeUser:
    id: int
    name: str
    bot: bool = False

    def payload(self) -> dict[str, Any]:
        return {"id": str(self.id), "username": self.name, "global_name": self.name, "discriminator": "0",
                "avatar": None, "bot": self.bot, "public_flags": 0, "flags": 0}

    def member(self, roles: list[int] | None = None) -> dict[str, Any]:
        return {"user": self.payload(), "nick": None, "roles": [str(r) for r in roles or []],
                "joined_at": now_iso(), "deaf": False, "mute": False, "flags": 0}


@dataclass
class Upload:
    filename: str
    data: bytes
    content_type: str | None = None


@dataclass
class Edit:
    content: str | None
    files: list[Upload]
    components: list[dict[str, Any]]


@dataclass
class Posted:
    """A message the bot sent: through the channel, or as an interaction response / follow-up."""

    id: int
    channel_id: int
    content: str
    files: list[Upload]
    components: list[dict[str, Any]]
    via: str  # "channel", "followup" or "response"
    interaction_id: int | None = None
    reference_id: int | None = None
    edits: list[Edit] = field(default_factory=list)
    deleted: bool = False
    attachments: list[dict[str, Any]] = field(default_factory=list)
    ephemeral: bool = False  # a follow-up only the asker sees (flag 64)

    @property
    def text(self) -> str:
        """The content as shown now (after edits)."""
        for edit in reversed(self.edits):
            if edit.content is not None:
                return edit.content
        return self.content

    @property
    def current_components(self) -> list[dict[str, Any]]:
        return self.edits[-1].components if self.edits else self.components

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [c for row in self.current_components for c in row.get("components", []) if c.get("type") == 2]

    def button(self, label_part: str) -> str:
        """The custom id of the button whose label contains `label_part`."""
        for button in self.buttons:
            if label_part in button.get("label", ""):
                return str(button["custom_id"])
        raise AssertionError(f"no button with {label_part!r} in {[b.get('label') for b in self.buttons]}")


@dataclass
class Interaction:
    id: int
    token: str
    user: FakeUser
    channel_id: int
    guild_id: int | None
    name: str


class FakeDiscord:
    def __init__(self, *, guild_name: str = "Dog park", premium_tier: int = 0) -> None:
        self.bot = FakeUser(snowflake(), "Yo", bot=True)
        self.application_id = snowflake()
        self.guild_id = snowflake()
        self.guild_name = guild_name
        self.premium_tier = premium_tier
        self.bot_role_id = snowflake()
        self.channels: dict[int, dict[str, Any]] = {}
        self.general = self._add_text_channel("general")
        self.random = self._add_text_channel("random")
        self.users: dict[int, FakeUser] = {}
        self.dms: dict[int, int] = {}  # user id → DM channel id
        self.files: dict[int, Upload] = {}  # attachment id → what the CDN serves
        self.posted: list[Posted] = []
        self.received: list[dict[str, Any]] = []  # messages users sent, as dispatched
        self.typing: list[int] = []
        self.choices: dict[str, list[dict[str, Any]]] = {}  # interaction token → the names offered
        self.callbacks: list[tuple[int, int]] = []  # (interaction id, callback type)
        self.interactions: dict[str, Interaction] = {}  # by token
        self.commands: list[dict[str, Any]] = []
        self.downloads: list[int] = []
        self.cleared: list[int] = []  # interactions whose unanswered "thinking…" the bot removed
        self.unknown: list[str] = []
        self.identify: dict[str, Any] | None = None
        self.heartbeats = 0
        self.message_content_allowed = True  # the developer portal's switch for the privileged intent
        self.interaction_upload_limit = 10 * 1024 * 1024  # what interactions say attachments may weigh
        self._sockets: list[web.WebSocketResponse] = []
        self._seq = 0
        self._ready = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> "FakeDiscord":
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/cdn/{attachment_id}/{filename}", self._cdn)
        app.router.add_route("*", "/api/v10/{path:.*}", self._api)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        sockets = getattr(site._server, "sockets", None)
        assert sockets
        self.port = int(sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def wait_ready(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(self._ready.wait(), timeout)

    @property
    def intents(self) -> int:
        return int((self.identify or {}).get("intents", 0))

    # ---- the world ----------------------------------------------------------------------------------

    def _add_text_channel(self, name: str) -> int:
        channel_id = snowflake()
        self.channels[channel_id] = {"id": str(channel_id), "type": 0, "guild_id": str(self.guild_id), "name": name,
                                     "position": len(self.channels), "permission_overwrites": [], "nsfw": False,
                                     "parent_id": None, "topic": None, "last_message_id": None,
                                     "rate_limit_per_user": 0}
        return channel_id

    def user(self, name: str) -> FakeUser:
        """A member of the server (and someone who can DM the bot)."""
        user = FakeUser(snowflake(), name)
        self.users[user.id] = user
        return user

    def dm(self, user: FakeUser) -> int:
        """The id of `user`'s DM channel with the bot."""
        if user.id not in self.dms:
            channel_id = snowflake()
            self.dms[user.id] = channel_id
            self.channels[channel_id] = {"id": str(channel_id), "type": 1, "last_message_id": None,
                                         "recipients": [user.payload()]}
        return self.dms[user.id]

    def attachment(self, data: bytes, filename: str = "photo.jpg", content_type: str | None = "image/jpeg",
                   size: int | None = None) -> dict[str, Any]:
        """An attachment as Discord describes it, its bytes served by this fake's CDN."""
        attachment_id = snowflake()
        self.files[attachment_id] = Upload(filename, data, content_type)
        payload: dict[str, Any] = {"id": str(attachment_id), "filename": filename,
                                   "size": len(data) if size is None else size,
                                   "url": f"{self.url}/cdn/{attachment_id}/{filename}",
                                   "proxy_url": f"{self.url}/cdn/{attachment_id}/{filename}"}
        if content_type is not None:
            payload["content_type"] = content_type
        return payload

    def guild_payload(self) -> dict[str, Any]:
        everyone = {"id": str(self.guild_id), "name": "@everyone", "permissions": str(ADMINISTRATOR), "position": 0,
                    "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}
        bot_role = {"id": str(self.bot_role_id), "name": "Yo", "permissions": str(ADMINISTRATOR), "position": 1,
                    "color": 0, "hoist": False, "managed": True, "mentionable": True, "flags": 0,
                    "tags": {"bot_id": str(self.bot.id)}}
        members = [self.bot.member([self.bot_role_id])] + [u.member() for u in self.users.values()]
        return {"id": str(self.guild_id), "name": self.guild_name, "icon": None, "owner_id": str(next(iter(self.users), self.bot.id)),
                "roles": [everyone, bot_role], "emojis": [], "stickers": [], "features": [],
                "premium_tier": self.premium_tier, "member_count": len(members), "members": members,
                "channels": [{k: v for k, v in c.items() if k != "guild_id"} for c in self.channels.values()
                             if c["type"] == 0],
                "threads": [], "voice_states": [], "presences": [], "large": False, "unavailable": False,
                "joined_at": now_iso(), "verification_level": 0, "default_message_notifications": 0,
                "explicit_content_filter": 0, "mfa_level": 0, "nsfw_level": 0, "preferred_locale": "en-US",
                "system_channel_id": str(self.general), "afk_channel_id": None, "afk_timeout": 300,
                "premium_subscription_count": 0, "stage_instances": [], "guild_scheduled_events": []}

    # ---- what users do ------------------------------------------------------------------------------

    async def say(self, user: FakeUser, text: str = "", *, channel: int | None = None, mention: bool = False,
                  attachments: list[dict[str, Any]] | None = None, reply_to: Posted | dict[str, Any] | None = None,
                  ping_reply: bool = True, role_mention: bool = False) -> dict[str, Any]:
        """`user` writes in a server channel (default #general) or, with channel=dm(user), to the bot."""
        channel_id = channel if channel is not None else self.general
        in_guild = self.channels[channel_id]["type"] == 0
        mentions: list[dict[str, Any]] = []
        mention_roles: list[str] = []
        if mention:
            text = f"<@{self.bot.id}> {text}".strip()
            mentions.append(self._with_member(self.bot, in_guild))
        if role_mention:
            text = f"<@&{self.bot_role_id}> {text}".strip()
            mention_roles.append(str(self.bot_role_id))
        for mentioned_id in re.findall(r"<@!?(\d+)>", text):  # people named in the text, as Discord lists them
            other = self.users.get(int(mentioned_id))
            if other is not None and all(int(m["id"]) != other.id for m in mentions):
                mentions.append(self._with_member(other, in_guild))
        data: dict[str, Any] = {
            "id": str(snowflake()), "channel_id": str(channel_id), "author": user.payload(), "content": text,
            "timestamp": now_iso(), "edited_timestamp": None, "tts": False, "mention_everyone": False,
            "mentions": mentions, "mention_roles": mention_roles, "attachments": attachments or [], "embeds": [],
            "pinned": False, "type": 0, "flags": 0, "components": []}
        if reply_to is not None:
            referenced = self._message_payload(reply_to) if isinstance(reply_to, Posted) else reply_to
            data["type"] = 19
            data["message_reference"] = {"message_id": referenced["id"], "channel_id": str(channel_id),
                                         **({"guild_id": str(self.guild_id)} if in_guild else {})}
            data["referenced_message"] = referenced
            author_id = int(referenced["author"]["id"])
            if ping_reply and author_id not in {int(m["id"]) for m in mentions}:
                mentions.append(self._with_member(self.users.get(author_id, self.bot), in_guild))
        if in_guild:
            data["guild_id"] = str(self.guild_id)
            data["member"] = {k: v for k, v in user.member().items() if k != "user"}
        self.received.append(data)
        await self._deliver_message(data, in_guild)
        return data

    def _with_member(self, user: FakeUser, in_guild: bool) -> dict[str, Any]:
        payload = user.payload()
        if in_guild:
            roles = [self.bot_role_id] if user.id == self.bot.id else []
            payload["member"] = {k: v for k, v in user.member(roles).items() if k != "user"}
        return payload

    async def _deliver_message(self, data: dict[str, Any], in_guild: bool) -> None:
        if not (self.intents & (GUILD_MESSAGES if in_guild else DIRECT_MESSAGES)):
            return  # the client didn't ask for these events
        mentioned = any(int(m["id"]) == self.bot.id for m in data["mentions"])
        if in_guild and not mentioned and not (self.intents & MESSAGE_CONTENT):
            data = {**data, "content": "", "attachments": [], "embeds": [], "components": []}
        await self.dispatch("MESSAGE_CREATE", data)

    async def slash(self, user: FakeUser, name: str, /, *, channel: int | None = None,
                    **options: str | int | dict[str, Any]) -> Interaction:
        """`user` runs /name with options; an attachment option is given as `attachment(...)`'s dict."""
        channel_id = channel if channel is not None else self.general
        in_guild = self.channels[channel_id]["type"] == 0
        payload_options: list[dict[str, Any]] = []
        resolved: dict[str, dict[str, Any]] = {}
        for key, value in options.items():
            if isinstance(value, dict):
                resolved[value["id"]] = value
                payload_options.append({"name": key, "type": 11, "value": value["id"]})
            elif isinstance(value, int):
                payload_options.append({"name": key, "type": 4, "value": value})
            else:
                payload_options.append({"name": key, "type": 3, "value": value})
        command = next((c for c in self.commands if c["name"] == name), None)
        data: dict[str, Any] = {"id": command["id"] if command else str(snowflake()), "name": name, "type": 1,
                                "options": payload_options}
        if resolved:
            data["resolved"] = {"attachments": resolved}
        return await self._interact(user, 2, data, channel_id, in_guild, name=name)

    async def typing_option(self, user: FakeUser, name: str, option: str, typed: str, /, *,
                            channel: int | None = None) -> list[str]:
        """`user` types `typed` into /name's `option`; the names the bot offers (autocomplete)."""
        channel_id = channel if channel is not None else self.general
        command = next((c for c in self.commands if c["name"] == name), None)
        data = {"id": command["id"] if command else str(snowflake()), "name": name, "type": 1,
                "options": [{"name": option, "type": 3, "value": typed, "focused": True}]}
        interaction = await self._interact(user, 4, data, channel_id, self.channels[channel_id]["type"] == 0,
                                           name=name)
        await self.wait_for(lambda: interaction.token in self.choices)
        return [choice["value"] for choice in self.choices[interaction.token]]

    async def click(self, user: FakeUser, message: Posted, custom_id: str) -> Interaction:
        """`user` presses the button `custom_id` on a message the bot sent."""
        in_guild = self.channels[message.channel_id]["type"] == 0
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._interact(user, 3, data, message.channel_id, in_guild, name=custom_id,
                                    message=self._message_payload(message))

    async def _interact(self, user: FakeUser, kind: int, data: dict[str, Any], channel_id: int, in_guild: bool,
                        *, name: str, message: dict[str, Any] | None = None) -> Interaction:
        interaction = Interaction(snowflake(), f"token-{snowflake()}", user, channel_id,
                                  self.guild_id if in_guild else None, name)
        self.interactions[interaction.token] = interaction
        channel = {k: v for k, v in self.channels[channel_id].items()}
        payload: dict[str, Any] = {
            "id": str(interaction.id), "application_id": str(self.application_id), "type": kind, "data": data,
            "channel_id": str(channel_id), "channel": channel, "token": interaction.token, "version": 1,
            "app_permissions": str(ADMINISTRATOR), "locale": "en-US", "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)} if in_guild else {"1": str(user.id)},
            "context": 0 if in_guild else 1, "attachment_size_limit": self.interaction_upload_limit}
        if in_guild:
            payload["guild_id"] = str(self.guild_id)
            payload["guild_locale"] = "en-US"
            payload["guild"] = {"id": str(self.guild_id), "locale": "en-US", "features": []}
            payload["member"] = {**user.member(), "permissions": str(ADMINISTRATOR)}
        else:
            payload["user"] = user.payload()
        if message is not None:
            payload["message"] = message
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction

    # ---- what the bot did ------------------------------------------------------------------------------

    def messages(self, channel: int | None = None, *, interaction: Interaction | None = None) -> list[Posted]:
        return [p for p in self.posted if not p.deleted
                and (channel is None or p.channel_id == channel)
                and (interaction is None or p.interaction_id == interaction.id)]

    def texts(self, channel: int | None = None, *, interaction: Interaction | None = None) -> list[str]:
        return [p.text for p in self.messages(channel, interaction=interaction)]

    async def wait_for(self, condition: Callable[[], object], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; the bot said: {self.texts()}; unknown routes: {self.unknown}")
            await asyncio.sleep(0.01)

    async def wait_for_text(self, part: str, channel: int | None = None, timeout: float = 5.0,
                            *, interaction: Interaction | None = None) -> Posted:
        """The first message (by now) whose current text contains `part`."""
        found: list[Posted] = []

        def seen() -> bool:
            found[:] = [p for p in self.messages(channel, interaction=interaction) if part in p.text]
            return bool(found)

        await self.wait_for(seen, timeout)
        return found[0]

    # ---- gateway ---------------------------------------------------------------------------------------

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        await self.wait_ready()
        self._seq += 1
        frame = json.dumps({"op": 0, "t": event, "s": self._seq, "d": data})
        for ws in list(self._sockets):
            if not ws.closed:
                await ws.send_str(frame)

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        try:
            async for frame in ws:
                if frame.type.name != "TEXT":
                    continue
                message = json.loads(frame.data)
                op = message.get("op")
                if op == 1:
                    self.heartbeats += 1
                    await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
                elif op == 2:
                    await self._identified(ws, message["d"])
                elif op == 6:  # resume: not kept here; ask for a fresh session
                    await ws.send_json({"op": 9, "d": False, "s": None, "t": None})
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
        return ws

    async def _identified(self, ws: web.WebSocketResponse, identify: dict[str, Any]) -> None:
        if identify.get("token") != TOKEN:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        self.identify = identify
        if self.intents & MESSAGE_CONTENT and not self.message_content_allowed:
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        self._seq += 1
        ready = {"v": 10, "user": {**self.bot.payload(), "verified": True, "mfa_enabled": False},
                 "guilds": [{"id": str(self.guild_id), "unavailable": True}], "session_id": "fake-session",
                 "resume_gateway_url": self.gateway_url, "shard": [0, 1],
                 "application": {"id": str(self.application_id), "flags": 0}, "private_channels": [],
                 "relationships": [], "presences": [], "guild_join_requests": []}
        await ws.send_str(json.dumps({"op": 0, "t": "READY", "s": self._seq, "d": ready}))
        self._seq += 1
        await ws.send_str(json.dumps({"op": 0, "t": "GUILD_CREATE", "s": self._seq, "d": self.guild_payload()}))
        self._ready.set()

    # ---- REST -------------------------------------------------------------------------------------------

    async def _cdn(self, request: web.Request) -> web.Response:
        attachment_id = int(request.match_info["attachment_id"])
        upload = self.files.get(attachment_id)
        if upload is None:
            return web.Response(status=404)
        self.downloads.append(attachment_id)
        return web.Response(body=upload.data, content_type=upload.content_type or "application/octet-stream")

    async def _api(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        parts = path.split("/")
        method = request.method
        bot_route = not path.startswith(("webhooks/", "interactions/"))
        if bot_route and request.headers.get("Authorization") != f"Bot {TOKEN}":
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        route = (method, parts[0] if parts else "")
        try:
            if path == "users/@me" and method == "GET":
                return _json({**self.bot.payload(), "verified": True, "mfa_enabled": False})
            if path == "oauth2/applications/@me" and method == "GET":
                return _json(self._application())
            if path in ("gateway/bot", "gateway") and method == "GET":
                return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": {
                    "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}})
            if route == ("PUT", "applications") and parts[2:] == ["commands"]:
                return _json(self._sync(await request.json()))
            if route == ("GET", "applications") and parts[2:] == ["commands"]:
                return _json(self.commands)
            if route == ("POST", "users") and parts[1:] == ["@me", "channels"]:
                body = await request.json()
                user = self.users[int(body["recipient_id"])]
                return _json(self.channels[self.dm(user)])
            if parts[0] == "channels":
                return await self._channels(request, parts[1:])
            if parts[0] == "interactions" and route[0] == "POST" and parts[3:] == ["callback"]:
                return await self._callback(request, int(parts[1]), parts[2])
            if parts[0] == "webhooks":
                return await self._webhook(request, parts[1:])
        except KeyError as missing:
            return _json({"message": f"Unknown {missing}", "code": 10003}, status=404)
        self.unknown.append(f"{method} /{path}")
        return _json({"message": "404: Not Found", "code": 0}, status=404)

    def _application(self) -> dict[str, Any]:
        return {"id": str(self.application_id), "name": "Yo", "description": "", "icon": None, "bot_public": True,
                "bot_require_code_grant": False, "owner": self.bot.payload(), "verify_key": "0" * 64,
                "flags": 0, "summary": "", "team": None, "bot": self.bot.payload()}

    def _sync(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.commands = [{**c, "id": str(snowflake()), "application_id": str(self.application_id),
                          "version": str(snowflake()), "type": c.get("type", 1)} for c in commands]
        return self.commands

    async def _channels(self, request: web.Request, parts: list[str]) -> web.StreamResponse:
        channel_id = int(parts[0])
        channel = self.channels[channel_id]
        method = request.method
        if method == "GET" and len(parts) == 1:
            return _json(channel)
        if method == "POST" and parts[1:] == ["typing"]:
            self.typing.append(channel_id)
            return web.Response(status=204)
        if method == "POST" and parts[1:] == ["messages"]:
            body, files = await self._read_body(request)
            reference = body.get("message_reference") or {}
            posted = Posted(snowflake(), channel_id, body.get("content") or "", files, body.get("components") or [],
                            "channel", reference_id=int(reference["message_id"]) if reference else None)
            self._attach(posted, files, [])
            self.posted.append(posted)
            return _json(self._message_payload(posted))
        if len(parts) == 3 and parts[1] == "messages":
            posted = self._find(int(parts[2]))
            if method == "GET":
                return _json(self._message_payload(posted))
            if method == "PATCH":
                return _json(await self._edit(request, posted))
            if method == "DELETE":
                posted.deleted = True
                return web.Response(status=204)
        raise KeyError(f"route {method} channels/{'/'.join(parts)}")

    def _find(self, message_id: int) -> Posted:
        for posted in self.posted:
            if posted.id == message_id:
                return posted
        raise KeyError(f"message {message_id}")

    async def _callback(self, request: web.Request, interaction_id: int, token: str) -> web.Response:
        interaction = self.interactions[token]
        body, files = await self._read_body(request)
        kind = int(body["type"])
        self.callbacks.append((interaction_id, kind))
        message_id = None
        resource: dict[str, Any] = {"type": kind}
        data = body.get("data") or {}
        if kind == 8:  # autocomplete choices
            self.choices[token] = data.get("choices") or []
        if kind == 4:  # an immediate message
            posted = Posted(snowflake(), interaction.channel_id, data.get("content") or "", files,
                            data.get("components") or [], "response", interaction_id=interaction.id)
            self._attach(posted, files, [])
            self.posted.append(posted)
            message_id = posted.id
            resource["message"] = self._message_payload(posted)
        return _json({"interaction": {
            "id": str(interaction_id), "type": 2, "response_message_id": str(message_id) if message_id else None,
            "response_message_loading": kind == 5, "response_message_ephemeral": False}, "resource": resource})

    async def _webhook(self, request: web.Request, parts: list[str]) -> web.StreamResponse:
        if int(parts[0]) != self.application_id:
            raise KeyError(f"webhook {parts[0]}")
        interaction = self.interactions[parts[1]]
        method = request.method
        if method == "POST" and len(parts) == 2:  # a follow-up
            body, files = await self._read_body(request)
            posted = Posted(snowflake(), interaction.channel_id, body.get("content") or "", files,
                            body.get("components") or [], "followup", interaction_id=interaction.id,
                            ephemeral=bool(int(body.get("flags") or 0) & EPHEMERAL))
            self._attach(posted, files, [])
            self.posted.append(posted)
            return _json(self._message_payload(posted, webhook=True))
        if len(parts) == 4 and parts[2] == "messages":
            if parts[3] == "@original":
                originals = [p for p in self.posted if p.interaction_id == interaction.id]
                if not originals:  # a deferred "thinking…" that nobody answered
                    if method == "DELETE":
                        self.cleared.append(interaction.id)
                        return web.Response(status=204)
                    return _json({"message": "Unknown Message", "code": 10008}, status=404)
                posted = originals[0]
            else:
                posted = self._find(int(parts[3]))
            if method == "PATCH":
                return _json(await self._edit(request, posted, webhook=True))
            if method == "DELETE":
                posted.deleted = True
                return web.Response(status=204)
            if method == "GET":
                return _json(self._message_payload(posted, webhook=True))
        raise KeyError(f"route {method} webhooks/{'/'.join(parts)}")

    async def _edit(self, request: web.Request, posted: Posted, *, webhook: bool = False) -> dict[str, Any]:
        body, files = await self._read_body(request)
        kept_ids = None
        if "attachments" in body:
            kept_ids = {int(a["id"]) for a in body["attachments"] if "id" in a and str(a["id"]).isdigit()
                        and int(a["id"]) > 1000}
        kept_files = [u for a, u in zip(posted.attachments, posted.files) if kept_ids is None or int(a["id"]) in kept_ids]
        components = body["components"] if "components" in body else posted.current_components
        posted.edits.append(Edit(body.get("content"), kept_files + files, components))
        self._attach(posted, files, [a for a in posted.attachments if kept_ids is None or int(a["id"]) in kept_ids])
        return self._message_payload(posted, webhook=webhook)

    def _attach(self, posted: Posted, files: list[Upload], kept: list[dict[str, Any]]) -> None:
        new = []
        for upload in files:
            attachment_id = snowflake()
            self.files[attachment_id] = upload
            new.append({"id": str(attachment_id), "filename": upload.filename, "size": len(upload.data),
                        "url": f"{self.url}/cdn/{attachment_id}/{upload.filename}",
                        "proxy_url": f"{self.url}/cdn/{attachment_id}/{upload.filename}",
                        **({"content_type": upload.content_type} if upload.content_type else {})})
        posted.attachments = kept + new

    def _message_payload(self, posted: Posted, *, webhook: bool = False) -> dict[str, Any]:
        channel = self.channels[posted.channel_id]
        data: dict[str, Any] = {
            "id": str(posted.id), "channel_id": str(posted.channel_id), "author": self.bot.payload(),
            "content": posted.text, "timestamp": now_iso(),
            "edited_timestamp": now_iso() if posted.edits else None, "tts": False, "mention_everyone": False,
            "mentions": [], "mention_roles": [], "attachments": posted.attachments, "embeds": [], "pinned": False,
            "type": 19 if posted.reference_id else 0, "flags": 0, "components": posted.current_components}
        if channel["type"] == 0:
            data["guild_id"] = str(self.guild_id)
        if posted.reference_id:
            data["message_reference"] = {"message_id": str(posted.reference_id), "channel_id": str(posted.channel_id)}
        if webhook or posted.via != "channel":
            data["webhook_id"] = str(self.application_id)
            data["application_id"] = str(self.application_id)
        return data

    async def _read_body(self, request: web.Request) -> tuple[dict[str, Any], list[Upload]]:
        """JSON, or multipart with payload_json and files[n] (how discord.py sends files)."""
        if request.content_type != "multipart/form-data":
            raw = await request.read()
            return (json.loads(raw) if raw else {}), []
        body: dict[str, Any] = {}
        files: list[Upload] = []
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "payload_json":
                body = json.loads(await part.text())
            elif part.name and part.name.startswith("files["):
                data = await part.read()
                files.append(Upload(part.filename or "file", bytes(data), part.headers.get("Content-Type")))
        return body, files
