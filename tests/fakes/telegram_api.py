"""A fake Telegram Bot API, for tests and benchmarks of the Telegram adapter.

`FakeBotAPI` keeps the state of the fake Telegram: users, chats, the updates waiting to
be fetched, the files it serves, and every message the bot sent (with its edits). It
answers the Bot API methods the adapter uses and records every call.

Two ways to reach it, both driving python-telegram-bot's real Application, Updater and
request layer:
- `api.request()`: an in-process `telegram.request.BaseRequest`
  (`Application.builder().request(api.request()).get_updates_request(api.request())`);
- `FakeBotAPIServer(api)`: the same methods over real HTTP on 127.0.0.1 (aiohttp), with
  `base_url` / `base_file_url` to give PTB.

Helpers inject what users do: `text`, `command`, `photo`, `album`, `document`, `press`,
in private chats or groups, with or without a mention of the bot, as replies.
Thumbnails of a photo are served as bytes that are not an image, so an adapter that
picks the wrong PhotoSize fails loudly.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from telegram.request import BaseRequest, RequestData

JSON = dict[str, Any]
DOWNLOAD_LIMIT = 20_000_000
THUMBNAIL_BYTES = b"thumbnail bytes: not the photo"
_STRUCTURED = {"reply_markup", "media", "commands", "reply_parameters", "allowed_updates", "entities",
               "caption_entities", "link_preview_options", "scope"}
_INTEGERS = {"chat_id", "message_id", "offset", "limit", "timeout", "from_chat_id", "cache_time"}
_BOOLEANS = {"drop_pending_updates", "show_alert", "disable_notification", "protect_content"}


def utf16_len(text: str) -> int:
    """Telegram measures entity offsets in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _image_size(data: bytes) -> tuple[int, int]:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:
        return (1280, 960)


@dataclass
class Call:
    method: str
    params: JSON
    files: dict[str, bytes]
    at: float


@dataclass
class StoredFile:
    file_id: str
    unique_id: str
    data: bytes
    size: int
    path: str


@dataclass
class BotMessage:
    """A message the bot sent, as the fake Telegram keeps it (edits applied)."""

    chat_id: int
    message_id: int
    kind: str  # "text", "photo", "document"
    text: str | None = None
    caption: str | None = None
    image: bytes | None = None
    reply_markup: JSON | None = None
    media_group_id: str | None = None
    reply_to: int | None = None
    edits: list[JSON] = field(default_factory=list)
    raw: JSON = field(default_factory=dict)

    @property
    def content(self) -> str:
        return (self.text if self.kind == "text" else self.caption) or ""

    @property
    def buttons(self) -> list[JSON]:
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [button for row in rows for button in row]

    def button(self, label_part: str) -> JSON:
        for button in self.buttons:
            if label_part in button["text"]:
                return button
        raise AssertionError(f"no button with {label_part!r} on {self.content!r}: {self.buttons}")


class FakeBotAPI:
    """The fake Telegram. `bot_username` is the bot's @name; every token is accepted."""

    def __init__(self, bot_username: str = "YoTestBot", bot_id: int = 7_000_000_001,
                 download_limit: int = DOWNLOAD_LIMIT) -> None:
        self.me: JSON = {"id": bot_id, "is_bot": True, "first_name": "Yo", "username": bot_username,
                         "can_join_groups": True, "can_read_all_group_messages": False,
                         "supports_inline_queries": False}
        self.download_limit = download_limit
        self.calls: list[Call] = []
        self.commands: list[JSON] = []  # the latest setMyCommands' commands
        self.menus: dict[str, list[JSON]] = {}  # commands by scope type ("all_private_chats", …; "default")
        self.webhook: JSON = {"url": "", "secret_token": None}
        self.callback_answers: list[JSON] = []
        self._updates: list[JSON] = []
        self._update_ids = itertools.count(1)
        self._new_update = asyncio.Event()
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._files: dict[str, StoredFile] = {}
        self._paths: dict[str, StoredFile] = {}
        self._file_numbers = itertools.count(1)
        self._group_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self.chats: dict[int, JSON] = {}
        self.users: dict[int, JSON] = {}
        self.sent: dict[tuple[int, int], BotMessage] = {}
        self._floods: dict[str, list[int]] = {}
        self.on_update: Callable[[JSON], None] | None = None  # webhook delivery (set by the server)
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ people and chats

    def user(self, user_id: int, first_name: str | None = None, username: str | None = None) -> JSON:
        user = {"id": user_id, "is_bot": False, "first_name": first_name or f"User{user_id}"}
        if username:
            user["username"] = username
        self.users[user_id] = user
        self.chats.setdefault(user_id, {"id": user_id, "type": "private", "first_name": user["first_name"]})
        return user

    def group(self, chat_id: int = -1_001_000_000_001, title: str = "Family", *, supergroup: bool = True) -> JSON:
        chat = {"id": chat_id, "type": "supergroup" if supergroup else "group", "title": title}
        self.chats[chat_id] = chat
        return chat

    def _chat_for(self, user: JSON, chat: JSON | None) -> JSON:
        return chat or self.chats[user["id"]]

    # ------------------------------------------------------------------ files

    def add_file(self, data: bytes, *, size: int | None = None, suffix: str = "jpg") -> StoredFile:
        """Serve `data` as a Telegram file; `size` overrides the reported file_size (e.g. 25 MB)."""
        number = next(self._file_numbers)
        stored = StoredFile(file_id=f"FILE{number:06d}-AgACAgIAAxkBAAI", unique_id=f"U{number:06d}", data=data,
                            size=len(data) if size is None else size, path=f"photos/file_{number}.{suffix}")
        self._files[stored.file_id] = stored
        self._paths[stored.path] = stored
        return stored

    def photo_sizes(self, data: bytes, *, size: int | None = None) -> list[JSON]:
        """A PhotoSize list as Telegram sends it: small thumbnails first, the photo itself last."""
        width, height = _image_size(data)
        out = []
        for scale in (90, 320):
            if scale >= max(width, height):
                break
            thumb = self.add_file(THUMBNAIL_BYTES)
            ratio = scale / max(width, height)
            out.append({"file_id": thumb.file_id, "file_unique_id": thumb.unique_id, "file_size": thumb.size,
                        "width": max(1, int(width * ratio)), "height": max(1, int(height * ratio))})
        full = self.add_file(data, size=size)
        out.append({"file_id": full.file_id, "file_unique_id": full.unique_id, "file_size": full.size,
                    "width": width, "height": height})
        return out

    def download(self, path: str) -> bytes | None:
        stored = self._paths.get(path)
        return None if stored is None else stored.data

    # ------------------------------------------------------------------ what users do

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def _message(self, user: JSON, chat: JSON | None, *, reply_to: JSON | BotMessage | None = None) -> JSON:
        chat = self._chat_for(user, chat)
        message: JSON = {"message_id": self._next_message_id(chat["id"]), "date": int(time.time()),
                         "chat": chat, "from": user}
        if reply_to is not None:
            message["reply_to_message"] = reply_to.raw if isinstance(reply_to, BotMessage) else reply_to
        return message

    def _with_text(self, message: JSON, text: str, *, mention: bool, key: str = "text") -> JSON:
        """Set the text (or caption) with the entities Telegram would attach: a mention of the
        bot in front when `mention`, a bot_command for a leading "/word"."""
        entities: list[JSON] = []
        prefix = ""
        if mention:
            handle = f"@{self.me['username']}"
            prefix = handle + " "
            entities.append({"type": "mention", "offset": 0, "length": utf16_len(handle)})
        command = re.match(r"/\w+(?:@\w+)?", text)
        if command:
            entities.append({"type": "bot_command", "offset": utf16_len(prefix), "length": utf16_len(command.group(0))})
        message[key] = (prefix + text).rstrip()
        if entities:
            message["entities" if key == "text" else "caption_entities"] = entities
        return message

    def inject(self, update: JSON) -> JSON:
        """Queue an update (delivered by getUpdates, or POSTed to the webhook when one is set)."""
        update = {"update_id": next(self._update_ids), **update}
        if self.webhook["url"] and self.on_update is not None:
            self.on_update(update)
        else:
            self._updates.append(update)
            self._new_update.set()
        return update

    def text(self, user: JSON, text: str, chat: JSON | None = None, *, mention: bool = False,
             reply_to: JSON | BotMessage | None = None) -> JSON:
        """A text message (a command when it starts with "/"); `mention` prefixes @bot."""
        message = self._with_text(self._message(user, chat, reply_to=reply_to), text, mention=mention)
        self.inject({"message": message})
        return message

    command = text

    def photo(self, user: JSON, data: bytes, caption: str = "", chat: JSON | None = None, *,
              mention: bool = False, size: int | None = None, media_group_id: str | None = None,
              reply_to: JSON | BotMessage | None = None) -> JSON:
        """A compressed photo (PhotoSize list), optionally captioned."""
        message = self._message(user, chat, reply_to=reply_to)
        message["photo"] = self.photo_sizes(data, size=size)
        if caption or mention:
            self._with_text(message, caption, mention=mention, key="caption")
        if media_group_id:
            message["media_group_id"] = media_group_id
        self.inject({"message": message})
        return message

    def album(self, user: JSON, photos: Iterable[bytes], caption: str = "", chat: JSON | None = None, *,
              mention: bool = False, sizes: dict[int, int] | None = None) -> list[JSON]:
        """Several photos sent at once: messages sharing a media_group_id, the caption on the first."""
        group_id = f"1342{next(self._group_ids):010d}"
        sizes = sizes or {}
        return [self.photo(user, data, caption if n == 0 else "", chat, mention=mention and n == 0,
                           size=sizes.get(n), media_group_id=group_id)
                for n, data in enumerate(photos)]

    def document(self, user: JSON, data: bytes, file_name: str, mime_type: str | None, caption: str = "",
                 chat: JSON | None = None, *, size: int | None = None, mention: bool = False,
                 media_group_id: str | None = None) -> JSON:
        """A file (an uncompressed photo when mime_type is image/*)."""
        message = self._message(user, chat)
        stored = self.add_file(data, size=size, suffix=file_name.rsplit(".", 1)[-1] if "." in file_name else "bin")
        document: JSON = {"file_id": stored.file_id, "file_unique_id": stored.unique_id, "file_size": stored.size,
                          "file_name": file_name}
        if mime_type:
            document["mime_type"] = mime_type
        message["document"] = document
        if caption or mention:
            self._with_text(message, caption, mention=mention, key="caption")
        if media_group_id:
            message["media_group_id"] = media_group_id
        self.inject({"message": message})
        return message

    def sticker(self, user: JSON, chat: JSON | None = None) -> JSON:
        message = self._message(user, chat)
        stored = self.add_file(b"webp")
        message["sticker"] = {"file_id": stored.file_id, "file_unique_id": stored.unique_id, "type": "regular",
                              "width": 512, "height": 512, "is_animated": False, "is_video": False}
        self.inject({"message": message})
        return message

    def press(self, user: JSON, message: BotMessage, data: str) -> JSON:
        """A press on an inline button of a bot message."""
        query = {"id": f"{next(self._callback_ids)}", "from": user, "chat_instance": "ci", "data": data,
                 "message": message.raw}
        self.inject({"callback_query": query})
        return query

    # ------------------------------------------------------------------ looking at the result

    def messages(self, chat_id: int) -> list[BotMessage]:
        return [m for (c, _), m in self.sent.items() if c == chat_id]

    def texts(self, chat_id: int) -> list[str]:
        return [m.content for m in self.messages(chat_id)]

    def calls_of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def last(self, chat_id: int) -> BotMessage:
        messages = self.messages(chat_id)
        assert messages, f"the bot sent nothing to {chat_id}"
        return messages[-1]

    async def wait_for(self, condition: Callable[[], object], timeout: float = 5.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or condition}; calls: "
                                     f"{[c.method for c in self.calls[-20:]]}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), 0.05)
            except asyncio.TimeoutError:
                pass

    async def wait_for_text(self, chat_id: int, part: str, timeout: float = 5.0) -> BotMessage:
        """The first bot message in the chat whose (current) text contains `part`."""
        def found() -> BotMessage | None:
            return next((m for m in self.messages(chat_id) if part in m.content), None)

        await self.wait_for(found, timeout, what=f"{part!r} in chat {chat_id} (have {self.texts(chat_id)})")
        message = found()
        assert message is not None
        return message

    def flood(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next `times` calls of `method` fail with 429 "retry after N", as Telegram's flood control does."""
        self._floods[method] = [retry_after] * times

    def request(self) -> FakeRequest:
        return FakeRequest(self)

    # ------------------------------------------------------------------ the Bot API

    async def call(self, method: str, raw: dict[str, str], files: dict[str, bytes]) -> tuple[int, JSON]:
        """Answer one Bot API call: (HTTP status, the JSON body Telegram would send)."""
        params = {key: _decode(key, value) for key, value in raw.items()}
        self.calls.append(Call(method, params, files, time.monotonic()))
        self._changed.set()
        flood = self._floods.get(method)
        if flood:
            retry_after = flood.pop(0)
            return 429, {"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {retry_after}",
                         "parameters": {"retry_after": retry_after}}
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        try:
            result = await handler(params, files)
        except ApiError as error:
            return error.code, {"ok": False, "error_code": error.code, "description": error.description}
        finally:
            self._changed.set()
        return 200, {"ok": True, "result": result}

    async def _api_getMe(self, params: JSON, files: dict[str, bytes]) -> JSON:
        return self.me

    async def _api_getUpdates(self, params: JSON, files: dict[str, bytes]) -> list[JSON]:
        if self.webhook["url"]:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while not self._updates and time.monotonic() < deadline:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
        return self._updates[: int(params.get("limit") or 100)]

    async def _api_deleteWebhook(self, params: JSON, files: dict[str, bytes]) -> bool:
        self.webhook = {"url": "", "secret_token": None}
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _api_setWebhook(self, params: JSON, files: dict[str, bytes]) -> bool:
        self.webhook = {"url": params["url"], "secret_token": params.get("secret_token")}
        pending, self._updates = self._updates, []
        for update in pending:
            if self.on_update is not None:
                self.on_update(update)
        return True

    async def _api_getWebhookInfo(self, params: JSON, files: dict[str, bytes]) -> JSON:
        return {"url": self.webhook["url"], "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    async def _api_setMyCommands(self, params: JSON, files: dict[str, bytes]) -> bool:
        self.commands = list(params.get("commands") or [])
        self.menus[(params.get("scope") or {}).get("type", "default")] = self.commands
        return True

    async def _api_getMyCommands(self, params: JSON, files: dict[str, bytes]) -> list[JSON]:
        return self.menus.get((params.get("scope") or {}).get("type", "default"), [])

    async def _api_sendChatAction(self, params: JSON, files: dict[str, bytes]) -> bool:
        self._chat(params)
        return True

    async def _api_answerCallbackQuery(self, params: JSON, files: dict[str, bytes]) -> bool:
        self.callback_answers.append(params)
        return True

    async def _api_getFile(self, params: JSON, files: dict[str, bytes]) -> JSON:
        stored = self._files.get(str(params.get("file_id")))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if stored.size > self.download_limit:
            raise ApiError(400, "Bad Request: file is too big")
        return {"file_id": stored.file_id, "file_unique_id": stored.unique_id, "file_size": stored.size,
                "file_path": stored.path}

    def _chat(self, params: JSON) -> JSON:
        chat_id = params.get("chat_id")
        chat = self.chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _store(self, params: JSON, kind: str, extra: JSON, *, media_group_id: str | None = None,
               caption: str | None = None, image: bytes | None = None) -> BotMessage:
        chat = self._chat(params)
        message_id = self._next_message_id(chat["id"])
        raw: JSON = {"message_id": message_id, "date": int(time.time()), "chat": chat, "from": self.me, **extra}
        reply_to = (params.get("reply_parameters") or {}).get("message_id")
        markup = params.get("reply_markup")
        if markup:
            raw["reply_markup"] = markup
        if media_group_id:
            raw["media_group_id"] = media_group_id
        message = BotMessage(chat["id"], message_id, kind, text=extra.get("text"), caption=caption, image=image,
                             reply_markup=markup or None, media_group_id=media_group_id, reply_to=reply_to, raw=raw)
        self.sent[(chat["id"], message_id)] = message
        return message

    async def _api_sendMessage(self, params: JSON, files: dict[str, bytes]) -> JSON:
        text = str(params.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return self._store(params, "text", {"text": text}).raw

    def _upload(self, value: Any, files: dict[str, bytes]) -> bytes:
        if isinstance(value, str) and value.startswith("attach://"):
            return files[value[len("attach://"):]]
        if isinstance(value, str) and value in self._files:
            return self._files[value].data
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    def _photo_message(self, params: JSON, data: bytes, caption: str | None, *,
                       media_group_id: str | None = None) -> BotMessage:
        if len(data) > 10_000_000:
            raise ApiError(400, "Bad Request: PHOTO_SAVE_FILE_INVALID")
        if caption and utf16_len(caption) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        stored = self.add_file(data)
        width, height = _image_size(data)
        extra: JSON = {"photo": [{"file_id": stored.file_id, "file_unique_id": stored.unique_id,
                                  "file_size": stored.size, "width": width, "height": height}]}
        if caption:
            extra["caption"] = caption
        return self._store(params, "photo", extra, media_group_id=media_group_id, caption=caption, image=data)

    async def _api_sendPhoto(self, params: JSON, files: dict[str, bytes]) -> JSON:
        data = files.get("photo") if "photo" in files else self._upload(params.get("photo"), files)
        assert data is not None
        return self._photo_message(params, data, params.get("caption")).raw

    async def _api_sendDocument(self, params: JSON, files: dict[str, bytes]) -> JSON:
        data = files.get("document") if "document" in files else self._upload(params.get("document"), files)
        assert data is not None
        if len(data) > 50_000_000:
            raise ApiError(413, "Request Entity Too Large")
        stored = self.add_file(data)
        extra = {"document": {"file_id": stored.file_id, "file_unique_id": stored.unique_id, "file_size": stored.size}}
        if params.get("caption"):
            extra["caption"] = params["caption"]
        return self._store(params, "document", extra, caption=params.get("caption"), image=data).raw

    async def _api_sendMediaGroup(self, params: JSON, files: dict[str, bytes]) -> list[JSON]:
        media = params.get("media") or []
        if not 2 <= len(media) <= 10:
            raise ApiError(400, "Bad Request: wrong number of media specified (must be 2-10)")
        group_id = f"9{next(self._group_ids):012d}"
        out = []
        for item in media:
            if item.get("type") != "photo":
                raise ApiError(400, "Bad Request: the fake only takes photo albums")
            data = self._upload(item["media"], files)
            message = self._photo_message({**params, "reply_markup": None}, data, item.get("caption"),
                                          media_group_id=group_id)
            out.append(message.raw)
        return out

    def _editable(self, params: JSON) -> BotMessage:
        chat = self._chat(params)
        message = self.sent.get((chat["id"], int(params.get("message_id") or 0)))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return message

    def _edit(self, message: BotMessage, field_name: str, value: str | None, markup: JSON | None) -> JSON:
        current = message.text if field_name == "text" else message.caption
        if current == value and (message.reply_markup or None) == (markup or None):
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                "markup are exactly the same as a current content and reply markup of the message")
        if field_name == "text":
            message.text = value
        else:
            message.caption = value
        message.reply_markup = markup or None
        message.raw[field_name] = value
        if markup:
            message.raw["reply_markup"] = markup
        else:
            message.raw.pop("reply_markup", None)
        message.edits.append({field_name: value, "reply_markup": markup, "at": time.monotonic()})
        return {**message.raw, "edit_date": int(time.time())}

    async def _api_editMessageText(self, params: JSON, files: dict[str, bytes]) -> JSON:
        message = self._editable(params)
        if message.kind != "text":
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text = str(params.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        return self._edit(message, "text", text, params.get("reply_markup"))

    async def _api_editMessageCaption(self, params: JSON, files: dict[str, bytes]) -> JSON:
        message = self._editable(params)
        if message.kind == "text":
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        return self._edit(message, "caption", params.get("caption"), params.get("reply_markup"))

    async def _api_editMessageReplyMarkup(self, params: JSON, files: dict[str, bytes]) -> JSON:
        message = self._editable(params)
        markup = params.get("reply_markup")
        if (message.reply_markup or None) == (markup or None):
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                "markup are exactly the same as a current content and reply markup of the message")
        message.reply_markup = markup or None
        if markup:
            message.raw["reply_markup"] = markup
        else:
            message.raw.pop("reply_markup", None)
        message.edits.append({"reply_markup": markup, "at": time.monotonic()})
        return {**message.raw, "edit_date": int(time.time())}

    async def _api_close(self, params: JSON, files: dict[str, bytes]) -> bool:
        return True

    async def _api_logOut(self, params: JSON, files: dict[str, bytes]) -> bool:
        return True


class ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _decode(key: str, value: Any) -> Any:
    """Form values arrive as strings; give them the types Telegram would read them as."""
    if not isinstance(value, str):
        return value
    if key in _STRUCTURED:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if key in _INTEGERS:
        try:
            return int(value)
        except ValueError:
            return value
    if key in _BOOLEANS:
        return value.lower() in ("true", "1")
    return value


def split_url(url: str) -> tuple[str, str]:
    """("method", name) for ".../bot<token>/<name>", ("file", path) for ".../file/bot<token>/<path>"."""
    path = urlsplit(url).path
    file_match = re.search(r"/file/bot[^/]*/(.+)$", path)
    if file_match:
        return "file", file_match.group(1)
    return "method", path.rsplit("/", 1)[-1]


class FakeRequest(BaseRequest):
    """python-telegram-bot's request layer, answered in-process by a FakeBotAPI."""

    def __init__(self, api: FakeBotAPI) -> None:
        self.api = api

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = None, write_timeout: Any = None, connect_timeout: Any = None,
                         pool_timeout: Any = None) -> tuple[int, bytes]:
        kind, name = split_url(url)
        if kind == "file":
            data = self.api.download(name)
            self.api.calls.append(Call("download", {"path": name}, {}, time.monotonic()))
            if data is None:
                return 404, json.dumps({"ok": False, "error_code": 404, "description": "Not Found"}).encode()
            return 200, data
        raw = dict(request_data.json_parameters) if request_data else {}
        files = ({part: field_tuple[1] if isinstance(field_tuple[1], bytes) else field_tuple[1].read()
                  for part, field_tuple in request_data.multipart_data.items()}
                 if request_data and request_data.contains_files else {})
        status, body = await self.api.call(name, raw, files)
        return status, json.dumps(body).encode()


class FakeBotAPIServer:
    """The fake Bot API over real HTTP on 127.0.0.1 (and webhook delivery, when one is set)."""

    def __init__(self, api: FakeBotAPI, host: str = "127.0.0.1") -> None:
        self.api = api
        self.host = host
        self.port = 0
        self._runner: Any = None
        self._session: Any = None
        self._deliveries: asyncio.Queue[JSON] = asyncio.Queue()
        self._deliverer: asyncio.Task[None] | None = None
        self.webhook_responses: list[int] = []

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://{self.host}:{self.port}/file/bot"

    async def __aenter__(self) -> FakeBotAPIServer:
        from aiohttp import ClientSession, web

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/file/bot{token}/{path:.+}", self._file)
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._session = ClientSession()
        self.api.on_update = self._deliveries.put_nowait
        self._deliverer = asyncio.create_task(self._deliver())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.api.on_update = None
        if self._deliverer is not None:
            self._deliverer.cancel()
            await asyncio.gather(self._deliverer, return_exceptions=True)
        await self._session.close()
        await self._runner.cleanup()

    async def _deliver(self) -> None:
        """POST updates to the webhook, one at a time, retrying like Telegram does."""
        while True:
            update = await self._deliveries.get()
            for _ in range(50):
                headers = {}
                if self.api.webhook.get("secret_token"):
                    headers["X-Telegram-Bot-Api-Secret-Token"] = self.api.webhook["secret_token"]
                try:
                    async with self._session.post(self.api.webhook["url"], json=update, headers=headers) as response:
                        self.webhook_responses.append(response.status)
                        if response.status == 200:
                            break
                except OSError:
                    pass
                await asyncio.sleep(0.1)

    async def _file(self, request: Any) -> Any:
        from aiohttp import web

        data = self.api.download(request.match_info["path"])
        self.api.calls.append(Call("download", {"path": request.match_info["path"]}, {}, time.monotonic()))
        if data is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.Response(body=data)

    async def _method(self, request: Any) -> Any:
        from aiohttp import web

        raw: dict[str, str] = {}
        files: dict[str, bytes] = {}
        if request.content_type == "application/json":
            body = await request.json()
            raw = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
        elif request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = value.file.read()
                else:
                    raw[key] = str(value)
        raw.update({k: v for k, v in request.query.items() if k not in raw})
        status, body = await self.api.call(request.match_info["method"], raw, files)
        return web.json_response(body, status=status)
