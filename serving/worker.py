"""The model worker: one process that loads the base model once and serves everyone.

It reads requests from a connection (a multiprocessing Pipe in the embedded default)
and answers each with its request id. Three threads share the model:

- the reader takes requests off the connection and never touches the model;
- the server answers recognise / answer / draw / describe requests, the first three in
  micro-batches: whatever arrived within `batch_window` seconds of the first shares one pass;
- the trainer runs one training job at a time. At each of the training's pauses (between the
  chunks of its preparation and between its steps, `Engine.train(between=…)`) it serves the
  waiting questions itself, so a question is never stuck behind a long training run; while
  questions keep coming (one within `LIVELY_SECONDS`), the training pauses after every example.

One lock guards the model; whoever holds it runs. A request message is {"id", "request"} with
one of protocol.py's typed requests (Recognise, Answer, …; "stream": true on an Answer whose
text so far should come back as it is written), or a control message ({"control": "cancel" |
"stats" | "shutdown"}); replies are {"id", "ok", "result"} or {"id", "ok": False, "error"}. All
plain picklable data, so the same loop serves a pipe (client.py) and a Ray actor (cluster/).

Before its reply a request may get progress messages with its id: a training job's
`TrainProgress` events, and an answer asked with "stream": true its text so far (whole
words; each request of a batch only its own).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

from .protocol import (BATCHED, Answer, Describe, Draw, Engine, Prototype, Recognise, Request, TextCallback, Train,
                       TrainingCancelled)

log = logging.getLogger(__name__)

# A question within this many seconds means people are asking: a training step then pauses after
# each example (a question waits for one example, not a whole step), at some cost in training speed.
LIVELY_SECONDS = 5.0


class Connection(Protocol):
    def send(self, obj: Any) -> None: ...
    def recv(self) -> Any: ...


@dataclass
class _Pending:
    id: int
    request: Request
    stream: bool = False  # an answer whose text so far goes back as progress messages


@dataclass
class WorkerStats:
    batch_sizes: list[int] = field(default_factory=list)
    served_during_training: int = 0


class Worker:
    def __init__(self, engine: Engine, connection: Connection, *, batch_window: float = 0.005,
                 max_batch: int = 16) -> None:
        self.engine = engine
        self.connection = connection
        self.batch_window = batch_window
        self.max_batch = max_batch
        self.stats = WorkerStats()
        self._model_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._questions: queue.Queue[_Pending] = queue.Queue()
        self._training: queue.Queue[_Pending] = queue.Queue()
        self._cancels: dict[int, threading.Event] = {}
        self._questions_waiting = threading.Event()
        self._last_question = float("-inf")  # time.monotonic() of the last question served

    # -- the loop ---------------------------------------------------------------------------

    def serve_forever(self) -> None:
        threading.Thread(target=self._serve_questions, name="yo-questions", daemon=True).start()
        threading.Thread(target=self._train_jobs, name="yo-training", daemon=True).start()
        self._send({"id": 0, "ready": True, "model_id": self.engine.model_id, "draws": self.engine.can_draw})
        while True:
            try:
                message = self.connection.recv()
            except (EOFError, OSError):
                return  # the bot side went away: so do we
            control = message.get("control")
            if control == "shutdown":
                return
            if control == "cancel":
                event = self._cancels.get(message["target"])
                if event is not None:
                    event.set()
                continue
            if control == "stats":
                self._send({"id": message["id"], "ok": True, "result": {
                    "batch_sizes": list(self.stats.batch_sizes),
                    "served_during_training": self.stats.served_during_training}})
                continue
            pending = _Pending(message["id"], message["request"], bool(message.get("stream")))
            if isinstance(pending.request, Train):
                self._cancels[pending.id] = threading.Event()
                self._training.put(pending)
            else:
                self._questions.put(pending)
                self._questions_waiting.set()

    def _send(self, message: dict[str, Any]) -> None:
        with self._send_lock:
            self.connection.send(message)

    def _reply(self, pending: _Pending, work: Callable[[], Any]) -> None:
        try:
            result = work()
        except TrainingCancelled:
            self._send({"id": pending.id, "ok": False, "cancelled": True})
        except Exception as error:  # the request fails, the worker lives on
            log.exception("request %s (%s) failed", pending.id, type(pending.request).__name__)
            self._send({"id": pending.id, "ok": False, "error": f"{type(error).__name__}: {error}",
                        "traceback": traceback.format_exc()})
        else:
            self._send({"id": pending.id, "ok": True, "result": result})

    # -- questions, in micro-batches ------------------------------------------------------------

    def _take_batch(self, first: _Pending) -> list[_Pending]:
        batch = [first]
        deadline = time.monotonic() + self.batch_window
        while len(batch) < self.max_batch:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(self._questions.get(timeout=left))
            except queue.Empty:
                break
        return batch

    def _serve_questions(self) -> None:
        # Questions are taken off the queue only while holding the model: while training
        # holds it, they stay queued for the trainer to serve at its pauses.
        while True:
            self._questions_waiting.wait()
            with self._model_lock:
                try:
                    first = self._questions.get_nowait()
                except queue.Empty:
                    self._questions_waiting.clear()
                    if not self._questions.empty():  # one arrived while we cleared
                        self._questions_waiting.set()
                    continue
                self._run_batch(self._take_batch(first))

    def _serve_waiting(self) -> bool:
        """Called at the training's pauses (it holds the model): answer what is waiting. Returns
        whether questions are coming in, so that the training pauses more often while they do."""
        batch: list[_Pending] = []
        while len(batch) < self.max_batch:
            try:
                batch.append(self._questions.get_nowait())
            except queue.Empty:
                break
        if batch:
            self.stats.served_during_training += len(batch)
            self._run_batch(batch)
        return time.monotonic() - self._last_question < LIVELY_SECONDS

    def _run_batch(self, batch: list[_Pending]) -> None:
        self._last_question = time.monotonic()
        for kind in BATCHED:
            group = [p for p in batch if isinstance(p.request, kind)]
            if not group:
                continue
            self.stats.batch_sizes.append(len(group))
            try:
                results = self._together(kind, [p.request for p in group], [self._stream(p) for p in group])
            except Exception:
                for pending in group:  # tell each caller what failed, one by one
                    self._reply(pending, lambda p=pending: self._alone(p))
                continue
            for pending, result in zip(group, results):
                self._send({"id": pending.id, "ok": True, "result": result})
        for pending in batch:
            if not isinstance(pending.request, BATCHED):
                self._reply(pending, lambda p=pending: self._alone(p))

    def _together(self, kind: type, requests: Sequence[Any], streams: list[TextCallback | None]) -> list[Any]:
        """Requests of one kind in one pass of the model."""
        engine = self.engine
        if kind is Recognise:
            return engine.recognise_batch([(r.photo, r.concepts) for r in requests])
        if kind is Answer:
            return engine.answer_batch([(r.question, r.concepts, r.photo) for r in requests],
                                       streams if any(streams) else None)
        if kind is Draw:
            return engine.draw_batch([(r.segments, r.concepts, r.n, r.seed) for r in requests])
        raise TypeError(f"{kind.__name__} is not answered in batches")

    def _stream(self, pending: _Pending) -> TextCallback | None:
        """Where a streamed answer's text so far goes: a progress message with its id."""
        if not pending.stream:
            return None
        return lambda text: self._send({"id": pending.id, "progress": text})

    def _alone(self, pending: _Pending) -> Any:
        """One request by itself (not in a batch)."""
        request = pending.request
        if isinstance(request, BATCHED):
            return self._together(type(request), [request], [self._stream(pending)])[0]
        if isinstance(request, Describe):
            return self.engine.describe(request.photos)
        if isinstance(request, Prototype):
            return self.engine.prototype(request.positives, request.negatives, request.negatives_dir)
        raise TypeError(f"unknown request {type(request).__name__}")

    # -- training, one job at a time ------------------------------------------------------------

    def _train_jobs(self) -> None:
        while True:
            pending = self._training.get()
            cancel = self._cancels[pending.id]
            assert isinstance(pending.request, Train)
            request = pending.request.request

            def progress(p: Any, job_id: int = pending.id) -> None:
                self._send({"id": job_id, "progress": p})

            with self._model_lock:  # the training pauses at its checkpoints to answer what waits
                self._reply(pending, lambda: self.engine.train(request, progress, cancel, self._serve_waiting))
            self._cancels.pop(pending.id, None)


def run_worker(connection: Connection, model_id: str, device: str | None, load_in_4bit: bool) -> None:
    """Entry point of the worker process: load the model, then serve until told to stop."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    from personalization import Engine

    try:
        engine = Engine.load(model_id, device=device, load_in_4bit=load_in_4bit)
    except Exception as error:
        connection.send({"id": 0, "ready": False, "error": f"{type(error).__name__}: {error}"})
        return
    Worker(engine, connection).serve_forever()
