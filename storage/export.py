"""A user's data as one zip, for "send me everything you keep about me".

    data.json                                   user, concepts (with photos, facts, shares), jobs,
                                                teaching sessions under way
    photos/<sha256>.png                         each photo once, however many concepts use it
    concepts/<concept id>/tokens.safetensors    the current trained tokens of each concept

Names inside the zip come from hashes and ids, never from what the user typed.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from dataclasses import asdict
from typing import Any

from .base import StoreBase, log
from .database import fetch_all, fetch_one
from .errors import NotFound
from .models import Concept, Fact, Job, PhotoRecord, Share, TeachingSession, User

EXPORT_VERSION = 1


class ExportMixin(StoreBase):
    async def export_user(self, user_id: int) -> bytes:
        """The zip's bytes. Raises NotFound for an unknown user. Holds the store while it reads
        the files, so a concurrent forget can't remove them halfway through."""
        async with self.db.exclusive() as conn:
            user_row = await fetch_one(conn, "SELECT * FROM users WHERE id = ?", (user_id,))
            if user_row is None:
                raise NotFound(f"no user with id {user_id}")
            concepts: list[dict[str, Any]] = []
            photos: dict[str, str] = {}  # sha -> path in the zip
            tokens: dict[str, str] = {}  # file under the data folder -> path in the zip
            for row in await fetch_all(conn, "SELECT * FROM concepts WHERE owner_id = ? ORDER BY id", (user_id,)):
                concept = Concept.from_row(row)
                entry = asdict(concept)
                entry["tokens"] = None
                if concept.tokens_file:
                    tokens[concept.tokens_file] = entry["tokens"] = f"concepts/{concept.id}/tokens.safetensors"
                entry["photos"] = []
                for photo_row in await fetch_all(conn, "SELECT * FROM photos WHERE concept_id = ? ORDER BY id",
                                                 (concept.id,)):
                    record = PhotoRecord.from_row(photo_row)
                    photos[record.sha256] = f"photos/{record.sha256}.png"
                    entry["photos"].append({**asdict(record), "file": photos[record.sha256]})
                entry["facts"] = [asdict(Fact.from_row(r)) for r in await fetch_all(
                    conn, "SELECT * FROM facts WHERE concept_id = ? ORDER BY id", (concept.id,))]
                entry["shares"] = [asdict(Share.from_row(r)) for r in await fetch_all(
                    conn, "SELECT * FROM shares WHERE concept_id = ? ORDER BY chat_id", (concept.id,))]
                concepts.append(entry)
            jobs = [asdict(Job.from_row(r)) for r in await fetch_all(
                conn, "SELECT * FROM jobs WHERE user_id = ? ORDER BY id", (user_id,))]
            teaching = [asdict(TeachingSession.from_row(r)) for r in await fetch_all(
                conn, "SELECT * FROM teaching_sessions WHERE user_id = ? ORDER BY started_at", (user_id,))]
            data = {"format": "yo-export", "version": EXPORT_VERSION, "exported_at": self.now(),
                    "user": asdict(User.from_row(user_row)), "concepts": concepts, "jobs": jobs,
                    "teaching_sessions": teaching}
            return await self.in_thread(self._zip, data, photos, tokens)

    def _zip(self, data: dict[str, Any], photos: dict[str, str], tokens: dict[str, str]) -> bytes:
        out = io.BytesIO()
        # PNG and safetensors barely compress: store them, deflate only the JSON.
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr("data.json", json.dumps(data, indent=2, ensure_ascii=False, default=_binary),
                             compress_type=zipfile.ZIP_DEFLATED)
            for sha, name in photos.items():
                try:
                    archive.writestr(name, self.files.read_photo(sha))
                except FileNotFoundError:
                    log.error("export: photo file %s is missing", sha)
            for relative, name in tokens.items():
                try:
                    archive.writestr(name, self.files.read_tokens(relative))
                except FileNotFoundError:
                    log.error("export: token file %s is missing", relative)
        return out.getvalue()


def _binary(value: object) -> str:
    """Binary columns (a concept's prototype) go into the JSON as base64."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
