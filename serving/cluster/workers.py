"""The bot host's view of the model actors in the cluster: who is there, who is healthy, who is busy.

Workers are the named actors `yo-worker-*` in the "yo" namespace, hosted by `yo worker` on each
GPU machine (host.py). The bot host never creates or kills them: it finds them by name when it
connects and every few seconds after, so a machine that joins later is used and a bot restart
reloads no model. A worker answering a different YO_MODEL is left alone (with a warning): a
concept learned on one base model does not load on another.

Picking: a question goes to the least-busy healthy worker (one not training first, then the
fewest questions in flight); a training job waits for a worker that is not training.
A worker whose call failed is marked unhealthy and said hello to in the background until Ray
has restarted it (`max_restarts`) and it answers, or its name is gone (dropped).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import ray
from ray import exceptions as rex

from ..protocol import ModelUnavailable
from .actor import NAME_PREFIX, NAMESPACE

log = logging.getLogger(__name__)

NO_WORKER = "No model worker is connected right now. Please try again in a moment."


@dataclass(eq=False)
class Slot:
    name: str
    handle: Any
    info: dict[str, Any] = field(default_factory=dict)
    questions: int = 0  # in flight
    training: int = 0  # 0 or 1
    healthy: bool = True


class WorkerRegistry:
    def __init__(self, model_id: str, *, namespace: str = NAMESPACE, prefix: str = NAME_PREFIX,
                 discover_seconds: float = 5.0) -> None:
        self.model_id = model_id
        self.namespace = namespace
        self.prefix = prefix
        self.discover_seconds = discover_seconds
        self.slots: dict[str, Slot] = {}
        self._probing: dict[str, asyncio.Task[None]] = {}
        self._warned: set[tuple[str, str]] = set()
        self._change = asyncio.Event()
        self._discovery: asyncio.Task[None] | None = None
        self.closed = False

    @property
    def healthy(self) -> list[str]:
        return sorted(name for name, slot in self.slots.items() if slot.healthy)

    # -- finding workers ------------------------------------------------------------------------

    def listed(self) -> set[str]:
        entries = ray.util.list_named_actors(all_namespaces=True)
        return {e["name"] for e in entries if e["namespace"] == self.namespace and e["name"].startswith(self.prefix)}

    def find_now(self, wait_seconds: float) -> None:
        """Blocking discovery (at connect): hello to every listed worker, keep those that answer;
        poll until one does or `wait_seconds` have passed."""
        deadline = time.monotonic() + wait_seconds
        while True:
            handles = {}
            for name in self.listed() - set(self.slots):
                try:
                    handles[name] = ray.get_actor(name, namespace=self.namespace)
                except ValueError:  # gone between the listing and now
                    continue
            refs: dict[str, Any] = {name: handle.hello.remote() for name, handle in handles.items()}
            timeout = max(1.0, min(10.0, deadline - time.monotonic()))
            ready: list[Any] = []
            if refs:
                ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout)
            for name, ref in refs.items():
                if ref in ready:
                    try:
                        self.add(name, handles[name], ray.get(ref))
                    except rex.RayError as error:
                        log.warning("model worker %s did not answer: %s", name, error)
            if self.slots or time.monotonic() >= deadline:
                return
            time.sleep(1.0)

    def ensure_discovery(self) -> None:
        if self._discovery is None and not self.closed:
            self._discovery = asyncio.get_running_loop().create_task(self._discover_forever(),
                                                                     name="yo-ray-discovery")

    async def _discover_forever(self) -> None:
        while not self.closed:
            try:
                listed = self.listed()
                for name in [n for n in self.slots if n not in listed]:
                    log.warning("model worker %s left the cluster", name)
                    del self.slots[name]
                    self.changed()
                for name in listed:
                    slot = self.slots.get(name)
                    if slot is None or not slot.healthy:
                        self.probe(name)
            except Exception:  # the head unreachable for a moment: try again next round
                log.exception("could not list the model workers")
            await asyncio.sleep(self.discover_seconds)

    def probe(self, name: str) -> None:
        """Say hello to `name` in the background; it joins (again) once it answers."""
        if name in self._probing or self.closed:
            return

        async def probe() -> None:
            try:
                handle = ray.get_actor(name, namespace=self.namespace)
                info: dict[str, Any] = await asyncio.wrap_future(handle.hello.remote().future())
            except rex.ActorUnavailableError:  # restarting: the discovery loop asks again
                pass
            except (ValueError, rex.RayError) as error:  # gone for good: its name disappears too
                log.info("model worker %s is not available: %s", name, error)
                self.slots.pop(name, None)
            else:
                self.add(name, handle, info)
            finally:
                self._probing.pop(name, None)

        self._probing[name] = asyncio.get_running_loop().create_task(probe())

    def add(self, name: str, handle: Any, info: dict[str, Any]) -> None:
        if info.get("model_id") != self.model_id:
            if (name, str(info.get("model_id"))) not in self._warned:
                self._warned.add((name, str(info.get("model_id"))))
                log.warning("model worker %s serves %s, not %s: not using it", name, info.get("model_id"),
                            self.model_id)
            return
        slot = self.slots.get(name)
        if slot is None:
            self.slots[name] = Slot(name, handle, info)
            log.warning("model worker %s joined (%s on %s)", name, info.get("device"), info.get("host"))
        else:
            slot.handle, slot.info, slot.healthy = handle, info, True
            log.warning("model worker %s is back", name)
        self.changed()

    def lost(self, slot: Slot, error: BaseException) -> None:
        log.error("model worker %s failed: %s", slot.name, error)
        slot.healthy = False
        self.probe(slot.name)  # back in service once Ray has restarted it
        self.changed()

    def changed(self) -> None:
        event, self._change = self._change, asyncio.Event()
        event.set()

    # -- picking one ----------------------------------------------------------------------------

    async def acquire(self, training: bool, wait_seconds: float) -> Slot:
        """The worker for the next request; waits while none is free (raises when none is
        connected for `wait_seconds`)."""
        loop = asyncio.get_running_loop()
        self.ensure_discovery()
        deadline = loop.time() + wait_seconds
        while True:
            healthy = [s for s in self.slots.values() if s.healthy]
            free = [s for s in healthy if not training or s.training == 0]
            if free:
                slot = min(free, key=lambda s: (s.training, s.questions))
                if training:
                    slot.training += 1
                else:
                    slot.questions += 1
                return slot
            if self.closed:
                raise ModelUnavailable(NO_WORKER)
            if healthy:  # all busy training: wait for one to finish, however long
                deadline = loop.time() + wait_seconds
            elif loop.time() >= deadline:
                raise ModelUnavailable(NO_WORKER)
            change = self._change
            try:
                await asyncio.wait_for(change.wait(), timeout=1.0)
            except TimeoutError:
                pass

    def release(self, slot: Slot, training: bool) -> None:
        if training:
            slot.training -= 1
        else:
            slot.questions -= 1
        self.changed()

    def close(self) -> None:
        self.closed = True
        self.changed()
        for task in [self._discovery, *self._probing.values()]:
            if task is not None:
                task.cancel()
        self._discovery = None
