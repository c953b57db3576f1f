"""Concepts and what hangs off them besides photos: tokens, facts, shares.

Ownership is enforced where it is decided: `rename_concept` and `share_concept` take the
acting user and raise NotOwner; `visible_concepts` is the one query that lets anyone else
see a concept, and only in a chat it was shared into.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import aiosqlite

from .base import StoreBase, is_foreign_key_error, is_unique_error
from .database import execute, fetch_one, insert
from .errors import ConceptExists, NotFound, NotOwner
from .models import CONCEPT_STATUSES, Concept, ConceptStatus, Fact, Share

log = logging.getLogger(__name__)


@contextmanager
def _name_taken(display_name: str) -> Iterator[None]:
    """Turns the unique index on (owner, name) firing into ConceptExists: the name is the owner's already."""
    try:
        yield
    except sqlite3.IntegrityError as error:
        if is_unique_error(error):
            raise ConceptExists(display_name) from None
        raise


class ConceptsMixin(StoreBase):
    # -- concepts -----------------------------------------------------------------------

    async def create_concept(self, owner_id: int, display_name: str, normalized_name: str, base_model: str,
                             category: str = "") -> Concept:
        """A new concept in status 'collecting'. Raises ConceptExists, or NotFound (no such owner)."""
        now = self.now()
        async with self.db.transaction() as conn:
            await self.require(conn, "users", owner_id, "user")
            with _name_taken(display_name):
                concept_id = await insert(
                    conn, "INSERT INTO concepts (owner_id, display_name, normalized_name, status, base_model, "
                    "category, created_at, updated_at) VALUES (?, ?, ?, 'collecting', ?, ?, ?, ?)",
                    (owner_id, display_name, normalized_name, base_model, category, now, now))
            row = await fetch_one(conn, "SELECT * FROM concepts WHERE id = ?", (concept_id,))
        assert row is not None
        return Concept.from_row(row)

    async def get_concept(self, concept_id: int) -> Concept | None:
        row = await self.db.fetch_one("SELECT * FROM concepts WHERE id = ?", (concept_id,))
        return None if row is None else Concept.from_row(row)

    async def find_concept(self, owner_id: int, normalized_name: str) -> Concept | None:
        row = await self.db.fetch_one("SELECT * FROM concepts WHERE owner_id = ? AND normalized_name = ?",
                                      (owner_id, normalized_name))
        return None if row is None else Concept.from_row(row)

    async def list_concepts(self, owner_id: int) -> list[Concept]:
        """The user's own concepts, oldest first."""
        rows = await self.db.fetch_all("SELECT * FROM concepts WHERE owner_id = ? ORDER BY id", (owner_id,))
        return [Concept.from_row(row) for row in rows]

    async def visible_concepts(self, user_id: int, chat_id: int | None) -> list[Concept]:
        """What this user may use in this chat: their own (first), then those others shared
        into it. With chat_id None, only their own."""
        rows = await self.db.fetch_all(
            "SELECT c.*, 0 AS _rank FROM concepts c WHERE c.owner_id = :user "
            "UNION ALL "
            "SELECT c.*, 1 AS _rank FROM concepts c JOIN shares s ON s.concept_id = c.id "
            "WHERE s.chat_id = :chat AND c.owner_id != :user "
            "ORDER BY _rank, id", {"user": user_id, "chat": chat_id})
        return [Concept.from_row(row) for row in rows]

    async def rename_concept(self, concept_id: int, owner_id: int, display_name: str, normalized_name: str) -> Concept:
        """Raises NotFound, NotOwner (someone else's concept) or ConceptExists (name taken)."""
        async with self.db.transaction() as conn:
            await self._require_owner(conn, concept_id, owner_id, "rename")
            with _name_taken(display_name):
                await execute(conn, "UPDATE concepts SET display_name = ?, normalized_name = ?, updated_at = ? "
                              "WHERE id = ?", (display_name, normalized_name, self.now(), concept_id))
            updated = await fetch_one(conn, "SELECT * FROM concepts WHERE id = ?", (concept_id,))
        assert updated is not None
        return Concept.from_row(updated)

    async def set_concept_status(self, concept_id: int, status: ConceptStatus, error: str | None = None) -> bool:
        """Set the status (and the error shown with 'failed'; None clears it). False: concept gone."""
        if status not in CONCEPT_STATUSES:
            raise ValueError(f"unknown concept status {status!r}")
        async with self.db.transaction() as conn:
            changed = await execute(conn, "UPDATE concepts SET status = ?, error = ?, updated_at = ? WHERE id = ?",
                                    (status, error, self.now(), concept_id))
        return changed > 0

    async def set_description(self, concept_id: int, text: str) -> bool:
        async with self.db.transaction() as conn:
            changed = await execute(conn, "UPDATE concepts SET description = ?, updated_at = ? WHERE id = ?",
                                    (text, self.now(), concept_id))
        return changed > 0

    async def set_category(self, concept_id: int, category: str) -> bool:
        async with self.db.transaction() as conn:
            changed = await execute(conn, "UPDATE concepts SET category = ?, updated_at = ? WHERE id = ?",
                                    (category, self.now(), concept_id))
        return changed > 0

    async def set_prototype(self, concept_id: int, data: bytes | None) -> bool:
        async with self.db.transaction() as conn:
            changed = await execute(conn, "UPDATE concepts SET prototype = ? WHERE id = ?", (data, concept_id))
        return changed > 0

    # -- tokens -------------------------------------------------------------------------

    async def save_tokens(self, concept_id: int, data: bytes, base_model: str) -> Concept | None:
        """Point the concept at a new token file: the file is written whole first, then the
        row switched, then the old file removed. None (and nothing kept) if the concept is gone."""
        async with self.db.exclusive() as conn:
            relative = await self.in_thread(self.files.write_tokens, concept_id, data)
            row = None
            try:
                async with self.db.begin():
                    old = await fetch_one(conn, "SELECT tokens_file FROM concepts WHERE id = ?", (concept_id,))
                    if old is not None:
                        await execute(conn, "UPDATE concepts SET tokens_file = ?, base_model = ?, updated_at = ? "
                                      "WHERE id = ?", (relative, base_model, self.now(), concept_id))
                        row = await fetch_one(conn, "SELECT * FROM concepts WHERE id = ?", (concept_id,))
            except BaseException:
                await self.in_thread(self.files.delete_tokens, relative)
                raise
            if old is None:
                await self.in_thread(self.files.delete_tokens, relative)
                return None
            if old["tokens_file"] and old["tokens_file"] != relative:
                try:
                    await self.in_thread(self.files.delete_tokens, old["tokens_file"])
                except (OSError, ValueError):
                    log.exception("could not delete old tokens %s", old["tokens_file"])
        assert row is not None
        return Concept.from_row(row)

    async def learned_on_other_models(self, base_model: str) -> list[Concept]:
        """Concepts with tokens that another base model learned (the bot's model changed since)."""
        rows = await self.db.fetch_all("SELECT * FROM concepts WHERE tokens_file IS NOT NULL AND base_model != ? "
                                       "ORDER BY id", (base_model,))
        return [Concept.from_row(r) for r in rows]

    async def unlearn(self, concept_id: int, base_model: str) -> Concept | None:
        """Forget what another base model learned of a concept — its tokens and prototype, which only that
        model can read — so that `base_model` learns it again from its photos, description and facts
        (all kept). The concept is then collecting; None if it is gone."""
        async with self.db.exclusive() as conn:
            async with self.db.begin():
                old = await fetch_one(conn, "SELECT tokens_file FROM concepts WHERE id = ?", (concept_id,))
                if old is None:
                    return None
                await execute(conn, "UPDATE concepts SET tokens_file = NULL, prototype = NULL, base_model = ?, "
                              "status = 'collecting', updated_at = ? WHERE id = ?", (base_model, self.now(), concept_id))
                row = await fetch_one(conn, "SELECT * FROM concepts WHERE id = ?", (concept_id,))
            if old["tokens_file"]:
                try:
                    await self.in_thread(self.files.delete_tokens, old["tokens_file"])
                except (OSError, ValueError):
                    log.exception("could not delete old tokens %s", old["tokens_file"])
        assert row is not None
        return Concept.from_row(row)

    async def read_tokens(self, concept: Concept) -> bytes | None:
        """The concept's trained tokens, or None when it has none. A `concept` read before a
        retrain may name a file already replaced: then the current one is read."""
        relative = concept.tokens_file
        for _ in range(3):
            if relative is None:
                return None
            try:
                return await self.in_thread(self.files.read_tokens, relative)
            except FileNotFoundError:
                fresh = await self.get_concept(concept.id)
                if fresh is None or fresh.tokens_file == relative:
                    log.error("token file %s of concept %s is missing", relative, concept.id)
                    return None
                relative = fresh.tokens_file
        return None

    # -- facts --------------------------------------------------------------------------

    async def add_fact(self, concept_id: int, text: str) -> Fact:
        """Something the user told us about a concept. Raises NotFound."""
        now = self.now()
        async with self.db.transaction() as conn:
            await self.require(conn, "concepts", concept_id, "concept")
            fact_id = await insert(conn, "INSERT INTO facts (concept_id, text, created_at) VALUES (?, ?, ?)",
                                   (concept_id, text, now))
        return Fact(fact_id, concept_id, text, now)

    async def list_facts(self, concept_id: int) -> list[Fact]:
        rows = await self.db.fetch_all("SELECT * FROM facts WHERE concept_id = ? ORDER BY id", (concept_id,))
        return [Fact.from_row(row) for row in rows]

    async def delete_fact(self, fact_id: int) -> bool:
        async with self.db.transaction() as conn:
            return await execute(conn, "DELETE FROM facts WHERE id = ?", (fact_id,)) > 0

    # -- shares -------------------------------------------------------------------------

    async def share_concept(self, concept_id: int, chat_id: int, shared_by: int) -> Share:
        """Let everyone in a chat use the concept there. Only its owner may; sharing twice is
        a no-op. Raises NotFound (concept or chat) or NotOwner."""
        async with self.db.transaction() as conn:
            await self._require_owner(conn, concept_id, shared_by, "share")
            try:
                await execute(conn, "INSERT INTO shares (concept_id, chat_id, shared_by, created_at) "
                              "VALUES (?, ?, ?, ?) ON CONFLICT (concept_id, chat_id) DO NOTHING",
                              (concept_id, chat_id, shared_by, self.now()))
            except sqlite3.IntegrityError as error:
                if is_foreign_key_error(error):
                    raise NotFound(f"no chat with id {chat_id}") from None
                raise
            share = await fetch_one(conn, "SELECT * FROM shares WHERE concept_id = ? AND chat_id = ?",
                                    (concept_id, chat_id))
        assert share is not None
        return Share.from_row(share)

    async def unshare_concept(self, concept_id: int, chat_id: int) -> bool:
        async with self.db.transaction() as conn:
            return await execute(conn, "DELETE FROM shares WHERE concept_id = ? AND chat_id = ?",
                                 (concept_id, chat_id)) > 0

    async def list_shares(self, concept_id: int) -> list[Share]:
        rows = await self.db.fetch_all("SELECT * FROM shares WHERE concept_id = ? ORDER BY created_at, chat_id",
                                       (concept_id,))
        return [Share.from_row(row) for row in rows]

    @staticmethod
    async def _require_owner(conn: aiosqlite.Connection, concept_id: int, user_id: int, action: str) -> None:
        """Raise NotFound unless the concept exists, NotOwner unless `user_id` owns it."""
        row = await fetch_one(conn, "SELECT owner_id FROM concepts WHERE id = ?", (concept_id,))
        if row is None:
            raise NotFound(f"no concept with id {concept_id}")
        if row["owner_id"] != user_id:
            raise NotOwner(f"only the owner can {action} a concept")
