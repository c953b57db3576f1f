"""`Store`: the one object the rest of Yo uses to keep things (rows in SQLite, files on disk).

    data_dir/yo.sqlite3      users, chats, concepts, photos, facts, shares, jobs, blocked_users, switches,
                             teaching_sessions
    data_dir/photos/…        sanitized photos, by sha256
    data_dir/concepts/…      trained tokens, a new file per version

The API is spread over mixins, one module per subject: concepts.py (concepts, tokens, facts,
shares), photos.py (photos and forgetting), jobs.py (the training queue), export.py, admin.py
(blocked accounts, the training pause, counts for /status), teaching.py (teaching sessions). This module opens and closes the
store and keeps users and chats. See errors.py for what methods return or raise when something
is missing.
"""

from __future__ import annotations

import time
from pathlib import Path

from .admin import AdminMixin
from .base import Clock
from .concepts import ConceptsMixin
from .database import Database, execute, fetch_one, insert
from .export import ExportMixin
from .files import FileStore, private_dir
from .jobs import JobsMixin
from .models import Chat, User
from .photos import PhotosMixin
from .teaching import TeachingMixin

DB_NAME = "yo.sqlite3"


class Store(ConceptsMixin, PhotosMixin, JobsMixin, ExportMixin, AdminMixin, TeachingMixin):
    @classmethod
    async def open(cls, data_dir: Path | str, *, clock: Clock = time.time) -> Store:
        """Open (creating when new) the store in `data_dir`, migrating the schema and sweeping
        files a crash may have orphaned."""
        data_dir = Path(data_dir)
        private_dir(data_dir)  # 0700 when new; an existing folder keeps the mode its owner chose
        db = await Database.open(data_dir / DB_NAME)
        store = cls(db, FileStore(data_dir), clock)
        try:
            await store.sweep_orphans()
        except BaseException:
            await db.close()
            raise
        return store

    @property
    def data_dir(self) -> Path:
        return self.files.root

    async def close(self) -> None:
        await self.db.close()

    # -- users and chats ------------------------------------------------------------------

    async def get_or_create_user(self, platform: str, platform_user_id: str, display_name: str | None = None) -> User:
        """The user behind a platform account, created on first sight. A new non-empty
        display name replaces the stored one (people rename themselves)."""
        platform_user_id = str(platform_user_id)
        async with self.db.transaction() as conn:
            row = await fetch_one(conn, "SELECT * FROM users WHERE platform = ? AND platform_user_id = ?",
                                  (platform, platform_user_id))
            if row is None:
                user_id = await insert(conn, "INSERT INTO users (platform, platform_user_id, display_name, created_at) "
                                       "VALUES (?, ?, ?, ?)", (platform, platform_user_id, display_name, self.now()))
            elif display_name and display_name != row["display_name"]:
                user_id = row["id"]
                await execute(conn, "UPDATE users SET display_name = ? WHERE id = ?", (display_name, user_id))
            else:
                return User.from_row(row)
            row = await fetch_one(conn, "SELECT * FROM users WHERE id = ?", (user_id,))
        assert row is not None
        return User.from_row(row)

    async def find_user(self, platform: str, platform_user_id: str) -> User | None:
        """The user behind a platform account, if Yo has seen them (read-only)."""
        row = await self.db.fetch_one("SELECT * FROM users WHERE platform = ? AND platform_user_id = ?",
                                      (platform, str(platform_user_id)))
        return None if row is None else User.from_row(row)

    async def get_user(self, user_id: int) -> User | None:
        row = await self.db.fetch_one("SELECT * FROM users WHERE id = ?", (user_id,))
        return None if row is None else User.from_row(row)

    async def get_or_create_chat(self, platform: str, platform_chat_id: str, is_group: bool,
                                 title: str | None = None) -> Chat:
        """The chat behind a platform chat id, created on first sight; is_group and a new
        title are kept up to date."""
        platform_chat_id = str(platform_chat_id)
        async with self.db.transaction() as conn:
            row = await fetch_one(conn, "SELECT * FROM chats WHERE platform = ? AND platform_chat_id = ?",
                                  (platform, platform_chat_id))
            if row is None:
                chat_id = await insert(conn, "INSERT INTO chats (platform, platform_chat_id, is_group, title, "
                                       "created_at) VALUES (?, ?, ?, ?, ?)",
                                       (platform, platform_chat_id, int(is_group), title, self.now()))
            elif bool(row["is_group"]) != is_group or (title and title != row["title"]):
                chat_id = row["id"]
                await execute(conn, "UPDATE chats SET is_group = ?, title = COALESCE(?, title) WHERE id = ?",
                              (int(is_group), title, chat_id))
            else:
                return Chat.from_row(row)
            row = await fetch_one(conn, "SELECT * FROM chats WHERE id = ?", (chat_id,))
        assert row is not None
        return Chat.from_row(row)

    async def get_chat(self, chat_id: int) -> Chat | None:
        row = await self.db.fetch_one("SELECT * FROM chats WHERE id = ?", (chat_id,))
        return None if row is None else Chat.from_row(row)
