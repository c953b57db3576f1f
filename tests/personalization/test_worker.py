"""The worker loop: micro-batching across users, questions served during training, cancel.

These drive `Worker` over a real multiprocessing Pipe with an instrumented engine double
(counting forward passes), so they test the scheduling, not the model; the worker
process with the real engine is tested in test_worker_process.py.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from typing import Any

from personalization.protocol import ConceptRef, Recognition, TrainProgress, TrainRequest, TrainingCancelled
from personalization.worker import Worker


class CountingEngine:
    """Answers from the concept's name; records every forward pass and its batch."""

    model_id = "counting-engine"

    def __init__(self, train_steps: int = 50, step_seconds: float = 0.02) -> None:
        self.forward_passes: list[list[str]] = []
        self.train_steps = train_steps
        self.step_seconds = step_seconds

    def recognise_batch(self, requests: list[tuple[Any, ...]]) -> list[list[Recognition]]:
        self.forward_passes.append([c.name for _, concepts in requests for c in concepts])
        return [[Recognition(present=photo == c.name.encode(), probability=0.9) for c in concepts]
                for photo, concepts in requests]

    def answer_batch(self, requests: list[tuple[Any, ...]]) -> list[str]:
        self.forward_passes.append(["answer"] * len(requests))
        return [f"answer about {concepts[0].name}" for _, concepts, _ in requests]

    def train(self, request: TrainRequest, progress: Any, cancel: Any) -> str:
        for step in range(1, self.train_steps + 1):
            if cancel.is_set():
                raise TrainingCancelled()
            time.sleep(self.step_seconds)
            progress(TrainProgress("training", step=step, steps=self.train_steps))
        return f"tokens of {request.name}"


class Client:
    def __init__(self, engine: CountingEngine, **kwargs: Any) -> None:
        self.ours, theirs = mp.Pipe()
        self.worker = Worker(engine, theirs, **kwargs)
        threading.Thread(target=self.worker.serve_forever, daemon=True).start()
        assert self.ours.recv()["ready"]
        self.messages: list[dict[str, Any]] = []

    def send(self, request_id: int, op: str, *args: Any) -> None:
        self.ours.send({"id": request_id, "op": op, "args": args})

    def wait_for(self, request_id: int, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages:
                if message["id"] == request_id and "progress" not in message:
                    return message
            if self.ours.poll(0.05):
                self.messages.append(self.ours.recv())
        raise AssertionError(f"no answer to {request_id}")


def test_three_users_requests_share_one_forward_pass() -> None:
    engine = CountingEngine()
    client = Client(engine, batch_window=0.2)
    for request_id, name in ((1, "ana's Bo"), (2, "ben's Bo"), (3, "cat's Kiwi")):
        client.send(request_id, "recognise", name.encode(), [ConceptRef(name)])
    answers = {i: client.wait_for(i)["result"] for i in (1, 2, 3)}
    assert engine.forward_passes == [["ana's Bo", "ben's Bo", "cat's Kiwi"]]
    assert all(answers[i][0].present for i in (1, 2, 3))  # each got its own concept's result
    assert client.worker.stats.batch_sizes == [3]


def test_a_question_is_answered_while_training_runs() -> None:
    engine = CountingEngine(train_steps=100, step_seconds=0.02)  # about two seconds of training
    client = Client(engine)
    client.send(1, "train", TrainRequest("Bo", positives=[]))
    time.sleep(0.2)
    asked = time.monotonic()
    client.send(2, "answer", ["what is ", 0, "?"], [ConceptRef("Bo")], None)
    answer = client.wait_for(2)
    waited = time.monotonic() - asked
    assert answer["result"] == "answer about Bo"
    assert waited < 0.5, f"the question waited {waited:.2f}s behind training"
    assert client.worker.stats.served_during_training == 1
    assert client.wait_for(1)["result"] == "tokens of Bo"


def test_cancel_stops_a_running_training_within_a_step() -> None:
    engine = CountingEngine(train_steps=500, step_seconds=0.02)
    client = Client(engine)
    client.send(1, "train", TrainRequest("Bo", positives=[]))
    time.sleep(0.2)
    cancelled_at = time.monotonic()
    client.ours.send({"op": "cancel", "target": 1})
    message = client.wait_for(1)
    assert message.get("cancelled") and time.monotonic() - cancelled_at < 0.5


def test_a_failing_request_fails_alone() -> None:
    engine = CountingEngine()
    client = Client(engine)
    client.send(1, "describe", [])  # CountingEngine has no describe: that request fails
    client.send(2, "recognise", b"Bo", [ConceptRef("Bo")])
    assert not client.wait_for(1)["ok"]
    assert client.wait_for(2)["ok"]
