"""Who may use Yo: the allowlist and the admins from settings, and the accounts admins blocked.

YO_ALLOWED_USERS and YO_ADMINS are comma-separated entries, one person or role each:

    telegram:12345          a Telegram user by id
    telegram:@alice         a Telegram user by @username
    discord:123456789       a Discord user by id
    discord:@alice          a Discord user by username
    discord:role:Friends    everyone with that role (its name or id) in a server Yo is in

An empty YO_ALLOWED_USERS lets everyone in. Admins are always let in, may use the admin
commands (/status, /pause, /resume, /block, /unblock) and are never rate-limited. The
terminal (`yo console`, the `yo` verbs) belongs to whoever runs Yo: always in, as an admin.
Someone turned away gets one polite refusal an hour, and nothing of theirs is stored.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from storage import Store

from .messages import ButtonPress, Message
from .texts import REFUSED

log = logging.getLogger(__name__)

# The terminal chat and the command-line verbs: the machine's own user.
TRUSTED_PLATFORM = "console"
# How often one person who may not use Yo is told so; in between they hear nothing.
REFUSAL_EVERY_SECONDS = 3600.0
# How long the blocked accounts read from the store are trusted. Every update asks, so they
# are read once per this many seconds rather than once per update; a block made by another
# process sharing the data folder takes effect within it (one made here, at once).
BLOCKS_FRESH_SECONDS = 2.0

_PLATFORM = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True)
class Who:
    """What a message says about its sender, as far as access goes."""

    platform: str
    user_id: str
    handle: str | None = None  # @username without the @ (Telegram, Discord)
    roles: tuple[str, ...] = ()  # Discord role ids and names, in a server only

    @classmethod
    def of(cls, event: Message | ButtonPress) -> Who:
        return cls(event.platform, event.user_id, event.user_handle, event.roles)


@dataclass(frozen=True)
class People:
    """A set of people as one setting names them."""

    ids: frozenset[tuple[str, str]] = frozenset()  # (platform, user id)
    handles: frozenset[tuple[str, str]] = frozenset()  # (platform, username, lower case)
    roles: frozenset[tuple[str, str]] = frozenset()  # (platform, role name or id, case folded)

    def __bool__(self) -> bool:
        return bool(self.ids or self.handles or self.roles)

    def __len__(self) -> int:
        return len(self.ids) + len(self.handles) + len(self.roles)

    def includes(self, who: Who) -> bool:
        if (who.platform, who.user_id) in self.ids:
            return True
        if who.handle and (who.platform, who.handle.lstrip("@").lower()) in self.handles:
            return True
        return any((who.platform, role.casefold()) in self.roles for role in who.roles)


def parse_people(text: str, setting: str = "YO_ALLOWED_USERS") -> People:
    """Read one setting's entries; ValueError names the first that isn't understood."""
    ids, handles, roles = set(), set(), set()
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        platform, _, rest = entry.partition(":")
        platform, rest = platform.strip().lower(), rest.strip()
        if not _PLATFORM.match(platform) or not rest:
            raise ValueError(f"{setting}: {entry!r} isn't platform:id, e.g. telegram:12345, telegram:@alice, "
                             "discord:123456789 or discord:role:Friends")
        if rest.lower().startswith("role:") and rest[5:].strip():
            roles.add((platform, rest[5:].strip().casefold()))
        elif rest.startswith("@") and rest[1:].strip():
            handles.add((platform, rest[1:].strip().lower()))
        elif " " not in rest:
            ids.add((platform, rest))
        else:
            raise ValueError(f"{setting}: {entry!r} has a space in its id")
    return People(frozenset(ids), frozenset(handles), frozenset(roles))


def parse_account(text: str, platform: str) -> tuple[str, str] | None:
    """"telegram:12345" (or a bare id, on `platform`) as (platform, id), for /block; None otherwise."""
    text = text.strip()
    if not text or " " in text:
        return None
    named, _, rest = text.partition(":")
    if rest:
        if not _PLATFORM.match(named.lower()) or rest.startswith(("@", "role:")):
            return None
        return named.lower(), rest
    return (platform, text) if not text.startswith("@") else None


class Access:
    """The gate every message and button press passes before anything of it is stored."""

    def __init__(self, store: Store, allowed: People, admins: People,
                 clock: Callable[[], float] = time.monotonic, capacity: int = 10_000) -> None:
        self.store = store
        self.allowed = allowed
        self.admins = admins
        self.clock = clock
        self._refused_at: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._capacity = capacity
        self._blocked: frozenset[tuple[str, str]] | None = None
        self._blocked_read_at = 0.0
        self._reading_blocked = asyncio.Lock()

    @classmethod
    def from_settings(cls, store: Store, allowed_users: str, admins: str,
                      clock: Callable[[], float] = time.monotonic) -> Access:
        return cls(store, parse_people(allowed_users, "YO_ALLOWED_USERS"), parse_people(admins, "YO_ADMINS"), clock)

    @property
    def open(self) -> bool:
        """Everyone may use Yo (no YO_ALLOWED_USERS)."""
        return not self.allowed

    def log_who(self) -> None:
        """One line at start, so that an open bot is never open by accident."""
        if self.open:
            log.warning("Yo is open to everyone: anyone who finds the bot can use it. "
                        "Set YO_ALLOWED_USERS (and YO_ADMINS) to choose who may.")
        else:
            log.warning("Yo answers only the %d entr%s of YO_ALLOWED_USERS and the %d of YO_ADMINS",
                        len(self.allowed), "y" if len(self.allowed) == 1 else "ies", len(self.admins))

    def is_admin(self, who: Who) -> bool:
        return who.platform == TRUSTED_PLATFORM or self.admins.includes(who)

    async def admits(self, who: Who) -> bool:
        """Admins always; others when allowed (everyone, with no allowlist) and not blocked."""
        if self.is_admin(who):
            return True
        if not self.open and not self.allowed.includes(who):
            return False
        return (who.platform, who.user_id) not in await self.blocked()

    async def blocked(self) -> frozenset[tuple[str, str]]:
        """The blocked accounts, (platform, user id), as read at most BLOCKS_FRESH_SECONDS ago."""
        async with self._reading_blocked:  # many updates at once: one of them reads
            if self._blocked is None or self.clock() - self._blocked_read_at > BLOCKS_FRESH_SECONDS:
                self._blocked = frozenset(await self.store.list_blocked())
                self._blocked_read_at = self.clock()
            return self._blocked

    async def block(self, platform: str, user_id: str, by: str | None) -> bool:
        """Block an account (False: it was already); takes effect at once in this process."""
        self._blocked = None
        return await self.store.block_user(platform, user_id, by)

    async def unblock(self, platform: str, user_id: str) -> bool:
        self._blocked = None
        return await self.store.unblock_user(platform, user_id)

    def refusal(self, who: Who) -> str | None:
        """The refusal to send now, or None when this person was told within the hour."""
        key, now = (who.platform, who.user_id), self.clock()
        last = self._refused_at.get(key)
        if last is not None and now - last < REFUSAL_EVERY_SECONDS:
            return None
        self._refused_at[key] = now
        self._refused_at.move_to_end(key)
        while len(self._refused_at) > self._capacity:
            self._refused_at.popitem(last=False)
        return REFUSED
