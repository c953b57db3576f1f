"""The bot host's handle on model workers in a Ray cluster (`YO_RAY_ADDRESS` set).

Same interface as `client.WorkerProcessService`, many workers instead of one child process:

- Workers are the `yo worker` actors found in the cluster (workers.py): a question goes to the
  least-busy one, which micro-batches what reaches it; a training job goes to one that is not
  training. `training_slots` (read by the TrainingQueue) is the number of healthy workers.
- Progress is polled: while `train` runs, the service asks the actor for the job's new
  progress events every `progress_seconds` (and the final reply carries the rest). A poll is
  one small actor call that works the same over a local raylet or Ray Client, needs no extra
  actor (a `ray.util.queue.Queue` is one more actor to place, lose and clean up), and a quarter
  of a second is well under how often a chat progress message is edited.
- Cancel: the token is watched on the bot side; when set, `cancel(key)` reaches the actor on
  another of its threads and the Worker stops at the next training step.
- A worker lost mid-call (killed, crashed, its machine gone) makes the call raise
  `ModelUnavailable`: the training queue releases the job and runs it again on another worker.
  The lost actor is marked unhealthy and probed until Ray has restarted it (`max_restarts`) or
  its name is gone.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import ray
from ray import exceptions as rex

from ..protocol import (
    Answer,
    CancelToken,
    ModelUnavailable,
    ProgressCallback,
    Request,
    TextCallback,
    TrainingCancelled,
    TrainRequest,
    TrainResult,
)
from ..remote import RemoteModel
from .actor import NAME_PREFIX, NAMESPACE
from .connect import connect_driver
from .workers import Slot, WorkerRegistry

log = logging.getLogger(__name__)

# The worker (or its node) is gone or restarting: nothing the request did wrong.
LOST_WORKER = (rex.RayActorError, rex.WorkerCrashedError, rex.NodeDiedError, rex.LocalRayletDiedError,
               rex.ObjectLostError, rex.RaySystemError)
LOST = "My model worker stopped while working on this (it will be back). Please try again."


class RayModelService(RemoteModel):
    def __init__(self, address: str | None, model_id: str, *, namespace: str = NAMESPACE,
                 prefix: str = NAME_PREFIX, label: str = "", discover_seconds: float = 5.0,
                 progress_seconds: float = 0.25, worker_wait_seconds: float = 120.0,
                 question_wait_seconds: float = 15.0) -> None:
        self.address = address
        self.model_id = model_id  # workers serving another model are not used
        self.label = label
        self.progress_seconds = progress_seconds
        self.worker_wait_seconds = worker_wait_seconds  # a training job waits this long for a first worker
        self.question_wait_seconds = question_wait_seconds
        self.registry = WorkerRegistry(model_id, namespace=namespace, prefix=prefix,
                                       discover_seconds=discover_seconds)
        self._owns_ray = False

    @property
    def training_slots(self) -> int:
        """Jobs that can train at once: one per healthy worker (at least 1, for the queue)."""
        return max(1, len(self.registry.healthy))

    @property
    def workers(self) -> list[str]:
        return self.registry.healthy

    def connect(self, wait_seconds: float = 0.0) -> RayModelService:
        """Join the cluster and find its workers, waiting up to `wait_seconds` for a first one.

        Synchronous on purpose: called before the TrainingQueue is built, so that the queue
        runs as many jobs at once as there are workers."""
        if not ray.is_initialized():
            connect_driver(self.address or None, self.registry.namespace, log_to_driver=False)
            self._owns_ray = True
        self.registry.find_now(wait_seconds)
        log.warning("Ray cluster %s: %d model worker(s) for %s: %s", self.address or "(local)",
                    len(self.workers), self.model_id, ", ".join(self.workers) or "none yet")
        return self

    async def start(self) -> None:
        if not ray.is_initialized():
            self.connect()
        self.registry.ensure_discovery()

    @staticmethod
    def _result(reply: dict[str, Any]) -> Any:
        if reply.get("ok"):
            return reply["result"]
        if reply.get("cancelled"):
            raise TrainingCancelled()
        log.error("model worker error: %s", reply.get("traceback") or reply.get("error"))
        raise RuntimeError(reply.get("error", "the model failed"))

    # -- requests -----------------------------------------------------------------------------

    async def _ask(self, request: Request, on_text: TextCallback | None = None) -> Any:
        """A question, to the least-busy worker; asked once more elsewhere if that one is lost.
        With `on_text`, an answer's text so far goes to it as the worker writes it."""
        for attempt in (1, 2):
            slot = await self.registry.acquire(training=False, wait_seconds=self.question_wait_seconds)
            try:
                reply = await (self._streamed(slot, request, on_text) if on_text is not None
                               else asyncio.wrap_future(slot.handle.call.remote(request).future()))
            except LOST_WORKER as error:
                self.registry.lost(slot, error)
                if attempt == 2 or not self.registry.healthy:
                    raise ModelUnavailable(LOST) from error
                continue
            finally:
                self.registry.release(slot, training=False)
            return self._result(reply)
        raise AssertionError("unreachable")

    async def _request(self, request: Request) -> Any:
        return await self._ask(request)

    async def _stream(self, request: Answer, on_text: TextCallback) -> Any:
        return await self._ask(request, on_text)

    @staticmethod
    async def _streamed(slot: Slot, request: Request, on_text: TextCallback) -> dict[str, Any]:
        """The actor's reply to a streamed answer (ModelActor.stream, a Ray generator), handing each
        text so far to `on_text` on the way. Asked again elsewhere, the text starts over: the chat
        shows the latest text, whole."""
        async for ref in slot.handle.stream.remote(request):
            message: dict[str, Any] = await ref
            if "text" not in message:
                return message
            on_text(message["text"])
        raise RuntimeError("the model worker's answer ended without a reply")

    async def _can_draw(self) -> bool:
        return any(slot.info.get("draws") for slot in self.registry.slots.values())

    async def train(self, request: TrainRequest, progress: ProgressCallback | None = None,
                    cancel: CancelToken | None = None) -> TrainResult:
        slot = await self.registry.acquire(training=True, wait_seconds=self.worker_wait_seconds)
        try:
            outcome = await self._follow(slot, request, progress, cancel)
        except LOST_WORKER as error:
            self.registry.lost(slot, error)
            raise ModelUnavailable(LOST) from error
        finally:
            self.registry.release(slot, training=True)
        return self._result(outcome["reply"])

    async def _follow(self, slot: Slot, request: TrainRequest, progress: ProgressCallback | None,
                      cancel: CancelToken | None) -> dict[str, Any]:
        """Run the job on `slot`, relaying its progress and a cancel until the actor replies."""
        key = uuid.uuid4().hex
        done = asyncio.wrap_future(slot.handle.train.remote(key, request).future())
        seen, cancel_sent = 0, False
        try:
            while True:
                finished, _ = await asyncio.wait({done}, timeout=self.progress_seconds)
                if cancel is not None and not cancel_sent and cancel.is_set():
                    cancel_sent = True
                    await asyncio.wrap_future(slot.handle.cancel.remote(key).future())
                if finished:
                    break
                if progress is not None:
                    events = await asyncio.wrap_future(slot.handle.progress.remote(key, seen).future())
                    seen += len(events)
                    for event in events:
                        progress(event)
            outcome: dict[str, Any] = done.result()
        except (rex.ActorUnavailableError, asyncio.CancelledError):
            # Nobody will wait for this run any more (the bot stops, or a network blip that may
            # have left the job running there): stop it, so that the worker is free for the next.
            stop = asyncio.wrap_future(slot.handle.cancel.remote(key).future())
            stop.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise
        finally:
            if not done.done():
                done.cancel()
            elif not done.cancelled():
                done.exception()  # retrieved: a poll may have raised first
        if progress is not None:
            for event in outcome["progress"][seen:]:
                progress(event)
        return outcome

    async def stats(self) -> dict[str, Any]:
        """Each worker's batching statistics, by name."""
        out = {}
        for name, slot in list(self.registry.slots.items()):
            out[name] = await asyncio.wrap_future(slot.handle.stats.remote().future())
        return out

    async def close(self) -> None:
        """Let go of the cluster; the workers belong to `yo worker` and keep running."""
        self.registry.close()
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
