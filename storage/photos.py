"""Photos of concepts, and forgetting: the two places where rows and files must agree.

The rule for adding: sanitize first (a bad photo raises BadImage before anything is written),
then, holding the lock, write the file and insert the row in one transaction; if anything
fails the row is rolled back and the file removed unless some other row still names it.
The rule for deleting: rows first (committed), then the files no row names any more, still
holding the lock so nobody re-adds the same photo in between. A crash between the two leaves
an orphan file, never a row without its file; `sweep_orphans` removes those at the next open,
whatever their age (see there why it need not wait), so a forget killed after its commit
still leaves nothing of the forgotten behind once Yo starts again.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from .base import StoreBase, is_foreign_key_error, log
from .database import execute, fetch_all, fetch_one, insert
from .errors import NotFound
from .files import PHOTO_SUFFIX, TOKENS_SUFFIX, remove_empty_dir, sha256_of
from .images import BadImage, image_size, sanitize_image
from .models import PHOTO_ROLES, PhotoRecord, PhotoRole


@dataclass(frozen=True)
class _Clean:
    data: bytes
    sha256: str
    width: int
    height: int


def _sanitize_all(photos: Sequence[bytes]) -> list[_Clean]:
    """Sanitize every photo before storing any (all-or-nothing); names the bad one."""
    clean = []
    for number, data in enumerate(photos, start=1):
        try:
            out = sanitize_image(data)
        except BadImage as reason:
            raise (BadImage(f"Photo {number}: {reason}") if len(photos) > 1 else reason) from None
        width, height = image_size(out)
        clean.append(_Clean(out, sha256_of(out), width, height))
    return clean


class PhotosMixin(StoreBase):
    async def add_photo(self, concept_id: int, data: bytes, role: PhotoRole = "positive",
                        source: str = "teach") -> PhotoRecord:
        """Sanitize and keep one photo. The same photo again (same concept and role) returns
        the existing record. Raises BadImage (nothing stored) or NotFound (no such concept)."""
        [record] = await self.add_photos(concept_id, [data], role, source)
        return record

    async def add_photos(self, concept_id: int, photos: Sequence[bytes], role: PhotoRole = "positive",
                         source: str = "teach") -> list[PhotoRecord]:
        """Keep several photos, all or none: one bad photo raises BadImage and stores nothing."""
        if role not in PHOTO_ROLES:
            raise ValueError(f"unknown photo role {role!r}")
        clean = await self.in_thread(_sanitize_all, list(photos))
        now = self.now()
        async with self.db.exclusive() as conn:
            written: list[str] = []
            records: list[PhotoRecord] = []
            try:
                async with self.db.begin():
                    await self.require(conn, "concepts", concept_id, "concept")
                    for photo in clean:
                        existing = await fetch_one(
                            conn, "SELECT * FROM photos WHERE concept_id = ? AND sha256 = ? AND role = ?",
                            (concept_id, photo.sha256, role))
                        if existing is not None:
                            records.append(PhotoRecord.from_row(existing))
                            continue
                        written.append(photo.sha256)
                        await self.in_thread(self.files.write_photo, photo.data)
                        photo_id = await self._insert_photo_row(conn, concept_id, photo.sha256, role, source,
                                                                photo.width, photo.height, now)
                        records.append(PhotoRecord(photo_id, concept_id, photo.sha256, role, source,
                                                   photo.width, photo.height, now))
            except BaseException as error:
                await self.delete_unreferenced_photos(conn, written)
                if is_foreign_key_error(error):
                    raise NotFound(f"no concept with id {concept_id}") from error
                raise
        return records

    async def _insert_photo_row(self, conn: aiosqlite.Connection, concept_id: int, sha: str, role: str,
                                source: str, width: int, height: int, now: float) -> int:
        """The row of a photo whose file is already written (a seam for failure tests)."""
        return await insert(conn, "INSERT INTO photos (concept_id, sha256, role, source, width, height, created_at) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)", (concept_id, sha, role, source, width, height, now))

    async def list_photos(self, concept_id: int, role: PhotoRole | None = None) -> list[PhotoRecord]:
        if role is None:
            rows = await self.db.fetch_all("SELECT * FROM photos WHERE concept_id = ? ORDER BY id", (concept_id,))
        else:
            rows = await self.db.fetch_all("SELECT * FROM photos WHERE concept_id = ? AND role = ? ORDER BY id",
                                           (concept_id, role))
        return [PhotoRecord.from_row(row) for row in rows]

    async def get_photo(self, photo_id: int) -> PhotoRecord | None:
        row = await self.db.fetch_one("SELECT * FROM photos WHERE id = ?", (photo_id,))
        return None if row is None else PhotoRecord.from_row(row)

    async def read_photo(self, record: PhotoRecord) -> bytes:
        """The sanitized PNG bytes of a stored photo."""
        return await self.in_thread(self.files.read_photo, record.sha256)

    async def remove_photo(self, photo_id: int) -> bool:
        """Remove one photo row, and its file when no other row names it."""
        async with self.db.exclusive() as conn:
            async with self.db.begin():
                row = await fetch_one(conn, "SELECT sha256 FROM photos WHERE id = ?", (photo_id,))
                if row is not None:
                    await execute(conn, "DELETE FROM photos WHERE id = ?", (photo_id,))
            if row is not None:
                await self._delete_photo_files(conn, [row["sha256"]])
        return row is not None

    # -- forgetting ---------------------------------------------------------------------

    async def delete_concept(self, concept_id: int) -> bool:
        """Forget a concept: its rows (photos, facts, shares, jobs cascade), its token files
        and every photo file no other concept uses. False when there was no such concept."""
        async with self.db.exclusive() as conn:
            async with self.db.begin():
                shas = await self._shas_of(conn, "concept_id = ?", concept_id)
                deleted = await execute(conn, "DELETE FROM concepts WHERE id = ?", (concept_id,))
            await self._delete_photo_files(conn, shas)
            await self.delete_concept_files(concept_id)
        return deleted > 0

    async def delete_user(self, user_id: int, private_chat_ids: Sequence[int] = ()) -> bool:
        """Forget a user and everything they taught (as delete_concept, for each concept), and
        their private chats with Yo: those in `private_chat_ids` (the adapter knows them) and,
        on platforms where a private chat's id is the user's own (Telegram, the terminal), that
        one. Group chats stay: they are the group's. False when there was no such user."""
        async with self.db.exclusive() as conn:
            async with self.db.begin():
                user = await fetch_one(conn, "SELECT platform, platform_user_id FROM users WHERE id = ?", (user_id,))
                concept_ids = [r["id"] for r in await fetch_all(conn, "SELECT id FROM concepts WHERE owner_id = ?",
                                                                 (user_id,))]
                shas = await self._shas_of(conn, "concept_id IN (SELECT id FROM concepts WHERE owner_id = ?)", user_id)
                deleted = await execute(conn, "DELETE FROM users WHERE id = ?", (user_id,))
                if user is not None:
                    await execute(conn, "DELETE FROM chats WHERE is_group = 0 AND platform = ? "
                                  "AND platform_chat_id = ?", (user["platform"], user["platform_user_id"]))
                for chat_id in private_chat_ids:
                    await execute(conn, "DELETE FROM chats WHERE is_group = 0 AND id = ?", (chat_id,))
            await self._delete_photo_files(conn, shas)
            for concept_id in concept_ids:
                await self.delete_concept_files(concept_id)
        return deleted > 0

    @staticmethod
    async def _shas_of(conn: aiosqlite.Connection, where: str, value: int) -> list[str]:
        rows = await fetch_all(conn, f"SELECT DISTINCT sha256 FROM photos WHERE {where}", (value,))
        return [row["sha256"] for row in rows]

    async def _delete_photo_files(self, conn: aiosqlite.Connection, shas: Sequence[str]) -> None:
        """The files of deleted photo rows, under the write lock: then no other process can
        add a row for one of these shas (and find its file) between the check and the unlink."""
        try:
            async with self.db.begin():
                await self.delete_unreferenced_photos(conn, shas)
        except sqlite3.OperationalError:  # busy past the timeout: the rows are gone all the same
            log.exception("could not delete the files of %d photos; the next open will", len(shas))

    async def sweep_orphans(self, min_age_seconds: float = 3600.0) -> int:
        """Delete files no row names, left by a crash between a commit and a file removal (a
        forget killed after its commit), or between a file write and its row. Returns how many
        went.

        It looks holding the write lock (BEGIN IMMEDIATE), so what no committed row names is
        nobody's and goes at once: photos are written only inside a write transaction
        (add_photos), and token files only into the folder of a concept that exists, so a
        folder whose concept row is gone is a forgotten concept's. Only what a writer makes
        outside a transaction waits `min_age_seconds`, because another process may be writing
        it right now: a new token version of a living concept (save_tokens writes it before
        it switches the row) and the temporary file beside it. No journal of files to delete
        is needed: the rows already say which files are still wanted."""
        async with self.db.transaction() as conn:
            shas = {r["sha256"] for r in await fetch_all(conn, "SELECT DISTINCT sha256 FROM photos")}
            rows = await fetch_all(conn, "SELECT id, tokens_file FROM concepts")
            tokens = {r["tokens_file"] for r in rows if r["tokens_file"]}
            concept_ids = {str(r["id"]) for r in rows}
            return await self.in_thread(self._sweep, shas, tokens, concept_ids, time.time() - min_age_seconds)

    def _sweep(self, shas: set[str], tokens: set[str], concept_ids: set[str], cutoff: float) -> int:
        removed = 0
        for shard in _folders(self.files.photos_dir):
            for path in shard.iterdir():
                if path.name.startswith(".tmp-") or (path.suffix == PHOTO_SUFFIX and path.stem not in shas):
                    removed += _remove(path)
            remove_empty_dir(shard)
        for folder in _folders(self.files.concepts_dir):
            living = folder.name in concept_ids
            for path in folder.iterdir():
                if not living:
                    removed += _remove(path)
                elif (path.name.startswith(".tmp-") or (path.suffix == TOKENS_SUFFIX and path.relative_to(
                        self.files.root).as_posix() not in tokens)) and _modified_before(path, cutoff):
                    removed += _remove(path)
            if not living:
                remove_empty_dir(folder)
        return removed


def _folders(parent: Path) -> list[Path]:
    return sorted(p for p in parent.iterdir() if p.is_dir()) if parent.is_dir() else []


def _modified_before(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except OSError:  # gone meanwhile
        return False


def _remove(path: Path) -> int:
    """1 when the file was removed; folders and failures are left (and logged)."""
    try:
        if path.is_file():
            path.unlink()
            return 1
    except OSError:
        log.exception("could not sweep %s", path)
    return 0
