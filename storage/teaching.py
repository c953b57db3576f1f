"""Teaching sessions: who is sending photos of which concept in which chat (migrations.V4).

One per user and chat; starting another replaces it. A concept's or user's deletion ends theirs
(the rows cascade), so nothing else has to remember to.
"""

from __future__ import annotations

import json

from .base import StoreBase
from .database import execute, fetch_one
from .models import TeachingSession


class TeachingMixin(StoreBase):
    async def start_teaching(self, user_id: int, chat_id: int, concept_id: int, new_concept: bool) -> TeachingSession:
        session = TeachingSession(user_id, chat_id, concept_id, new_concept, (), self.now())
        async with self.db.transaction() as conn:
            await execute(conn, "INSERT OR REPLACE INTO teaching_sessions (user_id, chat_id, concept_id, new_concept, "
                          "added_photo_ids, started_at) VALUES (?, ?, ?, ?, '[]', ?)",
                          (user_id, chat_id, concept_id, int(new_concept), session.started_at))
        return session

    async def teaching_session(self, user_id: int, chat_id: int) -> TeachingSession | None:
        row = await self.db.fetch_one("SELECT * FROM teaching_sessions WHERE user_id = ? AND chat_id = ?",
                                      (user_id, chat_id))
        return TeachingSession.from_row(row) if row else None

    async def add_teaching_photo(self, user_id: int, chat_id: int, photo_id: int) -> None:
        """Remember a photo the session added, for /cancel to take back."""
        async with self.db.transaction() as conn:
            row = await fetch_one(conn, "SELECT added_photo_ids FROM teaching_sessions "
                                  "WHERE user_id = ? AND chat_id = ?", (user_id, chat_id))
            if row is None:
                return
            added = json.loads(row["added_photo_ids"]) + [photo_id]
            await execute(conn, "UPDATE teaching_sessions SET added_photo_ids = ? WHERE user_id = ? AND chat_id = ?",
                          (json.dumps(added), user_id, chat_id))

    async def end_teaching(self, user_id: int, chat_id: int) -> None:
        async with self.db.transaction() as conn:
            await execute(conn, "DELETE FROM teaching_sessions WHERE user_id = ? AND chat_id = ?", (user_id, chat_id))
