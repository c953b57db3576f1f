"""Several processes on one data folder share the training queue without taking each other's jobs
(issue 22): a lease is only ever taken from a runner that is gone."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path


from bot.training.queue import TrainingQueue, owner_is_gone
from storage import Store
from tests.bot.conftest import wait_for
from tests.fakes.models import FakeModelService
from tests.fakes.photos import photo
from tests.processes import until


def jobs(data_dir: Path) -> list[dict[str, object]]:
    with sqlite3.connect(data_dir / "yo.sqlite3") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM jobs ORDER BY id")]


def test_two_teaches_and_a_third_process_never_take_each_others_jobs(tmp_path: Path, tiny_model: Path) -> None:
    """Two users teach at once; while both train, a third `yo teach` starts its queue (which used to
    requeue every running job) and a fourth process lists concepts in a loop. Every job runs once."""
    env = {**os.environ, "YO_MODEL": str(tiny_model), "YO_DATA_DIR": str(tmp_path / "data"), "YO_DEVICE": "cpu",
           "TELEGRAM_BOT_TOKEN": "", "DISCORD_BOT_TOKEN": ""}
    photos = []
    for seed in range(3):
        photos.append(tmp_path / f"p{seed}.jpg")
        photos[-1].write_bytes(photo((200, 120, 40), seed=seed))

    def teach(user: str, name: str, epochs: int) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "bot.cli", "teach", name, *map(str, photos), "--json",
                                 "--user", user], env={**env, "YO_TRAIN_EPOCHS": str(epochs)},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    first, second = teach("ana", "Bo", 40), teach("ben", "Kip", 40)
    until(lambda: (tmp_path / "data" / "yo.sqlite3").exists() and
          sum(j["state"] == "running" for j in jobs(tmp_path / "data")) == 2, 240, "both trainings to run")
    third = teach("cy", "Mo", 2)
    lister = subprocess.Popen([sys.executable, "-c", "import subprocess, sys\nwhile True: subprocess.run("
                               "[sys.executable, '-m', 'bot.cli', 'concepts', '--json', '--user', 'ana'], "
                               "capture_output=True)"], env=env)
    try:
        outcomes = [p.communicate(timeout=400) for p in (first, second, third)]
    finally:
        lister.kill()
        lister.wait()
    for (out, err), process in zip(outcomes, (first, second, third)):
        assert process.returncode == 0, err[-2000:]
        assert json.loads(out)["status"] == "ready", out
    final = jobs(tmp_path / "data")
    assert [(j["state"], j["attempts"]) for j in final] == [("done", 1)] * 3, final


def start_runner(data_dir: Path, steps: int, step_seconds: float, lease: float) -> subprocess.Popen[str]:
    runner = subprocess.Popen([sys.executable, "-m", "tests.personalization.queue_runner", str(data_dir),
                               str(steps), str(step_seconds), str(lease)], stdout=subprocess.PIPE, text=True)
    assert runner.stdout is not None and runner.stdout.readline().strip() == "started"
    return runner


async def a_queued_job(data_dir: Path) -> int:
    store = await Store.open(data_dir)
    try:
        owner = await store.get_or_create_user("test", "ana")
        concept = await store.create_concept(owner.id, "Bo", "bo", FakeModelService.model_id)
        for seed in range(3):
            await store.add_photo(concept.id, photo(seed=seed), "positive", "teach")
        return (await store.enqueue_job(concept.id, owner.id, {})).id
    finally:
        await store.close()


def test_a_job_whose_process_is_killed_runs_again_once(tmp_path: Path) -> None:
    job_id = asyncio.run(a_queued_job(tmp_path))
    holder = start_runner(tmp_path, steps=1000, step_seconds=0.05, lease=30)
    until(lambda: jobs(tmp_path)[0]["state"] == "running", 30, "the job to start")
    bystander = start_runner(tmp_path, steps=1, step_seconds=0, lease=30)  # a live holder: hands off
    time.sleep(1.5)
    assert (jobs(tmp_path)[0]["state"], jobs(tmp_path)[0]["attempts"]) == ("running", 1), jobs(tmp_path)
    assert jobs(tmp_path)[0]["lease_owner"].split("/")[1] == str(holder.pid)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    try:
        # The bystander sees the holder's process is gone at its next look, without waiting 30 s.
        until(lambda: jobs(tmp_path)[0]["state"] == "done", 20, "the job to run again")
    finally:
        bystander.kill()
        bystander.wait()
    [job] = jobs(tmp_path)
    assert (job["id"], job["attempts"]) == (job_id, 2)


def test_a_lease_held_on_another_machine_waits_for_its_expiry() -> None:
    assert not owner_is_gone("some-other-host/1/abcd")  # can't be checked from here: the clock decides
    assert not owner_is_gone("12345-abcdef")  # a lease from before owners were named this way
    assert owner_is_gone(f"{os.uname().nodename}/{2**22 + 7}/abcd")  # this machine, no such process


async def test_a_second_queue_in_one_process_leaves_the_first_ones_job_alone(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    owner = await store.get_or_create_user("test", "ana")
    concept = await store.create_concept(owner.id, "Bo", "bo", FakeModelService.model_id)
    await store.add_photo(concept.id, photo(seed=1), "positive", "teach")
    slow, quick = FakeModelService(train_steps=40, step_seconds=0.05), FakeModelService(train_steps=1)
    first, second = TrainingQueue(store, slow, poll_seconds=0.02), TrainingQueue(store, quick, poll_seconds=0.02)
    await first.start()
    await first.submit(concept)
    try:
        await wait_for(lambda: first._running, timeout=5)
        await second.start()
        await asyncio.sleep(0.5)
        assert quick.trained == []
        [job] = await store.list_jobs()
        assert (job.state, job.attempts, job.lease_owner) == ("running", 1, first.owner)
    finally:
        await second.stop()
        await first.stop()
    [job] = await store.list_jobs()
    assert (job.state, job.attempts) == ("queued", 0), "a clean stop hands the job back, its attempt not spent"
    await store.close()
