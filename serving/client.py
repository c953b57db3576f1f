"""The bot side's handle on a model worker process (the embedded default of `yo run`).

Starts `worker.run_worker` in a child process, sends it requests and routes the answers
back to the awaiting coroutines. If the worker dies — a crash, out of memory, kill -9 —
every request in flight fails with `ModelUnavailable` (the training queue runs its job
again; a question gets a "please ask again" reply) and a fresh worker is started. The bot
itself never goes down with it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing as mp
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from .protocol import (
    Answer,
    CancelToken,
    ModelUnavailable,
    ProgressCallback,
    Request,
    TextCallback,
    Train,
    TrainingCancelled,
    TrainRequest,
    TrainResult,
)
from .remote import RemoteModel
from .worker import run_worker

log = logging.getLogger(__name__)


@dataclass
class _InFlight:
    future: asyncio.Future[Any]
    progress: Callable[[Any], None] | None = None  # training progress, or an answer's text so far


@dataclass
class _Process:
    process: Any
    connection: Any
    in_flight: dict[int, _InFlight] = field(default_factory=dict)


class WorkerProcessService(RemoteModel):
    def __init__(self, model_id: str, *, device: str | None = None, load_in_4bit: bool = False,
                 label: str = "", start_timeout: float = 900.0) -> None:
        self.model_id = model_id
        self.device = device
        self.load_in_4bit = load_in_4bit
        self.label = label
        self.start_timeout = start_timeout
        self.restarts = 0
        self._ids = itertools.count(1)
        self._current: _Process | None = None
        self._starting: asyncio.Lock | None = None
        self._closed = False
        self.draws: bool | None = None  # whether the model draws: the worker says so when it starts

    # -- the process --------------------------------------------------------------------------

    @property
    def worker_pid(self) -> int | None:
        return self._current.process.pid if self._current else None

    def healthy(self) -> bool:
        """Whether a worker process is running with its model loaded (`_current` is only set once it
        said ready). Cheap, sends nothing: /healthz asks it (bot/operations.py). `restarts` counts
        the workers that died and were started again."""
        return self._current is not None and self._current.process.is_alive()

    async def start(self) -> None:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._current is not None and self._current.process.is_alive():
                return
            loop = asyncio.get_running_loop()
            context = mp.get_context("spawn")  # a clean interpreter: no inherited threads or CUDA state
            ours, theirs = context.Pipe()
            process = context.Process(target=run_worker, name="yo-worker", daemon=True,
                                      args=(theirs, self.model_id, self.device, self.load_in_4bit))
            process.start()
            theirs.close()  # so that our end sees EOF the moment the worker dies
            try:
                hello = await asyncio.wait_for(loop.run_in_executor(None, ours.recv), self.start_timeout)
            except (EOFError, OSError, asyncio.TimeoutError) as error:
                process.kill()
                raise ModelUnavailable(f"my model worker didn't start ({type(error).__name__})") from error
            if not hello.get("ready"):
                process.join(5)
                raise ModelUnavailable(f"I couldn't load my model ({self.model_id}): {hello.get('error')}")
            self.draws = bool(hello.get("draws"))
            current = self._current = _Process(process, ours)
            threading.Thread(target=self._read, args=(current, loop), name="yo-worker-reader", daemon=True).start()

    def _read(self, current: _Process, loop: asyncio.AbstractEventLoop) -> None:
        """Runs in a thread: every message from the worker goes to the event loop."""
        while True:
            try:
                message = current.connection.recv()
            except (EOFError, OSError):
                loop.call_soon_threadsafe(self._worker_died, current)
                return
            loop.call_soon_threadsafe(self._deliver, current, message)

    def _deliver(self, current: _Process, message: dict[str, Any]) -> None:
        flight = current.in_flight.get(message["id"])
        if flight is None:
            return
        if "progress" in message:
            if flight.progress is not None:
                flight.progress(message["progress"])
            return
        del current.in_flight[message["id"]]
        if flight.future.done():
            return
        if message.get("ok"):
            flight.future.set_result(message["result"])
        elif message.get("cancelled"):
            flight.future.set_exception(TrainingCancelled())
        else:
            log.error("worker error: %s", message.get("traceback") or message.get("error"))
            flight.future.set_exception(RuntimeError(message.get("error", "the model failed")))

    def _worker_died(self, current: _Process) -> None:
        current.process.join(1)
        code = current.process.exitcode
        if self._current is current:
            self._current = None
        for flight in current.in_flight.values():
            if not flight.future.done():
                flight.future.set_exception(ModelUnavailable(
                    "My model restarted while working on this (it stopped unexpectedly). Please try again."))
        current.in_flight.clear()
        if self._closed:
            return
        self.restarts += 1
        log.error("model worker exited with code %s; starting a new one", code)
        asyncio.get_running_loop().create_task(self._restart())

    async def _restart(self) -> None:
        try:
            await self.start()
        except ModelUnavailable:
            log.exception("could not restart the model worker")

    # -- requests -----------------------------------------------------------------------------

    async def _call(self, message: dict[str, Any], *, progress: Callable[[Any], None] | None = None,
                    cancel: CancelToken | None = None) -> Any:
        """Send one message and wait for its reply; its progress messages go to `progress` (an
        answer's text so far, a training's TrainProgress) on the event loop."""
        if self._current is None or not self._current.process.is_alive():
            await self.start()
        current = self._current
        assert current is not None
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        current.in_flight[request_id] = _InFlight(future, progress)
        current.connection.send({"id": request_id, **message})
        if cancel is None:
            return await future
        watcher = asyncio.create_task(self._watch_cancel(current, request_id, cancel))
        try:
            return await future
        finally:
            watcher.cancel()

    async def _watch_cancel(self, current: _Process, request_id: int, cancel: CancelToken) -> None:
        while not cancel.is_set():
            await asyncio.sleep(0.1)
        current.connection.send({"control": "cancel", "target": request_id})

    async def _request(self, request: Request) -> Any:
        return await self._call({"request": request})

    async def _stream(self, request: Answer, on_text: TextCallback) -> Any:
        return await self._call({"request": request, "stream": True}, progress=on_text)

    async def _can_draw(self) -> bool:
        if self.draws is None:  # known once a worker has said hello
            await self.start()
        return bool(self.draws)

    async def train(self, request: TrainRequest, progress: ProgressCallback | None = None,
                    cancel: CancelToken | None = None) -> TrainResult:
        return await self._call({"request": Train(request)}, progress=progress, cancel=cancel)

    async def stats(self) -> dict[str, Any]:
        return await self._call({"control": "stats"})

    async def close(self) -> None:
        self._closed = True
        current, self._current = self._current, None
        if current is None:
            return
        try:
            current.connection.send({"control": "shutdown"})
        except OSError:
            pass
        await asyncio.get_running_loop().run_in_executor(None, current.process.join, 10)
        if current.process.is_alive():
            current.process.kill()
