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

import torch

from personalization import Engine
from personalization.inference import Prompt, Writing
from serving.protocol import (Answer, ConceptRef, Describe, Recognise, Recognition, Request, Train, TrainingCancelled,
                              TrainProgress, TrainRequest)
from serving.worker import Worker


class CountingEngine:
    """Answers from the concept's name; records every forward pass and its batch."""

    model_id = "counting-engine"
    can_draw = False

    def __init__(self, train_steps: int = 50, step_seconds: float = 0.02, prepare_chunks: int = 0) -> None:
        self.forward_passes: list[list[str]] = []
        self.train_steps = train_steps
        self.step_seconds = step_seconds
        self.prepare_chunks = prepare_chunks

    def recognise_batch(self, requests: list[tuple[Any, ...]]) -> list[list[Recognition]]:
        self.forward_passes.append([c.name for _, concepts in requests for c in concepts])
        return [[Recognition(present=photo == c.name.encode(), probability=0.9) for c in concepts]
                for photo, concepts in requests]

    def answer_batch(self, requests: list[tuple[Any, ...]], on_text: list[Any] | None = None) -> list[str]:
        self.forward_passes.append(["answer"] * len(requests))
        answers = [f"answer about {concepts[0].name}" for _, concepts, _ in requests]
        for word in range(1, 4):  # written a word at a time, the batch's rows in step
            for answer, stream in zip(answers, on_text or []):
                if stream is not None:
                    stream(" ".join(answer.split()[:word]))
        return answers

    def train(self, request: TrainRequest, progress: Any, cancel: Any, between: Any) -> str:
        for _ in range(self.prepare_chunks):  # a preparation: chunks with a pause after each, no progress
            time.sleep(self.step_seconds)
            between()
        for step in range(1, self.train_steps + 1):
            between()
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

    def send(self, request_id: int, request: Request, *, stream: bool = False) -> None:
        self.ours.send({"id": request_id, "request": request, **({"stream": True} if stream else {})})

    def progress_of(self, request_id: int) -> list[Any]:
        return [m["progress"] for m in self.messages if m["id"] == request_id and "progress" in m]

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
        client.send(request_id, Recognise(name.encode(), [ConceptRef(name)]))
    answers = {i: client.wait_for(i)["result"] for i in (1, 2, 3)}
    assert engine.forward_passes == [["ana's Bo", "ben's Bo", "cat's Kiwi"]]
    assert all(answers[i][0].present for i in (1, 2, 3))  # each got its own concept's result
    assert client.worker.stats.batch_sizes == [3]


def test_a_question_is_answered_while_training_runs() -> None:
    engine = CountingEngine(train_steps=100, step_seconds=0.02)  # about two seconds of training
    client = Client(engine)
    client.send(1, Train(TrainRequest("Bo", positives=[])))
    time.sleep(0.2)
    asked = time.monotonic()
    client.send(2, Answer(["what is ", 0, "?"], [ConceptRef("Bo")]))
    answer = client.wait_for(2)
    waited = time.monotonic() - asked
    assert answer["result"] == "answer about Bo"
    assert waited < 0.5, f"the question waited {waited:.2f}s behind training"
    assert client.worker.stats.served_during_training == 1
    assert client.wait_for(1)["result"] == "tokens of Bo"


def test_a_question_is_answered_while_training_prepares() -> None:
    """The preparation sends no progress, but pauses between its chunks: a question waits one chunk."""
    engine = CountingEngine(train_steps=1, step_seconds=0.02, prepare_chunks=100)  # two seconds preparing
    client = Client(engine)
    client.send(1, Train(TrainRequest("Bo", positives=[])))
    time.sleep(0.2)
    asked = time.monotonic()
    client.send(2, Answer(["what is ", 0, "?"], [ConceptRef("Bo")]))
    assert client.wait_for(2)["result"] == "answer about Bo"
    waited = time.monotonic() - asked
    assert waited < 0.5, f"the question waited {waited:.2f}s behind the preparation"
    assert not client.progress_of(1), "answered in the preparation, before any progress"
    assert client.wait_for(1)["result"] == "tokens of Bo"


def test_cancel_stops_a_running_training_within_a_step() -> None:
    engine = CountingEngine(train_steps=500, step_seconds=0.02)
    client = Client(engine)
    client.send(1, Train(TrainRequest("Bo", positives=[])))
    time.sleep(0.2)
    cancelled_at = time.monotonic()
    client.ours.send({"control": "cancel", "target": 1})
    message = client.wait_for(1)
    assert message.get("cancelled") and time.monotonic() - cancelled_at < 0.5


def test_a_failing_request_fails_alone() -> None:
    engine = CountingEngine()
    client = Client(engine)
    client.send(1, Describe([]))  # CountingEngine has no describe: that request fails
    client.send(2, Recognise(b"Bo", [ConceptRef("Bo")]))
    assert not client.wait_for(1)["ok"]
    assert client.wait_for(2)["ok"]


def test_streamed_answers_in_one_batch_each_get_only_their_own_text() -> None:
    engine = CountingEngine()
    client = Client(engine, batch_window=0.2)
    client.send(1, Answer(["what is ", 0, "?"], [ConceptRef("Bo")]), stream=True)
    client.send(2, Answer(["what is ", 0, "?"], [ConceptRef("Kiwi")]))
    client.send(3, Answer(["what is ", 0, "?"], [ConceptRef("Mam")]), stream=True)
    replies = {i: client.wait_for(i)["result"] for i in (1, 2, 3)}
    assert engine.forward_passes == [["answer"] * 3]
    assert client.progress_of(1) == ["answer", "answer about", "answer about Bo"]
    assert client.progress_of(3) == ["answer", "answer about", "answer about Mam"]
    assert client.progress_of(2) == [], "a question asked without streaming gets its answer only"
    assert replies == {1: "answer about Bo", 2: "answer about Kiwi", 3: "answer about Mam"}


def test_a_streamed_answer_ends_as_the_same_greedy_answer_unstreamed(engine: Engine) -> None:
    """The tiny model, two users in one batch: each stream is its own answer written as it grows,
    ending exactly as that request's answer, and as the same request asked without streaming."""
    client = Client(engine, batch_window=0.5)
    bo, kiwi = ConceptRef("Bo", description="a small brown dog"), ConceptRef("Kiwi", description="a green bird")
    client.send(1, Answer(["What does ", 0, " like?"], [bo]), stream=True)
    client.send(2, Answer(["Where is ", 0, " going today?"], [kiwi]), stream=True)
    client.send(3, Answer(["What does ", 0, " like?"], [bo]))  # the first request, not streamed
    replies = {i: client.wait_for(i, timeout=120)["result"] for i in (1, 2, 3)}
    assert client.worker.stats.batch_sizes == [3]
    assert replies[1] == replies[3] and replies[1] != replies[2]
    for request_id in (1, 2):
        pieces = client.progress_of(request_id)
        assert len(pieces) > 2, "written in several pieces"
        assert pieces[-1] == replies[request_id]
        assert all(replies[request_id].startswith(piece) for piece in pieces), "each piece is the answer so far"
    assert client.progress_of(3) == []
    client.ours.close()  # the worker's loop ends


def test_the_text_so_far_is_whole_words_and_never_half_a_character() -> None:
    """Byte tokens of "Bo ate crème brûlée!", one byte a step: what is shown grows by whole words,
    or by what came since once `every` tokens have passed without one, but never with half of "è"
    or "û" (two bytes each); the last call is the whole answer."""
    answer = "Bo ate crème brûlée!"
    shown: list[str] = []
    writing = Writing(lambda ids, names: bytes(ids).decode("utf-8", errors="replace").strip(),
                      [Prompt([], None, [], {})], [shown.append], stop_ids=[0], every=3)
    writing.put(torch.zeros(1, 0, dtype=torch.long))  # the prompt, as transformers hands it over first
    for byte in answer.encode():
        writing.put(torch.tensor([byte]))
    writing.put(torch.tensor([0]))  # the stop token
    writing.end()
    writing.finish([answer])
    # "Bo ate crème br" + half of "û" waited one step more
    assert shown == ["Bo", "Bo ate", "Bo ate cr", "Bo ate crèm", "Bo ate crème", "Bo ate crème brû",
                     "Bo ate crème brûlé", "Bo ate crème brûlée!"]
    assert all(answer.startswith(text) for text in shown), "no half character: each is the answer so far"
