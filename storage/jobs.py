"""The durable training queue's rows: enqueue, lease fairly, renew, finish, recover.

A job is leased, not taken: `lease_next_job` marks it running under its owner (one queue
runner of one process) with an expiry, the runner renews the lease while it works, and
`requeue_abandoned` hands back the jobs whose runner is gone: its lease ran out by the clock,
or the caller knows the owner is dead (a process of this machine that no longer exists).
A live owner's job is never taken: several processes share one queue. Jobs go back to the
queue, or fail once they have used up `max_attempts`. A runner that stops cleanly hands its
jobs back (`hand_back_job`) without spending an attempt. State lives in SQLite only, so a
restart loses nothing.

Fairness: one user with five concepts must not make everyone else wait for all five. Among
users with queued jobs the next job goes to the user with the fewest running jobs, then the
one whose latest start is oldest (never started first); within a user, first in first out.
With one worker this is round-robin across users. The choice is made in Python from two
small queries inside one BEGIN IMMEDIATE transaction, so that `queue_position` can replay
exactly the same rule.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import aiosqlite

from .base import StoreBase
from .database import execute, fetch_all, fetch_one, insert
from .models import FINAL_JOB_STATES, JOB_STATES, Job, JobState

SUPERSEDED = "superseded by a newer request for the same concept"


async def _fair_order(conn: aiosqlite.Connection) -> Iterator[dict[str, Any]]:
    """The queued jobs in the order lease_next_job would take them, if nothing else changed."""
    queued = await fetch_all(conn, "SELECT * FROM jobs WHERE state = 'queued' ORDER BY created_at, id")
    stats = await fetch_all(
        conn, "SELECT user_id, SUM(state = 'running') AS running, MAX(started_at) AS last_start FROM jobs "
        "WHERE user_id IN (SELECT user_id FROM jobs WHERE state = 'queued') GROUP BY user_id")
    running = {s["user_id"]: int(s["running"] or 0) for s in stats}
    # (0, real start) sorts before (1, n): a start we only simulate is newer than any real one.
    last: dict[int, tuple[int, float]] = {
        s["user_id"]: (0, -1.0 if s["last_start"] is None else float(s["last_start"])) for s in stats}
    by_user: dict[int, deque[dict[str, Any]]] = {}
    for job in queued:
        by_user.setdefault(job["user_id"], deque()).append(job)

    def order() -> Iterator[dict[str, Any]]:
        tick = 0
        while by_user:
            user = min(by_user, key=lambda u: (running.get(u, 0), last.get(u, (0, -1.0)),
                                               by_user[u][0]["created_at"], by_user[u][0]["id"]))
            yield by_user[user].popleft()
            if not by_user[user]:
                del by_user[user]
            tick += 1
            last[user] = (1, float(tick))

    return order()


class JobsMixin(StoreBase):
    async def enqueue_job(self, concept_id: int, user_id: int, params: dict[str, Any],
                          notify_platform: str | None = None, notify_chat_id: str | None = None,
                          max_attempts: int = 3, *, kind: str = "train") -> Job:
        """Queue work for a concept. If the concept already has a job waiting, that job is
        updated instead (params, where to notify, max_attempts) and keeps its place in line
        and its attempts, so re-sending /done never queues twice nor jumps the queue.
        A running job is not touched: the new job waits behind it. Raises NotFound."""
        body = json.dumps(params)
        async with self.db.transaction() as conn:
            await self.require(conn, "concepts", concept_id, "concept")
            await self.require(conn, "users", user_id, "user")
            waiting = await fetch_one(conn, "SELECT id FROM jobs WHERE concept_id = ? AND state = 'queued'",
                                      (concept_id,))
            if waiting is not None:
                job_id = waiting["id"]
                await execute(conn, "UPDATE jobs SET params = ?, notify_platform = ?, notify_chat_id = ?, "
                              "max_attempts = ?, kind = ?, user_id = ? WHERE id = ?",
                              (body, notify_platform, notify_chat_id, max_attempts, kind, user_id, job_id))
            else:
                job_id = await insert(
                    conn, "INSERT INTO jobs (concept_id, user_id, kind, state, max_attempts, params, "
                    "notify_platform, notify_chat_id, created_at) VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
                    (concept_id, user_id, kind, max_attempts, body, notify_platform, notify_chat_id, self.now()))
            return await self._job(conn, job_id)

    async def count_active_jobs(self, user_id: int) -> int:
        """Queued plus running jobs of a user, for a per-user cap."""
        row = await self.db.fetch_one("SELECT COUNT(*) AS n FROM jobs WHERE user_id = ? AND state IN "
                                      "('queued', 'running')", (user_id,))
        return 0 if row is None else int(row["n"])

    async def job_times_since(self, user_id: int, since: float) -> list[float]:
        """When each of a user's jobs created at or after `since` was queued, oldest first (for a
        trainings-per-day limit; a waiting job that was replaced counts once)."""
        rows = await self.db.fetch_all("SELECT created_at FROM jobs WHERE user_id = ? AND created_at >= ? "
                                       "ORDER BY created_at", (user_id, since))
        return [float(row["created_at"]) for row in rows]

    async def lease_next_job(self, owner: str, lease_seconds: float, *, concept_id: int | None = None) -> Job | None:
        """Take the next job (fairly, see the module docstring) for `lease_seconds`; with
        `concept_id`, only that concept's (a one-shot `yo teach` trains its own, no one else's)."""
        now = self.now()
        async with self.db.transaction() as conn:
            order = await _fair_order(conn)
            chosen = next((job for job in order if concept_id in (None, job["concept_id"])), None)
            if chosen is None:
                return None
            await execute(conn, "UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?, "
                          "attempts = attempts + 1, started_at = ?, finished_at = NULL WHERE id = ?",
                          (owner, now + lease_seconds, now, chosen["id"]))
            return await self._job(conn, chosen["id"])

    async def renew_lease(self, job_id: int, worker_id: str, lease_seconds: float) -> bool:
        """Extend a lease; False if the job is no longer running under this worker."""
        async with self.db.transaction() as conn:
            return await execute(conn, "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND state = 'running' "
                                 "AND lease_owner = ?", (self.now() + lease_seconds, job_id, worker_id)) > 0

    async def set_job_progress(self, job_id: int, progress: float, detail: dict[str, Any]) -> bool:
        progress = min(1.0, max(0.0, float(progress)))
        async with self.db.transaction() as conn:
            return await execute(conn, "UPDATE jobs SET progress = ?, detail = ? WHERE id = ?",
                                 (progress, json.dumps(detail, default=str), job_id)) > 0

    async def finish_job(self, job_id: int, state: JobState, error: str | None = None, *,
                         owner: str | None = None) -> bool:
        """Mark a queued or running job done, failed or cancelled. A job already final is
        left as it is (False): the first verdict stands. With `owner`, a running job is
        finished only if it still runs under that owner (not handed to another runner)."""
        if state not in FINAL_JOB_STATES:
            raise ValueError(f"not a final job state: {state!r}")
        async with self.db.transaction() as conn:
            return await execute(
                conn, "UPDATE jobs SET state = ?, error = ?, finished_at = ?, lease_owner = NULL, "
                "lease_expires_at = NULL, progress = CASE WHEN ? = 'done' THEN 1.0 ELSE progress END "
                "WHERE id = ? AND (state = 'queued' OR (state = 'running' AND (? IS NULL OR lease_owner = ?)))",
                (state, error, self.now(), state, job_id, owner, owner)) > 0

    async def cancel_job(self, job_id: int) -> bool:
        return await self.finish_job(job_id, "cancelled")

    async def release_job(self, job_id: int, error: str | None = None, *, owner: str | None = None) -> bool:
        """Give a running job back to the queue to be tried again (its attempt still counts).
        If the concept has a newer job waiting, this one is cancelled as superseded instead;
        if it has used all its attempts, it fails ("gave up after N attempts (error)").
        With `owner`, only while the job still runs under that owner."""
        async with self.db.transaction() as conn:
            row = await fetch_one(conn, "SELECT * FROM jobs WHERE id = ? AND state = 'running' AND "
                                  "(? IS NULL OR lease_owner = ?)", (job_id, owner, owner))
            if row is None:
                return False
            await self._requeue(conn, row, error)
            return True

    async def hand_back_job(self, job_id: int, owner: str) -> bool:
        """A runner that stops cleanly gives its running job back to the head of the line, the
        attempt not counted: it was interrupted, not failed. False if it no longer held it."""
        async with self.db.transaction() as conn:
            return await execute(conn, "UPDATE jobs SET state = 'queued', attempts = MAX(0, attempts - 1), "
                                 "lease_owner = NULL, lease_expires_at = NULL, progress = 0 "
                                 "WHERE id = ? AND state = 'running' AND lease_owner = ?", (job_id, owner)) > 0

    async def requeue_abandoned(self, owner_is_gone: Callable[[str], bool] = lambda owner: False) -> list[Job]:
        """Running jobs whose runner is gone: its lease ran out by the clock, or
        `owner_is_gone(owner)` says so. Back to the queue, or failed with "gave up after N
        attempts" once attempts reach max_attempts. Returns them as they are now."""
        now = self.now()
        async with self.db.transaction() as conn:
            rows = [row for row in await fetch_all(conn, "SELECT * FROM jobs WHERE state = 'running' ORDER BY id")
                    if row["lease_expires_at"] is None or row["lease_expires_at"] < now
                    or (row["lease_owner"] is not None and owner_is_gone(row["lease_owner"]))]
            for row in rows:
                if row["attempts"] >= row["max_attempts"]:
                    await execute(conn, "UPDATE jobs SET state = 'failed', error = ?, finished_at = ?, "
                                  "lease_owner = NULL, lease_expires_at = NULL WHERE id = ?",
                                  (f"gave up after {row['attempts']} attempts", self.now(), row["id"]))
                else:
                    await self._requeue(conn, row, "the worker stopped answering")
            return [await self._job(conn, row["id"]) for row in rows]

    async def _requeue(self, conn: aiosqlite.Connection, row: dict[str, Any], error: str | None) -> None:
        if row["attempts"] >= row["max_attempts"]:  # a caller that didn't check: stay bounded
            await execute(conn, "UPDATE jobs SET state = 'failed', error = ?, finished_at = ?, lease_owner = NULL, "
                          "lease_expires_at = NULL WHERE id = ?",
                          (f"gave up after {row['attempts']} attempts" + (f" ({error})" if error else ""),
                           self.now(), row["id"]))
            return
        newer = await fetch_one(conn, "SELECT id FROM jobs WHERE concept_id = ? AND state = 'queued'",
                                (row["concept_id"],))
        if newer is not None:  # at most one queued job per concept (a unique index says so)
            await execute(conn, "UPDATE jobs SET state = 'cancelled', error = ?, finished_at = ?, lease_owner = NULL, "
                          "lease_expires_at = NULL WHERE id = ?", (SUPERSEDED, self.now(), row["id"]))
        else:
            await execute(conn, "UPDATE jobs SET state = 'queued', error = ?, lease_owner = NULL, "
                          "lease_expires_at = NULL, progress = 0 WHERE id = ?", (error, row["id"]))

    async def get_job(self, job_id: int) -> Job | None:
        row = await self.db.fetch_one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return None if row is None else Job.from_row(row)

    async def latest_job_for_concept(self, concept_id: int) -> Job | None:
        row = await self.db.fetch_one("SELECT * FROM jobs WHERE concept_id = ? ORDER BY id DESC LIMIT 1",
                                      (concept_id,))
        return None if row is None else Job.from_row(row)

    async def active_job_for_concept(self, concept_id: int) -> Job | None:
        """The concept's running job, else its queued one, else None."""
        row = await self.db.fetch_one("SELECT * FROM jobs WHERE concept_id = ? AND state IN ('queued', 'running') "
                                      "ORDER BY state = 'running' DESC, id DESC LIMIT 1", (concept_id,))
        return None if row is None else Job.from_row(row)

    async def last_trained_at(self, concept_id: int) -> float | None:
        """When the concept's latest successful training finished; None if it never did."""
        row = await self.db.fetch_one("SELECT MAX(finished_at) AS at FROM jobs WHERE concept_id = ? AND state = 'done'",
                                      (concept_id,))
        return None if row is None else row["at"]

    async def queue_position(self, job_id: int) -> int:
        """1-based place of a queued job in the order lease_next_job would take them now;
        0 if the job isn't queued. Exact for one worker while nothing is enqueued meanwhile;
        an estimate otherwise (later arrivals from other users can move ahead, by design)."""
        async with self.db.exclusive() as conn:
            for position, job in enumerate(await _fair_order(conn), start=1):
                if job["id"] == job_id:
                    return position
        return 0

    async def list_jobs(self, state: JobState | None = None) -> list[Job]:
        if state is None:
            rows = await self.db.fetch_all("SELECT * FROM jobs ORDER BY id")
        else:
            if state not in JOB_STATES:
                raise ValueError(f"unknown job state {state!r}")
            rows = await self.db.fetch_all("SELECT * FROM jobs WHERE state = ? ORDER BY id", (state,))
        return [Job.from_row(row) for row in rows]

    @staticmethod
    async def _job(conn: aiosqlite.Connection, job_id: int) -> Job:
        row = await fetch_one(conn, "SELECT * FROM jobs WHERE id = ?", (job_id,))
        assert row is not None
        return Job.from_row(row)
