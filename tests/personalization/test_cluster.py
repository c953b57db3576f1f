"""Model workers as Ray actors on a local two-CPU Ray cluster, with the real engine on a tiny
model and the real TrainingQueue + Store: jobs end to end, two at once, a worker killed
mid-job (the job finishes on the other one, Ray restarts the lost one), cancel."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from serving.cluster import RayModelService, host_workers  # noqa: E402
from serving.protocol import ConceptRef, ModelUnavailable  # noqa: E402
from bot.training.queue import JobEvent, TrainingQueue  # noqa: E402
from storage import Store  # noqa: E402
from storage.models import Concept  # noqa: E402
from tests.bot.conftest import wait_for  # noqa: E402
from tests.fakes.photos import photo  # noqa: E402


@pytest.fixture(scope="module")
def cluster(tiny_model: Path) -> Iterator[list[Any]]:
    """A local Ray cluster with two model actors, one CPU and one torch thread each (as `yo worker`
    starts them, here both on this one node)."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, namespace="yo", log_to_driver=False)
    try:
        yield host_workers(str(tiny_model), count=2, device="cpu", torch_threads=1, name="test")
    finally:
        ray.shutdown()


async def connected(tiny_model: Path, workers: int = 2) -> RayModelService:
    models = RayModelService(None, str(tiny_model), progress_seconds=0.05, discover_seconds=0.5)
    models.connect(wait_seconds=60)
    await models.start()
    await wait_for(lambda: len(models.workers) == workers, timeout=60)
    return models


async def concept_with_photos(store: Store, user: str, name: str, model: Path) -> Concept:
    owner = await store.get_or_create_user("test", user)
    concept = await store.create_concept(owner.id, name, name.lower(), str(model))
    for seed in range(3):
        await store.add_photo(concept.id, photo(seed=seed + 10 * len(name)), "positive", "teach")
    return concept


async def running_queue(store: Store, models: RayModelService, epochs: int) -> tuple[TrainingQueue, list[JobEvent]]:
    queue = TrainingQueue(store, models, poll_seconds=0.05, epochs=epochs)
    events: list[JobEvent] = []

    async def record(event: JobEvent) -> None:
        events.append(event)

    queue.subscribe(record)
    await queue.start()
    return queue, events


def finished(events: list[JobEvent], n: int = 1) -> bool:
    return sum(e.kind in ("done", "failed", "cancelled") for e in events) >= n


async def test_a_concept_trains_on_a_worker_and_answers_with_its_tokens(
        tmp_path: Path, tiny_model: Path, cluster: list[Any]) -> None:
    store = await Store.open(tmp_path / "data")
    models = await connected(tiny_model)
    assert models.training_slots == 2 and models.model_id == str(tiny_model)
    queue, events = await running_queue(store, models, epochs=2)
    try:
        concept = await concept_with_photos(store, "ana", "Bo", tiny_model)
        job = await queue.submit(concept)
        await wait_for(lambda: finished(events), timeout=90)
        kinds = [e.kind for e in events]
        assert kinds[0] == "started" and "progress" in kinds and kinds[-1] == "done", kinds
        assert (await store.get_job(job.id)).state == "done"
        trained = await store.get_concept(concept.id)
        assert trained.status == "ready"
        bo = ConceptRef("Bo", tokens=await store.read_tokens(trained))
        # The tokens came back to the bot host's store and serve questions on any worker.
        answers = await asyncio.gather(*(models.answer(["What colour is ", 0, "?"], [bo]) for _ in range(4)))
        assert all(isinstance(a, str) for a in answers)
        [seen] = await models.recognise(photo(seed=99), [bo])
        assert 0.0 <= seen.probability <= 1.0
        assert isinstance(await models.describe([photo(seed=5)]), str)
        assert isinstance(await models.prototype([photo(seed=s) for s in range(3)], []), bytes)
        with pytest.raises(ModelUnavailable, match="can't draw"):  # a LLaVA worker does not draw
            await models.draw(["a picture of ", 0], [bo])
    finally:
        await queue.stop()
        await models.close()
        await store.close()


async def test_two_jobs_train_at_once_on_two_workers(tmp_path: Path, tiny_model: Path, cluster: list[Any]) -> None:
    store = await Store.open(tmp_path / "data")
    models = await connected(tiny_model)
    queue, events = await running_queue(store, models, epochs=2)
    together: set[frozenset[str]] = set()

    async def watch() -> None:  # which workers train at the same moment
        while True:
            together.add(frozenset(s.name for s in models.registry.slots.values() if s.training))
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    try:
        for user, name in (("ana", "Bo"), ("ben", "Kiwi")):
            await queue.submit(await concept_with_photos(store, user, name, tiny_model))
        await wait_for(lambda: finished(events, 2), timeout=90)
        assert [e.kind for e in events if e.kind in ("done", "failed")] == ["done", "done"]
        assert frozenset(models.workers) in together, together
    finally:
        watcher.cancel()
        await queue.stop()
        await models.close()
        await store.close()


async def test_cancel_reaches_the_worker(tmp_path: Path, tiny_model: Path, cluster: list[Any]) -> None:
    store = await Store.open(tmp_path / "data")
    models = await connected(tiny_model)
    queue, events = await running_queue(store, models, epochs=50)
    try:
        concept = await concept_with_photos(store, "ana", "Bo", tiny_model)
        job = await queue.submit(concept)
        await wait_for(lambda: any(e.kind == "progress" for e in events), timeout=60)
        assert await queue.cancel(job.id)
        await wait_for(lambda: finished(events), timeout=30)
        assert events[-1].kind == "cancelled"
        assert (await store.get_concept(concept.id)).status == "collecting"
        # The worker is free again: the next question does not wait for 50 epochs.
        assert isinstance(await asyncio.wait_for(models.describe([photo(seed=1)]), 30), str)
    finally:
        await queue.stop()
        await models.close()
        await store.close()


async def test_a_worker_killed_mid_job_the_job_finishes_on_the_other(
        tmp_path: Path, tiny_model: Path, cluster: list[Any]) -> None:
    store = await Store.open(tmp_path / "data")
    models = await connected(tiny_model)
    queue, events = await running_queue(store, models, epochs=6)
    trained_on: list[str] = []

    async def watch() -> None:
        while True:
            trained_on.extend(s.name for s in models.registry.slots.values() if s.training and s.healthy)
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    try:
        concept = await concept_with_photos(store, "ana", "Bo", tiny_model)
        job = await queue.submit(concept)
        await wait_for(lambda: any(e.kind == "progress" for e in events), timeout=60)
        [victim] = [s for s in models.registry.slots.values() if s.training]
        old_pid = victim.info["pid"]
        trained_on.clear()
        ray.kill(victim.handle, no_restart=False)  # as a crash: Ray restarts the actor

        await wait_for(lambda: finished(events), timeout=120)
        kinds = [e.kind for e in events]
        assert "retrying" in kinds and kinds[-1] == "done", kinds
        assert (await store.get_job(job.id)).attempts == 2
        assert (await store.get_concept(concept.id)).status == "ready"
        [survivor] = [name for name in models.registry.slots if name != victim.name]
        assert survivor in trained_on  # the second attempt ran on the other worker
        # The lost worker comes back (restarted by Ray, model loaded again) and serves again.
        await wait_for(lambda: victim.name in models.workers, timeout=90)
        assert models.registry.slots[victim.name].info["pid"] != old_pid
        assert isinstance(await models.describe([photo(seed=2)]), str)
    finally:
        watcher.cancel()
        await queue.stop()
        await models.close()
        await store.close()


async def test_a_question_to_a_lost_worker_is_asked_again_on_the_other(tiny_model: Path, cluster: list[Any]) -> None:
    models = await connected(tiny_model)
    try:
        first = next(iter(models.registry.slots.values()))  # both idle: the first one is picked
        ray.kill(first.handle, no_restart=False)
        assert isinstance(await models.describe([photo(seed=3)]), str)
        assert first.name not in models.workers  # marked lost, until Ray has restarted it
        await wait_for(lambda: len(models.workers) == 2, timeout=90)
    finally:
        await models.close()


async def test_no_worker_in_the_cluster_is_a_clear_error(tiny_model: Path, cluster: list[Any]) -> None:
    models = RayModelService(None, str(tiny_model), prefix="nobody-", question_wait_seconds=0.5)
    models.connect()
    try:
        assert models.workers == [] and models.training_slots == 1
        with pytest.raises(ModelUnavailable, match="No model worker"):
            await models.describe([photo(seed=1)])
    finally:
        await models.close()


async def test_a_worker_serving_another_model_is_not_used(tiny_model: Path, cluster: list[Any]) -> None:
    models = RayModelService(None, "llava-hf/some-other-model").connect()
    try:
        assert models.workers == []
    finally:
        await models.close()


async def test_the_bot_uses_the_cluster_when_yo_ray_address_is_set(tiny_model: Path, cluster: list[Any]) -> None:
    from bot.app import model_service
    from bot.settings import Settings

    # Ray is initialised already (the fixture's cluster), so the address is not dialled here.
    models = model_service(Settings(yo_model=str(tiny_model), yo_ray_address="127.0.0.1:6379"))
    try:
        assert isinstance(models, RayModelService) and models.training_slots == 2
    finally:
        await models.close()


def test_yo_worker_without_an_address_says_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("YO_RAY_ADDRESS", raising=False)
    assert main(["worker"]) == 1  # EXIT_FAILED: a setting is missing, not the command line
    assert "YO_RAY_ADDRESS" in capsys.readouterr().err


async def test_an_answer_streams_from_a_ray_worker(tiny_model: Path, cluster: list[Any]) -> None:
    """Over Ray too, `on_text` gets the answer so far as the worker writes it, on the event loop,
    ending as the answer returned; asked without it, the same answer."""
    models = await connected(tiny_model)
    loop, pieces = asyncio.get_running_loop(), []

    def on_text(text: str) -> None:
        assert asyncio.get_running_loop() is loop
        pieces.append(text)

    bo = ConceptRef("Bo", description="a small brown dog")
    try:
        streamed = await models.answer(["What does ", 0, " like?"], [bo], on_text=on_text)
        plain = await models.answer(["What does ", 0, " like?"], [bo])
    finally:
        await models.close()
    assert streamed == plain
    assert len(pieces) > 2 and pieces[-1] == streamed
    assert all(later.startswith(earlier) for earlier, later in zip(pieces, pieces[1:])), pieces
