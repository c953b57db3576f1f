"""The training queue's rows: one waiting job per concept, fair leasing, leases that expire."""

from __future__ import annotations

from storage import Store
from storage.models import Concept
from tests.storage.conftest import FakeClock


async def concepts_of(store: Store, user: str, count: int) -> list[Concept]:
    owner = await store.get_or_create_user("test", user)
    return [await store.create_concept(owner.id, f"{user}{i}", f"{user}{i}", "tiny/model") for i in range(count)]


async def test_enqueueing_again_replaces_the_waiting_job(store: Store) -> None:
    [bo, kiwi] = await concepts_of(store, "ana", 2)
    first = await store.enqueue_job(bo.id, bo.owner_id, {"warm_start": False}, "test", "chat-1")
    await store.enqueue_job(kiwi.id, kiwi.owner_id, {})
    again = await store.enqueue_job(bo.id, bo.owner_id, {"warm_start": True}, "test", "chat-2")
    assert again.id == first.id and again.created_at == first.created_at, "it keeps its place in line"
    assert (again.params, again.notify_chat_id, again.state) == ({"warm_start": True}, "chat-2", "queued")
    assert len(await store.list_jobs("queued")) == 2
    assert await store.queue_position(again.id) == 1
    assert await store.count_active_jobs(bo.owner_id) == 2


async def test_a_running_job_is_not_replaced_and_a_newer_one_supersedes_its_retry(store: Store) -> None:
    [bo] = await concepts_of(store, "ana", 1)
    running = await store.enqueue_job(bo.id, bo.owner_id, {})
    assert (await store.lease_next_job("w1", 60)).id == running.id  # type: ignore[union-attr]
    waiting = await store.enqueue_job(bo.id, bo.owner_id, {"warm_start": True})
    assert waiting.id != running.id
    assert await store.active_job_for_concept(bo.id) == await store.get_job(running.id), "running first"
    assert await store.count_active_jobs(bo.owner_id) == 2
    assert await store.release_job(running.id, "worker died")
    released = await store.get_job(running.id)
    assert released is not None and released.state == "cancelled" and "superseded" in (released.error or "")
    assert [j.id for j in await store.list_jobs("queued")] == [waiting.id]


async def test_leasing_is_fair_across_users(store: Store) -> None:
    ana = await concepts_of(store, "ana", 5)
    [ben] = await concepts_of(store, "ben", 1)
    jobs = [await store.enqueue_job(c.id, c.owner_id, {}) for c in ana + [ben]]
    predicted = {job.id: await store.queue_position(job.id) for job in jobs}
    leased = []
    while (job := await store.lease_next_job("w1", 60)) is not None:
        leased.append(job)
        assert await store.finish_job(job.id, "done")
    assert leased[1].user_id == ben.owner_id, "Ben's one job goes second, not sixth"
    assert [j.concept_id for j in leased] == [ana[0].id, ben.id] + [c.id for c in ana[1:]]
    assert [predicted[j.id] for j in leased] == [1, 2, 3, 4, 5, 6], "queue_position predicts the lease order"
    assert await store.queue_position(leased[0].id) == 0, "a job no longer queued has no position"


async def test_a_user_with_a_running_job_waits_behind_others(store: Store) -> None:
    ana = await concepts_of(store, "ana", 3)
    [ben] = await concepts_of(store, "ben", 1)
    for concept in ana:
        await store.enqueue_job(concept.id, concept.owner_id, {})
    first = await store.lease_next_job("w1", 60)  # Ana's first job is running on worker 1
    await store.enqueue_job(ben.id, ben.owner_id, {})  # Ben arrives later
    second = await store.lease_next_job("w2", 60)
    assert first is not None and second is not None and second.user_id == ben.owner_id


async def test_a_lease_sets_running_and_can_be_renewed_only_by_its_worker(store: Store, clock: FakeClock) -> None:
    [bo] = await concepts_of(store, "ana", 1)
    await store.enqueue_job(bo.id, bo.owner_id, {"warm_start": False})
    job = await store.lease_next_job("w1", 30)
    assert job is not None and (job.state, job.lease_owner, job.attempts) == ("running", "w1", 1)
    assert job.started_at is not None and job.lease_expires_at == job.started_at + 30
    assert await store.lease_next_job("w2", 30) is None
    clock.advance(20)
    assert await store.renew_lease(job.id, "w1", 30) and not await store.renew_lease(job.id, "w2", 30)
    clock.advance(20)  # past the first lease, inside the renewed one
    assert await store.requeue_abandoned() == []
    assert await store.set_job_progress(job.id, 0.5, {"epoch": 2, "loss": 0.1})
    progress = await store.get_job(job.id)
    assert progress is not None and (progress.progress, progress.detail) == (0.5, {"epoch": 2, "loss": 0.1})
    assert await store.finish_job(job.id, "done")
    done = await store.get_job(job.id)
    assert done is not None and (done.state, done.progress, done.lease_owner) == ("done", 1.0, None)
    assert not await store.finish_job(job.id, "failed"), "the first verdict stands"
    assert not await store.renew_lease(job.id, "w1", 30)


async def test_expired_leases_are_retried_then_given_up(store: Store, clock: FakeClock) -> None:
    [bo] = await concepts_of(store, "ana", 1)
    queued = await store.enqueue_job(bo.id, bo.owner_id, {}, max_attempts=3)
    for attempt in (1, 2):
        job = await store.lease_next_job(f"w{attempt}", 10)
        assert job is not None and job.attempts == attempt
        clock.advance(11)  # the worker died: nobody renews
        [requeued] = await store.requeue_abandoned()
        assert (requeued.id, requeued.state, requeued.lease_owner) == (queued.id, "queued", None)
    assert await store.lease_next_job("w3", 10) is not None
    assert await store.requeue_abandoned() == [], "not expired yet"
    clock.advance(11)
    [failed] = await store.requeue_abandoned()
    assert (failed.state, failed.error, failed.attempts) == ("failed", "gave up after 3 attempts", 3)
    assert failed.finished_at is not None and await store.lease_next_job("w4", 10) is None
    assert await store.active_job_for_concept(bo.id) is None and await store.count_active_jobs(bo.owner_id) == 0


async def test_a_released_job_is_tried_again_but_never_beyond_max_attempts(store: Store) -> None:
    [bo] = await concepts_of(store, "ana", 1)
    await store.enqueue_job(bo.id, bo.owner_id, {}, max_attempts=2)
    for _ in range(2):
        job = await store.lease_next_job("w1", 10)
        assert job is not None and await store.release_job(job.id, "worker died")
    given_up = await store.get_job(job.id)
    assert given_up is not None and given_up.state == "failed"
    assert given_up.error == "gave up after 2 attempts (worker died)"
    assert not await store.release_job(job.id) and await store.lease_next_job("w1", 10) is None


async def test_cancel(store: Store) -> None:
    [bo] = await concepts_of(store, "ana", 1)
    job = await store.enqueue_job(bo.id, bo.owner_id, {})
    assert await store.cancel_job(job.id) and not await store.cancel_job(job.id)
    cancelled = await store.get_job(job.id)
    assert cancelled is not None and cancelled.state == "cancelled" and cancelled.finished_at is not None
    assert await store.lease_next_job("w1", 10) is None and await store.get_job(999) is None


async def test_forgetting_a_concept_mid_run_does_not_trip_the_runner(store: Store) -> None:
    [bo] = await concepts_of(store, "ana", 1)
    await store.enqueue_job(bo.id, bo.owner_id, {})
    job = await store.lease_next_job("w1", 10)
    assert job is not None and await store.delete_concept(bo.id)
    assert not await store.set_job_progress(job.id, 0.9, {})
    assert await store.save_tokens(bo.id, b"tokens", "tiny/model") is None
    assert not await store.set_concept_status(bo.id, "ready")
    assert not await store.finish_job(job.id, "done") and await store.get_job(job.id) is None
