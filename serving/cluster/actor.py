"""A model worker as a Ray actor: the same `Worker` loop as the local process, inside the actor.

The actor is a *threaded* actor (`max_concurrency` > 1, every method synchronous): each call
runs on a thread of the actor's pool, so a question, a progress poll or a cancel never waits
behind a training run that holds another thread for minutes. The calls do not touch the model
themselves: they hand a message to `worker.Worker` through `ActorConnection` (a `Connection`
whose `send` routes each reply back to the thread waiting for that request id) and block until
the answer comes. The Worker does exactly what it does in the local child process: one lock on
the model, questions micro-batched, questions served at the training's pauses, cancel.

Inference batching: the Worker's own micro-batching, not Ray Serve's `@serve.batch`. A concept
trains and answers on the same GPU-resident model, and the Worker already shares that model
between the two (questions answered at the training's pauses, one lock). Serve would batch only
the questions of a separate deployment replica: a second copy of the model per GPU, or training
moved out of Serve, plus Serve's controller and proxies, for a batching loop we already have and
test. Batching happens per actor, across every user whose question reached that actor.

Stateless: photos, concept files and training requests arrive in the call's arguments (protocol
dataclasses) and results go back the same way; the actor keeps nothing between requests but
the loaded model, so losing one loses no data.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import socket
import threading
from collections.abc import Iterator
from typing import Any

from ..protocol import Answer, Request, Train, TrainProgress, TrainRequest
from ..worker import Worker

log = logging.getLogger(__name__)

NAMESPACE = "yo"  # the Ray namespace the bot host and `yo worker` meet in
NAME_PREFIX = "yo-worker-"  # model actors are named yo-worker-<host>-<index>


class ActorConnection:
    """The Worker's `Connection` inside an actor: actor threads put requests in, each reply is
    routed to the queue of the thread that asked (by request id)."""

    def __init__(self) -> None:
        self._inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    # -- the Worker's side ------------------------------------------------------------------

    def recv(self) -> dict[str, Any]:
        return self._inbox.get()

    def send(self, message: dict[str, Any]) -> None:
        with self._lock:
            replies = self._replies.get(message.get("id", 0))
        if replies is not None:  # id 0 is the Worker's "ready": nobody waits for it here
            replies.put(message)

    # -- the actor's side ---------------------------------------------------------------------

    def open(self, message: dict[str, Any]) -> tuple[int, queue.Queue[dict[str, Any]]]:
        """Send a request (or "stats"); its progress messages and its reply arrive on the returned queue."""
        replies: queue.Queue[dict[str, Any]] = queue.Queue()
        with self._lock:
            request_id = next(self._ids)
            self._replies[request_id] = replies
        self._inbox.put({"id": request_id, **message})
        return request_id, replies

    def close(self, request_id: int) -> None:
        with self._lock:
            self._replies.pop(request_id, None)

    def post(self, message: dict[str, Any]) -> None:
        """A message that gets no reply (cancel, shutdown)."""
        self._inbox.put(message)

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        request_id, replies = self.open(message)
        try:
            return replies.get()
        finally:
            self.close(request_id)


class ModelActor:
    """Loads the engine once, then serves through `Worker`; wrapped by `ray.remote` in host.py.

    Replies are the Worker's own messages ({"ok": True, "result": ...} / {"ok": False, ...}):
    the bot side turns them into results or exceptions exactly as the process client does.
    """

    def __init__(self, model_id: str, device: str | None = None, load_in_4bit: bool = False,
                 torch_threads: int | None = None, engine_options: dict[str, Any] | None = None) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s yo-actor %(levelname)s %(message)s")
        import torch

        if torch_threads:
            torch.set_num_threads(torch_threads)
        from personalization import Engine

        self.engine = Engine.load(model_id, device=device, load_in_4bit=load_in_4bit, **(engine_options or {}))
        self.connection = ActorConnection()
        self.worker = Worker(self.engine, self.connection)
        threading.Thread(target=self.worker.serve_forever, name="yo-worker-loop", daemon=True).start()
        self._jobs: dict[str, int] = {}  # the bot's job key -> the Worker's request id
        self._progress: dict[str, list[TrainProgress]] = {}
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()

    def hello(self) -> dict[str, Any]:
        """Who this is; answered once the model is loaded (the bot host's readiness probe)."""
        import ray

        context = ray.get_runtime_context()
        return {"model_id": self.engine.model_id, "host": socket.gethostname(), "pid": os.getpid(),
                "node_id": context.get_node_id(), "device": str(self.engine.backend.device),
                "draws": self.engine.can_draw}

    def call(self, request: Request) -> dict[str, Any]:
        """A question (Recognise, Answer, …): blocks this thread until the Worker's batch answers."""
        return self.connection.request({"request": request})

    def stream(self, request: Answer) -> Iterator[dict[str, Any]]:
        """An answer as the Worker writes it (a Ray generator): {"text": the answer so far} as it
        grows, then the Worker's reply."""
        request_id, replies = self.connection.open({"request": request, "stream": True})
        try:
            while "progress" in (message := replies.get()):
                yield {"text": message["progress"]}
            yield message
        finally:
            self.connection.close(request_id)

    def train(self, key: str, request: TrainRequest) -> dict[str, Any]:
        """Run one training job; `progress(key, ...)` and `cancel(key)` reach it meanwhile.

        Returns the Worker's reply plus every progress event, so the caller can deliver the
        ones its last poll missed before it reports the result."""
        request_id, replies = self.connection.open({"request": Train(request)})
        events: list[TrainProgress] = []
        with self._lock:
            self._jobs[key] = request_id
            self._progress[key] = events
            cancelled = key in self._cancelled
        if cancelled:
            self.connection.post({"control": "cancel", "target": request_id})
        try:
            while True:
                message = replies.get()
                if "progress" in message:
                    events.append(message["progress"])
                    continue
                return {"reply": message, "progress": list(events)}
        finally:
            self.connection.close(request_id)
            with self._lock:
                self._jobs.pop(key, None)
                self._progress.pop(key, None)
                self._cancelled.discard(key)

    def progress(self, key: str, since: int = 0) -> list[TrainProgress]:
        """The job's progress events from index `since` on (the bot host polls this)."""
        with self._lock:
            return list(self._progress.get(key, ())[since:])

    def cancel(self, key: str) -> bool:
        with self._lock:
            request_id = self._jobs.get(key)
            if request_id is None:  # not started yet: train() cancels it as it starts
                self._cancelled.add(key)
                return False
        self.connection.post({"control": "cancel", "target": request_id})
        return True

    def stats(self) -> dict[str, Any]:
        reply = self.connection.request({"control": "stats"})
        return dict(reply.get("result") or {})
