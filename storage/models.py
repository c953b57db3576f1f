"""The rows of the store as frozen dataclasses: what the rest of the app reads.

They are values, not live objects: a `Concept` read before a rename still carries the old
name. Ask the store again for the current state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

ConceptStatus = Literal["collecting", "queued", "training", "ready", "failed"]
PhotoRole = Literal["positive", "negative"]
JobState = Literal["queued", "running", "done", "failed", "cancelled"]

CONCEPT_STATUSES: tuple[ConceptStatus, ...] = ("collecting", "queued", "training", "ready", "failed")
PHOTO_ROLES: tuple[PhotoRole, ...] = ("positive", "negative")
JOB_STATES: tuple[JobState, ...] = ("queued", "running", "done", "failed", "cancelled")
FINAL_JOB_STATES: tuple[JobState, ...] = ("done", "failed", "cancelled")

Row = Mapping[str, Any]


@dataclass(frozen=True)
class User:
    id: int
    platform: str
    platform_user_id: str
    display_name: str | None
    created_at: float

    @classmethod
    def from_row(cls, row: Row) -> User:
        return cls(row["id"], row["platform"], row["platform_user_id"], row["display_name"], row["created_at"])


@dataclass(frozen=True)
class Chat:
    id: int
    platform: str
    platform_chat_id: str
    is_group: bool
    title: str | None
    created_at: float

    @classmethod
    def from_row(cls, row: Row) -> Chat:
        return cls(row["id"], row["platform"], row["platform_chat_id"], bool(row["is_group"]), row["title"],
                   row["created_at"])


@dataclass(frozen=True)
class Concept:
    id: int
    owner_id: int
    display_name: str
    normalized_name: str
    status: ConceptStatus
    base_model: str
    tokens_file: str | None  # relative to the data folder; None until first trained
    description: str
    category: str
    error: str | None
    created_at: float
    updated_at: float
    prototype: bytes | None = None  # the instant recogniser, before (and beside) the tokens

    @classmethod
    def from_row(cls, row: Row) -> Concept:
        return cls(row["id"], row["owner_id"], row["display_name"], row["normalized_name"], row["status"],
                   row["base_model"], row["tokens_file"], row["description"], row["category"], row["error"],
                   row["created_at"], row["updated_at"], row["prototype"])


@dataclass(frozen=True)
class PhotoRecord:
    id: int
    concept_id: int
    sha256: str  # of the sanitized bytes; also the file's name
    role: PhotoRole
    source: str  # "teach", "correction", "reply", ...
    width: int
    height: int
    created_at: float

    @classmethod
    def from_row(cls, row: Row) -> PhotoRecord:
        return cls(row["id"], row["concept_id"], row["sha256"], row["role"], row["source"], row["width"],
                   row["height"], row["created_at"])


@dataclass(frozen=True)
class Fact:
    id: int
    concept_id: int
    text: str
    created_at: float

    @classmethod
    def from_row(cls, row: Row) -> Fact:
        return cls(row["id"], row["concept_id"], row["text"], row["created_at"])


@dataclass(frozen=True)
class Share:
    concept_id: int
    chat_id: int
    shared_by: int
    created_at: float

    @classmethod
    def from_row(cls, row: Row) -> Share:
        return cls(row["concept_id"], row["chat_id"], row["shared_by"], row["created_at"])


@dataclass(frozen=True)
class TeachingSession:
    """A user sending photos of one concept in one chat, until /done or /cancel."""

    user_id: int
    chat_id: int
    concept_id: int
    new_concept: bool  # /cancel deletes the concept (else it only takes back `added_photo_ids`)
    added_photo_ids: tuple[int, ...]
    started_at: float

    @classmethod
    def from_row(cls, row: Row) -> TeachingSession:
        return cls(row["user_id"], row["chat_id"], row["concept_id"], bool(row["new_concept"]),
                   tuple(json.loads(row["added_photo_ids"])), row["started_at"])


@dataclass(frozen=True)
class Job:
    id: int
    concept_id: int
    user_id: int
    kind: str
    state: JobState
    attempts: int
    max_attempts: int
    lease_owner: str | None
    lease_expires_at: float | None
    progress: float
    detail: dict[str, Any]
    params: dict[str, Any]
    error: str | None
    notify_platform: str | None
    notify_chat_id: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None

    @classmethod
    def from_row(cls, row: Row) -> Job:
        return cls(row["id"], row["concept_id"], row["user_id"], row["kind"], row["state"], row["attempts"],
                   row["max_attempts"], row["lease_owner"], row["lease_expires_at"], row["progress"],
                   json.loads(row["detail"] or "{}"), json.loads(row["params"] or "{}"), row["error"],
                   row["notify_platform"], row["notify_chat_id"], row["created_at"], row["started_at"],
                   row["finished_at"])
