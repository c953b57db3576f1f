"""Scale-out benchmark: training throughput with two Ray model workers against one, in one run.

    python bench/cluster.py                     # a tiny random LLaVA, 2 CPU actors, 8 jobs
    python bench/cluster.py --jobs 8 --epochs 2 --rounds 2

A local Ray cluster with two CPUs hosts two model actors (one CPU and one torch thread each),
started as `yo worker` starts them. The same 8 small training jobs go through the real path
(durable TrainingQueue + Store → RayModelService → actor → Worker → engine), first with the
service seeing one worker, then both; the queue runs as many jobs at once as the service has
workers. Rounds alternate one / two so drift on a shared machine hits both. Prints jobs/s for
each and the ratio (ideal: 2x). The control, in the same rounds: the same jobs on the bare
engine in one vs two plain processes, no Ray, no queue: the speed-up this machine allows at that
moment (less than 2x when other work shares its cores), to read the Ray figure against.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from serving.cluster import RayModelService, host_workers  # noqa: E402
from serving.protocol import TrainRequest  # noqa: E402
from bot.training.queue import JobEvent, TrainingQueue  # noqa: E402
from storage import Store  # noqa: E402
from tests.fakes.photos import photo  # noqa: E402

PREFIX = "yo-worker-bench-"


async def run_jobs(models: RayModelService, jobs: int, epochs: int, photos: int, folder: Path) -> float:
    """Seconds for `jobs` training jobs through the durable queue on `models`' workers."""
    store = await Store.open(folder)
    concepts = []
    for i in range(jobs):
        owner = await store.get_or_create_user("bench", f"user{i}")
        concept = await store.create_concept(owner.id, f"C{i}", f"c{i}", models.model_id)
        for positive in request(i, epochs, photos).positives:
            await store.add_photo(concept.id, positive, "positive", "teach")
        concepts.append(concept)
    queue = TrainingQueue(store, models, poll_seconds=0.01, epochs=epochs)
    finished = asyncio.Event()
    outcomes: list[str] = []

    async def count(event: JobEvent) -> None:
        if event.kind in ("done", "failed"):
            outcomes.append(event.kind)
            if len(outcomes) == jobs:
                finished.set()

    queue.subscribe(count)
    for concept in concepts:
        await queue.submit(concept)
    start = time.perf_counter()
    await queue.start()
    await finished.wait()
    elapsed = time.perf_counter() - start
    await queue.stop()
    await store.close()
    assert outcomes == ["done"] * jobs, outcomes
    return elapsed


def _plain_process(model: str, jobs: int, epochs: int, photos: int, barrier: Any, taken: Any, results: Any) -> None:
    """The control: the engine in a plain process (no Ray, no queue), one torch thread, taking
    the next job from a shared counter (as the queue hands jobs to whichever worker is free)."""
    import torch

    torch.set_num_threads(1)
    from personalization import Engine

    engine = Engine.load(model, device="cpu")
    engine.train(TrainRequest("warm", positives=[photo(seed=s) for s in range(photos)], epochs=1))
    barrier.wait()
    start = time.perf_counter()
    while True:
        with taken.get_lock():
            i = taken.value
            taken.value += 1
        if i >= jobs:
            break
        engine.train(request(i, epochs, photos))
    results.put(time.perf_counter() - start)


def request(i: int, epochs: int, photos: int) -> TrainRequest:
    return TrainRequest(f"C{i}", positives=[photo(colour=(40 + 20 * i, 120, 200 - 15 * i), seed=s)
                                            for s in range(photos)], epochs=epochs, seed=i)


def plain_processes(model: str, processes: int, jobs: int, epochs: int, photos: int) -> float:
    """Seconds for `jobs` jobs shared by `processes` plain processes started together: what this
    machine allows right now, with no Ray and no bot side (it is shared with other work)."""
    context = mp.get_context("spawn")
    barrier, taken, results = context.Barrier(processes), context.Value("i", 0), context.Queue()
    workers = [context.Process(target=_plain_process, args=(model, jobs, epochs, photos, barrier, taken, results))
               for _ in range(processes)]
    for worker in workers:
        worker.start()
    elapsed = max(results.get() for _ in workers)
    for worker in workers:
        worker.join()
    return elapsed


async def bench(model: str, jobs: int, epochs: int, photos: int, rounds: int) -> None:
    one = RayModelService(None, model, prefix=PREFIX + "0").connect(wait_seconds=60)
    two = RayModelService(None, model, prefix=PREFIX).connect(wait_seconds=60)
    assert len(one.workers) == 1 and len(two.workers) == 2, (one.workers, two.workers)
    # Warm up both actors (first-call costs) outside the timing.
    warm = TrainRequest("warm", positives=[photo(seed=s) for s in range(photos)], epochs=1)
    await asyncio.gather(two.train(warm), two.train(warm))
    times: dict[str, list[float]] = {"1 worker": [], "2 workers": []}
    with tempfile.TemporaryDirectory() as folder:
        for r in range(rounds):
            for label, models in (("1 worker", one), ("2 workers", two)):
                seconds = await run_jobs(models, jobs, epochs, photos, Path(folder) / f"{label}-{r}")
                times[label].append(seconds)
                print(f"round {r + 1}  {label:11s}: {jobs} jobs in {seconds:6.2f} s  = {jobs / seconds:5.2f} jobs/s",
                      flush=True)
            for processes in (1, 2):
                label = f"{processes} process" + "es" * (processes > 1)
                seconds = plain_processes(model, processes, jobs, epochs, photos)
                times.setdefault(label, []).append(seconds)
                print(f"round {r + 1}  {label:11s}: {jobs} jobs in {seconds:6.2f} s  = {jobs / seconds:5.2f} jobs/s"
                      "  (control: plain processes, no Ray)", flush=True)
    await one.close()
    await two.close()
    single, double = statistics.median(times["1 worker"]), statistics.median(times["2 workers"])
    alone, pair = statistics.median(times["1 process"]), statistics.median(times["2 processes"])
    print(f"\n{jobs} training jobs ({epochs} epochs, {photos} photos each), median of {rounds} round(s):")
    print(f"  Ray, 1 worker : {jobs / single:5.2f} jobs/s")
    print(f"  Ray, 2 workers: {jobs / double:5.2f} jobs/s")
    print(f"  -> 2 workers / 1 worker throughput = {single / double:.2f}x (ideal 2x)")
    print(f"  control, plain processes (no Ray, no queue): 2 / 1 = {alone / pair:.2f}x: what the machine "
          f"allows now; Ray keeps {single / double / (alone / pair):.0%} of it")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a checkpoint folder (default: a tiny random LLaVA built now)")
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--photos", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        model = args.model
        if model is None:
            from lab.tiny import build_tiny_model

            model = str(build_tiny_model(Path(folder) / "tiny", seed=0))
        ray.init(address="local", num_cpus=2, include_dashboard=False, namespace="yo", log_to_driver=False)
        try:
            start = time.perf_counter()
            # yo-worker-bench-0 and -1; keep the handles: Ray ends an actor when its owner drops the last one.
            actors = host_workers(model, count=2, device="cpu", torch_threads=1, name="bench")
            print(f"2 model actors (1 CPU, 1 torch thread each) ready in {time.perf_counter() - start:.1f} s",
                  flush=True)
            asyncio.run(bench(model, args.jobs, args.epochs, args.photos, args.rounds))
            del actors
        finally:
            ray.shutdown()


if __name__ == "__main__":
    main()
