"""The model worker as its own process, with the real engine on a tiny model:
kill -9 in the middle of training loses nothing, and the bot side lives on."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from serving.client import WorkerProcessService
from serving.protocol import ConceptRef, ModelUnavailable
from bot.training.queue import JobEvent, TrainingQueue
from storage import Store
from tests.bot.conftest import wait_for
from tests.fakes.photos import photo


async def test_kill_9_mid_training_then_the_job_finishes_after_restart(tmp_path: Path, tiny_model: Path) -> None:
    store = await Store.open(tmp_path / "data")
    owner = await store.get_or_create_user("test", "ana")
    concept = await store.create_concept(owner.id, "Bo", "bo", str(tiny_model))
    for seed in range(3):
        await store.add_photo(concept.id, photo(seed=seed), "positive", "teach")
    models = WorkerProcessService(str(tiny_model), device="cpu")
    queue = TrainingQueue(store, models, poll_seconds=0.05, epochs=4)
    events: list[JobEvent] = []

    async def record(event: JobEvent) -> None:
        events.append(event)

    queue.subscribe(record)
    await queue.start()
    try:
        job = await queue.submit(concept)
        await wait_for(lambda: any(e.kind == "progress" for e in events), timeout=120)
        first_pid = models.worker_pid
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)

        await wait_for(lambda: any(e.kind in ("done", "failed") for e in events), timeout=180)
        kinds = [e.kind for e in events]
        assert "retrying" in kinds and kinds[-1] == "done", kinds
        assert models.worker_pid not in (None, first_pid) and models.restarts == 1
        finished = await store.get_job(job.id)
        assert finished.state == "done" and finished.attempts == 2
        trained = await store.get_concept(concept.id)
        assert trained.status == "ready"
        assert len(await store.list_photos(concept.id, "positive")) == 3  # nothing lost
        tokens = await store.read_tokens(trained)
        # The new worker serves questions with the concept learned after the restart.
        [result] = await models.recognise(photo(seed=9), [ConceptRef("Bo", tokens=tokens)])
        assert 0.0 <= result.probability <= 1.0
    finally:
        await queue.stop()
        await models.close()
        await store.close()


async def test_a_question_in_flight_when_the_worker_dies_gets_a_clear_error(tiny_model: Path) -> None:
    models = WorkerProcessService(str(tiny_model), device="cpu")
    await models.start()
    try:
        import asyncio

        # The kill follows the request at once, long before the worker can have answered it.
        asking = asyncio.create_task(models.describe([photo(seed=s) for s in range(8)]))
        await wait_for(lambda: any(p.in_flight for p in [models._current] if p), timeout=5)
        os.kill(models.worker_pid, signal.SIGKILL)
        with pytest.raises(ModelUnavailable, match="try again"):
            await asking
        await wait_for(lambda: models.worker_pid is not None and models.restarts == 1, timeout=120)
        assert isinstance(await models.describe([photo(seed=1)]), str)
    finally:
        await models.close()


async def test_three_users_concurrent_requests_share_one_forward_pass(tiny_model: Path) -> None:
    import asyncio

    from personalization import Engine

    engine = Engine.load(str(tiny_model), device="cpu")
    refs = [ConceptRef(name, prototype=None, description=text) for name, text in
            (("Bo", "a brown dog"), ("Kiwi", "a green bird"), ("Mam", "a grey cat"))]
    photos = [photo((200, 120, 40), seed=1), photo((40, 200, 60), seed=2), photo((120, 120, 120), seed=3)]
    alone = [engine.recognise(p, [r])[0].probability for p, r in zip(photos, refs)]
    models = WorkerProcessService(str(tiny_model), device="cpu")
    await models.start()
    try:
        together = await asyncio.gather(*[models.recognise(p, [r]) for p, r in zip(photos, refs)])
        stats = await models.stats()
    finally:
        await models.close()
    assert stats["batch_sizes"] == [3]  # one forward pass for the three users
    assert [r[0].probability for r in together] == pytest.approx(alone, abs=1e-5)


async def test_an_answer_streams_from_the_worker_process_to_its_own_caller(tiny_model: Path) -> None:
    """Through the real pipe: each caller's on_text gets its own answer so far, on the event loop,
    ending as the answer it is returned; asking without on_text gets the same answer."""
    import asyncio

    bo = ConceptRef("Bo", description="a small brown dog")
    kiwi = ConceptRef("Kiwi", description="a green bird")
    loop = asyncio.get_running_loop()
    pieces: dict[str, list[str]] = {"Bo": [], "Kiwi": []}

    def collect(name: str):  # type: ignore[no-untyped-def]
        def on_text(text: str) -> None:
            assert asyncio.get_running_loop() is loop
            pieces[name].append(text)
        return on_text

    models = WorkerProcessService(str(tiny_model), device="cpu")
    await models.start()
    try:
        streamed_bo, streamed_kiwi, plain_bo = await asyncio.gather(
            models.answer(["What does ", 0, " like?"], [bo], on_text=collect("Bo")),
            models.answer(["Where is ", 0, " going today?"], [kiwi], on_text=collect("Kiwi")),
            models.answer(["What does ", 0, " like?"], [bo]))
        stats = await models.stats()
    finally:
        await models.close()
    assert stats["batch_sizes"] == [3]  # one pass for the three
    assert streamed_bo == plain_bo != streamed_kiwi
    assert len(pieces["Bo"]) > 2 and pieces["Bo"][-1] == streamed_bo
    assert len(pieces["Kiwi"]) > 2 and pieces["Kiwi"][-1] == streamed_kiwi
