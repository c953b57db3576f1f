"""What the bot's admins change and read: blocked accounts, the training pause, an overview.

Kept in SQLite, not in memory, so that every process sharing the data folder (`yo run`, a
second bot, `yo teach`) sees a /block or a /pause at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .base import StoreBase
from .database import execute

TRAINING_PAUSED = "training_paused"


@dataclass(frozen=True)
class Overview:
    """Counts for an admin's /status."""

    users: int
    concepts: int
    ready_concepts: int
    photos: int
    queued_jobs: int
    running_jobs: int
    blocked_users: int


def folder_bytes(root: Path) -> int:
    """Bytes of every file under `root` (links not followed; files vanishing meanwhile skipped)."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


class AdminMixin(StoreBase):
    # -- blocked accounts -----------------------------------------------------------------

    async def block_user(self, platform: str, platform_user_id: str, blocked_by: str | None = None) -> bool:
        """Shut an account out; False if it was blocked already. Its rows stay: blocking
        refuses new messages, it doesn't delete what the user kept."""
        async with self.db.transaction() as conn:
            return await execute(conn, "INSERT OR IGNORE INTO blocked_users (platform, platform_user_id, blocked_by, "
                                 "created_at) VALUES (?, ?, ?, ?)",
                                 (platform, str(platform_user_id), blocked_by, self.now())) > 0

    async def unblock_user(self, platform: str, platform_user_id: str) -> bool:
        """Let a blocked account back in; False if it wasn't blocked."""
        async with self.db.transaction() as conn:
            return await execute(conn, "DELETE FROM blocked_users WHERE platform = ? AND platform_user_id = ?",
                                 (platform, str(platform_user_id))) > 0

    async def is_blocked(self, platform: str, platform_user_id: str) -> bool:
        row = await self.db.fetch_one("SELECT 1 FROM blocked_users WHERE platform = ? AND platform_user_id = ?",
                                      (platform, str(platform_user_id)))
        return row is not None

    async def list_blocked(self) -> list[tuple[str, str]]:
        """(platform, platform user id) of every blocked account, oldest block first."""
        rows = await self.db.fetch_all("SELECT platform, platform_user_id FROM blocked_users ORDER BY created_at")
        return [(row["platform"], row["platform_user_id"]) for row in rows]

    # -- the training pause ---------------------------------------------------------------

    async def set_training_paused(self, paused: bool) -> None:
        """While paused no queue runner leases a new job; running ones finish."""
        async with self.db.transaction() as conn:
            await execute(conn, "INSERT INTO switches (name, value, updated_at) VALUES (?, ?, ?) "
                          "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                          (TRAINING_PAUSED, "1" if paused else "0", self.now()))

    async def training_paused(self) -> bool:
        row = await self.db.fetch_one("SELECT value FROM switches WHERE name = ?", (TRAINING_PAUSED,))
        return row is not None and row["value"] == "1"

    # -- the overview ---------------------------------------------------------------------

    async def overview(self) -> Overview:
        row = await self.db.fetch_one(
            "SELECT (SELECT COUNT(*) FROM users) AS users, (SELECT COUNT(*) FROM concepts) AS concepts, "
            "(SELECT COUNT(*) FROM concepts WHERE tokens_file IS NOT NULL) AS ready_concepts, "
            "(SELECT COUNT(*) FROM photos) AS photos, "
            "(SELECT COUNT(*) FROM jobs WHERE state = 'queued') AS queued_jobs, "
            "(SELECT COUNT(*) FROM jobs WHERE state = 'running') AS running_jobs, "
            "(SELECT COUNT(*) FROM blocked_users) AS blocked_users")
        assert row is not None
        return Overview(**{name: int(value) for name, value in row.items()})

    async def disk_bytes(self) -> int:
        """Bytes the data folder takes on disk: the database, photos and concepts' tokens."""
        return await self.in_thread(folder_bytes, self.files.root)
