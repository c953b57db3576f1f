"""The schema, as a list of migrations: MIGRATIONS[i] takes the database to version i + 1.

Never edit a migration that has shipped: append a new one. `Database.open` applies those
not yet applied, each in its own transaction together with its `PRAGMA user_version`, so a
crash mid-migration leaves the previous version intact.

Timestamps are REAL unix seconds (time.time()); JSON columns are TEXT.
"""

from __future__ import annotations

V1 = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    platform TEXT NOT NULL,
    platform_user_id TEXT NOT NULL,
    display_name TEXT,
    created_at REAL NOT NULL,
    UNIQUE (platform, platform_user_id)
);

CREATE TABLE chats (
    id INTEGER PRIMARY KEY,
    platform TEXT NOT NULL,
    platform_chat_id TEXT NOT NULL,
    is_group INTEGER NOT NULL DEFAULT 0,
    title TEXT,
    created_at REAL NOT NULL,
    UNIQUE (platform, platform_chat_id)
);

CREATE TABLE concepts (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    normalized_name TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'collecting'
        CHECK (status IN ('collecting', 'queued', 'training', 'ready', 'failed')),
    base_model TEXT NOT NULL,
    tokens_file TEXT,
    description TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL DEFAULT '',
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (owner_id, normalized_name)
);

CREATE TABLE photos (
    id INTEGER PRIMARY KEY,
    concept_id INTEGER NOT NULL REFERENCES concepts (id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('positive', 'negative')),
    source TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (concept_id, sha256, role)
);
CREATE INDEX photos_by_sha ON photos (sha256);

CREATE TABLE facts (
    id INTEGER PRIMARY KEY,
    concept_id INTEGER NOT NULL REFERENCES concepts (id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX facts_by_concept ON facts (concept_id);

CREATE TABLE shares (
    concept_id INTEGER NOT NULL REFERENCES concepts (id) ON DELETE CASCADE,
    chat_id INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    shared_by INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at REAL NOT NULL,
    PRIMARY KEY (concept_id, chat_id)
);
CREATE INDEX shares_by_chat ON shares (chat_id);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    concept_id INTEGER NOT NULL REFERENCES concepts (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL DEFAULT 'train',
    state TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 3,
    lease_owner TEXT,
    lease_expires_at REAL,
    progress REAL NOT NULL DEFAULT 0,
    detail TEXT NOT NULL DEFAULT '{}',
    params TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    notify_platform TEXT,
    notify_chat_id TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX jobs_by_state ON jobs (state, created_at);
CREATE INDEX jobs_by_user ON jobs (user_id, started_at);
-- A concept waits in the queue at most once: enqueueing again replaces the waiting job.
CREATE UNIQUE INDEX jobs_one_queued_per_concept ON jobs (concept_id) WHERE state = 'queued';
"""

# The instant recogniser of a concept (personalization/instant.py): a few KB, kept in
# the row because it is read with the concept and replaced whenever its photos change.
V2 = """
ALTER TABLE concepts ADD COLUMN prototype BLOB;
"""

# Who an admin shut out (/block) and switches every process sharing the data folder obeys
# (/pause). Blocked accounts are kept by platform id: a blocked user may never have written.
V3 = """
CREATE TABLE blocked_users (
    platform TEXT NOT NULL,
    platform_user_id TEXT NOT NULL,
    blocked_by TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (platform, platform_user_id)
);

CREATE TABLE switches (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""

# A user teaching a concept in a chat, from /teach until /done or /cancel, with the photos added
# meanwhile (what /cancel takes back, a JSON list of photo ids). In the store, not in a process's
# memory: a restart in the middle of teaching, in a group too, forgets nothing.
V4 = """
CREATE TABLE teaching_sessions (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    chat_id INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    concept_id INTEGER NOT NULL REFERENCES concepts (id) ON DELETE CASCADE,
    new_concept INTEGER NOT NULL,
    added_photo_ids TEXT NOT NULL DEFAULT '[]',
    started_at REAL NOT NULL,
    PRIMARY KEY (user_id, chat_id)
);
"""

MIGRATIONS: list[str] = [V1, V2, V3, V4]
