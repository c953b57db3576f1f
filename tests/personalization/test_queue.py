"""The durable training queue: restarts, fairness, retries, cancel."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from serving.protocol import ModelUnavailable, TrainRequest
from bot.training.queue import JobEvent, TrainingQueue
from storage import Store
from tests.bot.conftest import wait_for
from tests.fakes.models import FakeModelService
from tests.fakes.photos import photo


async def concept_with_photos(store: Store, user: str, name: str) -> tuple[int, object]:
    owner = await store.get_or_create_user("test", user)
    concept = await store.create_concept(owner.id, name, name.lower(), "fake/colour-model")
    for seed in range(3):
        await store.add_photo(concept.id, photo(seed=seed + hash(name) % 1000), "positive", "teach")
    return owner.id, concept


async def run_queue(store: Store, models, events: list[JobEvent]) -> TrainingQueue:
    queue = TrainingQueue(store, models, poll_seconds=0.02, lease_seconds=2)

    async def record(event: JobEvent) -> None:
        events.append(event)

    queue.subscribe(record)
    await queue.start()
    return queue


async def test_restart_with_jobs_queued_and_running_loses_nothing(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    concepts = [(await concept_with_photos(store, "ana", n))[1] for n in ("Bo", "Kiwi", "Mam")]
    events: list[JobEvent] = []
    queue = await run_queue(store, FakeModelService(train_steps=100, step_seconds=0.02), events)
    for concept in concepts:
        await queue.submit(concept)
    await wait_for(lambda: any(e.kind == "progress" for e in events))
    await queue.stop()  # the bot goes down: one job running, two queued
    await store.close()

    store = await Store.open(tmp_path)
    events.clear()
    queue = await run_queue(store, FakeModelService(train_steps=3), events)
    try:
        await wait_for(lambda: sum(e.kind == "done" for e in events) == 3, timeout=10)
        for concept in concepts:
            fresh = await store.get_concept(concept.id)
            assert fresh.status == "ready" and await store.read_tokens(fresh)
    finally:
        await queue.stop()
        await store.close()


async def test_fair_across_users(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    ana = [(await concept_with_photos(store, "ana", f"A{i}"))[1] for i in range(4)]
    _, ben = await concept_with_photos(store, "ben", "B0")
    models = FakeModelService(train_steps=1)
    events: list[JobEvent] = []
    queue = TrainingQueue(store, models, poll_seconds=0.02)
    queue.subscribe(lambda e: _append(events, e))
    for concept in ana:
        await queue.submit(concept)
    await queue.submit(ben)  # Ben comes last but should not wait for all of Ana's
    await queue.start()
    try:
        await wait_for(lambda: sum(e.kind == "done" for e in events) == 5, timeout=10)
    finally:
        await queue.stop()
        await store.close()
    order = [r.name for r in models.trained]
    assert order.index("B0") <= 1, order


async def _append(events: list[JobEvent], event: JobEvent) -> None:
    events.append(event)


class DyingModelService(FakeModelService):
    """A worker that dies on every training run."""

    async def train(self, request: TrainRequest, progress=None, cancel=None):
        self.trained.append(request)
        raise ModelUnavailable("the worker died")


async def test_a_job_whose_worker_keeps_dying_fails_after_bounded_attempts(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    _, concept = await concept_with_photos(store, "ana", "Bo")
    models = DyingModelService()
    events: list[JobEvent] = []
    queue = await run_queue(store, models, events)
    try:
        job = await queue.submit(concept)
        await wait_for(lambda: any(e.kind == "failed" for e in events), timeout=10)
        assert len(models.trained) == job.max_attempts
        assert [e.kind for e in events if e.kind in ("retrying", "failed")] == ["retrying"] * (job.max_attempts - 1) + ["failed"]
        assert (await store.get_concept(concept.id)).status == "failed"
    finally:
        await queue.stop()
        await store.close()


async def test_cancel_a_queued_job_leaves_the_concept_as_it_was(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    _, concept = await concept_with_photos(store, "ana", "Bo")
    queue = TrainingQueue(store, FakeModelService())
    job = await queue.submit(concept)
    assert await queue.cancel(job.id)
    assert (await store.get_concept(concept.id)).status == "collecting"
    assert (await store.get_job(job.id)).state == "cancelled"
    await store.close()


class TwoWorkers(FakeModelService):
    """A service with two model workers: two trainings may run at once."""

    training_slots = 2

    def __init__(self) -> None:
        super().__init__(train_steps=10, step_seconds=0.03)
        self.running = 0
        self.most_at_once = 0

    async def train(self, request, progress=None, cancel=None):
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            return await super().train(request, progress, cancel)
        finally:
            self.running -= 1


async def test_jobs_run_side_by_side_when_the_service_has_several_workers(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    concepts = [(await concept_with_photos(store, user, name))[1]
                for user, name in (("ana", "Bo"), ("ben", "Kiwi"), ("cat", "Mam"), ("dan", "Rex"))]
    models = TwoWorkers()
    events: list[JobEvent] = []
    queue = await run_queue(store, models, events)
    try:
        for concept in concepts:
            await queue.submit(concept)
        await wait_for(lambda: sum(e.kind == "done" for e in events) == 4, timeout=10)
        assert models.most_at_once == 2
    finally:
        await queue.stop()
        await store.close()


async def test_stop_returns_even_when_the_runner_swallows_its_cancellation(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A cancellation can turn into an ordinary error on its way out (a ROLLBACK failing behind a
    cancelled COMMIT did, and hung CI): the runner, which survives ordinary errors, still stops."""
    store = await Store.open(tmp_path)
    leasing = asyncio.Event()

    async def lease_that_swallows(*args: object, **kwargs: object) -> None:
        leasing.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            raise sqlite3.OperationalError("cannot rollback - no transaction is active") from None

    monkeypatch.setattr(store, "lease_next_job", lease_that_swallows)
    queue = await run_queue(store, FakeModelService(), [])
    await asyncio.wait_for(leasing.wait(), 5)
    stopping = asyncio.ensure_future(queue.stop())
    done, _ = await asyncio.wait([stopping], timeout=5)  # not wait_for: cancelling stop() would hang too
    assert done, "stop() is still waiting for the runner"
    await store.close()
