"""The durable training queue: jobs live in the store's jobs table, this runs them.

One `TrainingQueue` per process leases jobs from SQLite (fair across users, see
`Store.lease_next_job`), hands each to the model service and reports what happens to
listeners (the assistant turns events into chat messages). Because every state change
is a row, a restart of the bot, or a worker that dies mid-job, loses nothing: leases
that nobody renews expire and the job is run again, a bounded number of times.

Several processes may share one data folder (`yo run`, `yo teach`, a second bot): a job
is only ever taken from a runner that is gone, never from a live one. A lease names its
owner as host/pid/runner; a runner of this machine whose process no longer exists (or, in
this process, that has stopped) is known gone at once, any other only when its lease runs
out by the clock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

from serving.protocol import ModelService, ModelUnavailable, TrainProgress, TrainRequest, TrainingCancelled
from storage import Store
from storage.models import Concept, Job

from .examples import negatives_of, positives_of

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class JobEvent:
    job: Job
    concept: Concept
    kind: str  # "queued", "started", "progress", "done", "failed", "cancelled", "retrying"
    progress: TrainProgress | None = None
    position: int | None = None
    error: str | None = None


Listener = Callable[[JobEvent], Awaitable[None]]

HOST = socket.gethostname()
_LIVE_OWNERS: set[str] = set()  # the runners of this process that are running now


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def owner_is_gone(owner: str) -> bool:
    """Whether the runner named by a lease owner ("host/pid/runner") is certainly gone.
    Only a process of this machine can be checked; for others (and leases written before
    owners were named this way) the lease's expiry decides."""
    host, _, rest = owner.partition("/")
    pid, _, _ = rest.partition("/")
    if host != HOST or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return owner not in _LIVE_OWNERS
    return not _pid_exists(int(pid))


@dataclass
class _Running:
    job: Job
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    lost: bool = False  # the lease was taken away (this runner was presumed dead): drop the result


class _EventToken:
    """Adapts an asyncio.Event to the CancelToken protocol (read from any thread)."""

    def __init__(self, event: asyncio.Event) -> None:
        self._event = event

    def is_set(self) -> bool:
        return self._event.is_set()


class TrainingQueue:
    def __init__(self, store: Store, models: ModelService, *, negatives_dir: Path | None = None,
                 lease_seconds: float = 60.0, poll_seconds: float = 2.0,
                 epochs: int | None = None, concurrency: int | None = None) -> None:
        self.store = store
        self.models = models
        self.negatives_dir = negatives_dir
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.epochs = epochs  # None: the recipe's default
        self._concurrency = concurrency
        self.owner = f"{HOST}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self._only_concept: int | None = None
        self._listeners: list[Listener] = []
        self._wake = asyncio.Event()
        self._running: dict[int, _Running] = {}
        self._task: asyncio.Task[None] | None = None
        # Set by stop() before it cancels the runner. The runner checks it too, because a
        # cancellation can be swallowed on its way out (Python 3.11's wait_for returns the result
        # of a wait that finished as it was cancelled), and stop() must never wait forever.
        self._stopping = False
        # Told (outcome, seconds) after each job's run: "done", "cancelled", "failed" or "lost"
        # (handed back at a stop, or its lease lost). For the operator's metrics (bot/operations.py).
        self.observe_training: Callable[[str, float], None] | None = None

    @property
    def concurrency(self) -> int:
        """How many jobs run at once: one per model worker that can train now (one, embedded);
        read afresh so workers that join or leave a cluster change it."""
        return self._concurrency or max(1, int(getattr(self.models, "training_slots", 1)))

    # -- the bot side's calls -------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def start(self, *, only_concept: int | None = None) -> None:
        """Start running jobs (with `only_concept`, only that concept's). Jobs of runners that
        died run again now; those of live runners, in this process or another, are left to them."""
        self._only_concept = only_concept
        _LIVE_OWNERS.add(self.owner)
        await self._requeue_abandoned()
        self._task = asyncio.create_task(self._run_forever(), name="training-queue")

    async def stop(self) -> None:
        """Stop running jobs. A job still training goes back to the head of the queue, its
        attempt not counted, for whichever runner comes next."""
        if self._task is None:
            return
        self._stopping = True
        _LIVE_OWNERS.discard(self.owner)
        for running in list(self._running.values()):
            running.lost = True  # whatever its training still returns is not ours to keep
            running.cancel.set()
            if await self.store.hand_back_job(running.job.id, self.owner):
                await self.store.set_concept_status(running.job.concept_id, "queued")
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None
        self._stopping = False

    async def submit(self, concept: Concept, *, notify_platform: str | None = None,
                     notify_chat_id: str | None = None, warm_start: bool = False, relearn: bool = False) -> Job:
        """Queue training for a concept (replacing a job still waiting for it). `relearn`: learning
        it again on another base model (only what the user is told when it is done differs)."""
        params = {"warm_start": warm_start, **({"relearn": True} if relearn else {})}
        job = await self.store.enqueue_job(concept.id, concept.owner_id, params,
                                           notify_platform=notify_platform, notify_chat_id=notify_chat_id)
        await self.store.set_concept_status(concept.id, "queued")
        self._wake.set()
        return job

    async def cancel(self, job_id: int) -> bool:
        """Stop a job: a queued one at once, a running one at its next training step."""
        if job_id in self._running:
            self._running[job_id].cancel.set()
            return True
        job = await self.store.get_job(job_id)
        if job is None or job.state != "queued":
            return False
        await self.store.cancel_job(job_id)
        concept = await self.store.get_concept(job.concept_id)
        if concept is not None:
            await self._restore_status(concept)
            await self._emit(JobEvent(job, concept, "cancelled"))
        return True

    async def position(self, job: Job) -> int:
        return await self.store.queue_position(job.id)

    @property
    def running(self) -> int:
        """Jobs training in this process now."""
        return len(self._running)

    async def waiting(self) -> int:
        """Jobs queued, by every process sharing the store."""
        return len(await self.store.list_jobs("queued"))

    async def pause(self) -> None:
        """Start no new job, in every process sharing the store; running jobs finish. Kept in
        the store, so a restart stays paused."""
        await self.store.set_training_paused(True)

    async def resume(self) -> None:
        """Start jobs again (here at once; in other processes at their next poll)."""
        await self.store.set_training_paused(False)
        self._wake.set()

    async def paused(self) -> bool:
        return await self.store.training_paused()

    # -- the runner ---------------------------------------------------------------------------

    async def _run_forever(self) -> None:
        tasks: set[asyncio.Task[None]] = set()
        try:
            while not self._stopping:
                if len(tasks) >= self.concurrency:
                    await asyncio.wait(tasks, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    await self._requeue_abandoned()
                    # Paused by an admin (in any process sharing the store): lease nothing new.
                    job = None if await self.store.training_paused() else await self.store.lease_next_job(
                        self.owner, self.lease_seconds, concept_id=self._only_concept)
                except Exception:  # a locked or broken database must not kill the runner
                    log.exception("could not lease a training job")
                    job = None
                if job is None:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                    except asyncio.TimeoutError:
                        pass
                    continue
                task = asyncio.create_task(self._run(job))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            for task in tasks:
                task.cancel()

    async def _run(self, job: Job) -> None:
        concept = await self.store.get_concept(job.concept_id)
        if concept is None:
            await self.store.finish_job(job.id, "cancelled", "the concept was forgotten")
            return
        running = self._running[job.id] = _Running(job)
        renew = asyncio.create_task(self._keep_lease(running))
        started, outcome = time.monotonic(), "lost"  # lost unless it ends otherwise (stop() cancels the task)
        await self.store.set_concept_status(concept.id, "training")
        await self._emit(JobEvent(job, concept, "started"))
        try:
            request = await self._request_for(concept, job)
            result = await self.models.train(request, self._progress_reporter(job, concept),
                                             _EventToken(running.cancel))
        except TrainingCancelled:
            if running.lost:
                return
            outcome = "cancelled"
            await self.store.finish_job(job.id, "cancelled", owner=self.owner)
            await self._restore_status(concept)
            await self._emit(JobEvent(job, concept, "cancelled"))
        except ModelUnavailable as error:
            # The worker died or could not load: the job is not at fault, run it again.
            outcome = "failed"
            await self._retry_or_fail(job, concept, str(error))
        except Exception as error:
            log.exception("training job %s for concept %s failed", job.id, concept.id)
            outcome = "failed"
            await self._retry_or_fail(job, concept, f"{type(error).__name__}: {error}")
        else:
            if running.lost:
                log.warning("training job %s finished after its lease was lost; another runner has it", job.id)
                return
            outcome = "done"
            saved = await self.store.save_tokens(concept.id, result.tokens, self.models.model_id)
            if saved is None:  # forgotten while it trained: nothing to keep, nobody to tell
                await self.store.finish_job(job.id, "cancelled", "the concept was forgotten")
                return
            await self.store.set_concept_status(concept.id, "ready")
            await self.store.finish_job(job.id, "done", owner=self.owner)
            await self._emit(JobEvent(job, saved, "done"))
        finally:
            renew.cancel()
            self._running.pop(job.id, None)
            if self.observe_training is not None:
                self.observe_training(outcome, time.monotonic() - started)

    async def _retry_or_fail(self, job: Job, concept: Concept, error: str) -> None:
        current = await self.store.get_job(job.id) or job
        if current.lease_owner != self.owner:
            return  # no longer ours: another runner has it, or it was handed back
        if current.attempts < current.max_attempts:
            await self.store.release_job(job.id, error, owner=self.owner)
            await self.store.set_concept_status(concept.id, "queued")
            await self._emit(JobEvent(current, concept, "retrying", error=error))
        else:
            await self.store.finish_job(job.id, "failed", error, owner=self.owner)
            failed_status = "ready" if concept.tokens_file else "failed"
            await self.store.set_concept_status(concept.id, failed_status, error)
            await self._emit(JobEvent(current, concept, "failed", error=error))

    async def _requeue_abandoned(self) -> None:
        """Run again the jobs whose runner is gone; tell about those that ran out of tries."""
        for job in await self.store.requeue_abandoned(owner_is_gone):
            concept = await self.store.get_concept(job.concept_id)
            if concept is None:
                continue
            if job.state == "failed":
                await self.store.set_concept_status(concept.id, "ready" if concept.tokens_file else "failed",
                                                    job.error)
                await self._emit(JobEvent(job, concept, "failed", error=job.error))
            else:
                await self.store.set_concept_status(concept.id, "queued")

    async def _restore_status(self, concept: Concept) -> None:
        """A stopped job leaves the concept as before: ready if it had tokens, else collecting."""
        await self.store.set_concept_status(concept.id, "ready" if concept.tokens_file else "collecting")

    async def _keep_lease(self, running: _Running) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                kept = await self.store.renew_lease(running.job.id, self.owner, self.lease_seconds)
            except Exception:  # a busy database: try again at the next beat, the lease has time left
                log.warning("could not renew the lease of training job %s", running.job.id, exc_info=True)
                continue
            if not kept:  # this process was presumed dead (asleep past its lease): stop, another runs it
                log.warning("lost the lease of training job %s; stopping it here", running.job.id)
                running.lost = True
                running.cancel.set()
                return

    async def _request_for(self, concept: Concept, job: Job) -> TrainRequest:
        warm = await self.store.read_tokens(concept) if job.params.get("warm_start") else None
        return TrainRequest(
            name=concept.display_name, positives=await positives_of(self.store, concept),
            negatives=await negatives_of(self.store, concept),
            negatives_dir=str(self.negatives_dir) if self.negatives_dir else None,
            category=concept.category, warm_start=warm, seed=job.id, epochs=self.epochs,
        )

    def _progress_reporter(self, job: Job, concept: Concept) -> Callable[[TrainProgress], None]:
        """Progress arrives on the event loop (the service's promise); store it and tell listeners."""
        def report(progress: TrainProgress) -> None:
            asyncio.get_running_loop().create_task(self._on_progress(job, concept, progress))
        return report

    async def _on_progress(self, job: Job, concept: Concept, progress: TrainProgress) -> None:
        detail = {"epoch": progress.epoch, "epochs": progress.epochs, "loss": progress.loss,
                  "eta_seconds": progress.eta_seconds, "stage": progress.stage}
        await self.store.set_job_progress(job.id, progress.fraction, detail)
        await self._emit(JobEvent(job, concept, "progress", progress=progress))

    async def _emit(self, event: JobEvent) -> None:
        for listener in self._listeners:
            try:
                await listener(event)
            except Exception:  # a chat that can't be reached must not stop training
                log.exception("job listener failed for job %s", event.job.id)
