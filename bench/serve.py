"""Serving benchmark: N concurrent requests with N different concepts, batched vs one by one.

    python bench/serve.py                      # a tiny random LLaVA on the CPU
    python bench/serve.py --model DIR --device cuda --n 16
    python bench/serve.py --shape llava-7b --device cuda --n 16   # random weights at LLaVA-1.5-7B's shapes
    python bench/serve.py --shape qwen3-vl-8b --device cuda --n 16   # ... at Qwen3-VL-8B's (or qwen2.5-vl-7b)

Prints, each measured side by side in this run:
  1. engine: N recognitions in one batched forward vs N single forwards (and that both agree); and N
     generated answers (each its own concept and photo, `--answer-tokens` long) written together vs
     one by one (decode, one token at a time, is where batching pays most);
  2. worker: N concurrent requests through the model worker process vs the same awaited one by one;
  3. concept swap: parse a concept file and bind it to a slot, per request (target < 1 ms);
  4. queue overhead: a training job through the durable queue vs calling the model directly.

With a real `--shape` sections 1 and 3 run on random weights at the real shapes, built on the
device; section 2 needs a checkpoint on disk for the worker process to load, so it runs on the
tiny model there (or on `--model`): it measures the process hop and the worker's batching.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import shapes  # noqa: E402  (bench/shapes.py: the real models' shapes)

from serving.client import WorkerProcessService  # noqa: E402
from personalization import Engine  # noqa: E402
from personalization.concept import Concept  # noqa: E402
from serving.protocol import ConceptRef, TrainRequest, TrainResult  # noqa: E402


def photos(n: int, size: int = 224) -> list[bytes]:
    out = []
    for i in range(n):
        image = Image.new("RGB", (size, size), ((37 * i) % 255, (91 * i) % 255, (53 * i) % 255))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def random_concepts(engine: Engine, n: int, seed: int = 0) -> list[ConceptRef]:
    generator = torch.Generator().manual_seed(seed)
    pool = engine.backend.slots
    refs = []
    for i in range(n):
        concept = Concept(torch.randn(pool.k + 1, pool.hidden_size, generator=generator) * 0.02,
                          torch.randn(pool.hidden_size, generator=generator) * 0.02,
                          engine.model_id, engine.backend.fingerprint, name=f"c{i}")
        refs.append(ConceptRef(f"c{i}", tokens=concept.to_bytes()))
    return refs


def timed_once(work):  # type: ignore[no-untyped-def]
    """The wall time of one `work()` (the GPU's work included), and what it returned."""
    start = time.perf_counter()
    result = work()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, result


def timed(work, repeat: int = 3) -> float:
    """The median wall time of `work()` over `repeat` runs."""
    return statistics.median(timed_once(work)[0] for _ in range(repeat))


def bench_engine(engine: Engine, n: int) -> None:
    images, concepts = photos(n), random_concepts(engine, n)
    requests = [(images[i], [concepts[i]]) for i in range(n)]
    engine.recognise_batch(requests[:2])  # warm up
    one_by_one = timed(lambda: [engine.recognise(p, c) for p, c in requests])
    batched = timed(lambda: engine.recognise_batch(requests))
    single = [engine.recognise(p, c)[0].probability for p, c in requests]
    together = [r[0].probability for r in engine.recognise_batch(requests)]
    drift = max(abs(a - b) for a, b in zip(single, together))
    print(f"engine  N={n}: one by one {n / one_by_one:7.1f} req/s, batched {n / batched:7.1f} req/s "
          f"-> {one_by_one / batched:.2f}x (max |p_single - p_batched| = {drift:.1e})")


def bench_answers(engine: Engine, n: int, tokens: int) -> float:
    """N generated answers, one concept and one photo each, written in one batch vs one by one;
    returns the speed-up. Every answer is `tokens` long (random weights rarely stop early)."""
    images, concepts = photos(n), random_concepts(engine, n)
    requests = [(["What is ", 0, " doing in this photo?"], [concepts[i]], images[i]) for i in range(n)]
    inference, kept = engine.inference, engine.inference.max_new_tokens
    inference.max_new_tokens = tokens
    try:
        engine.answer_batch(requests[:2])  # warm up
        one_by_one, alone = timed_once(lambda: [engine.answer(*request) for request in requests])
        batched, together = timed_once(lambda: engine.answer_batch(requests))
        same = sum(a == b for a, b in zip(alone, together))
    finally:
        inference.max_new_tokens = kept
    print(f"answers N={n}, {tokens} tokens each: one by one {n / one_by_one:7.2f} ans/s, batched "
          f"{n / batched:7.2f} ans/s -> {one_by_one / batched:.2f}x (target 8x; {same} of {n} answers the same "
          f"written either way)")
    return one_by_one / batched


def bench_swap(engine: Engine, repeat: int = 1000) -> None:
    pool, backend = engine.backend.slots, engine.backend
    data = random_concepts(engine, 1)[0].tokens
    assert data is not None
    device, dtype = backend.device, backend.dtype

    def swap() -> None:
        concept = Concept.from_bytes(data, backend.fingerprint)
        inputs, outputs = pool.pack([[concept.as_slot(device, dtype)]], device, dtype)
        with pool.bind(inputs, outputs):
            pass

    swap()
    start = time.perf_counter()
    for _ in range(repeat):
        swap()
    per = (time.perf_counter() - start) / repeat
    # The baseline a swap replaces: copying the concept's rows into the full embedding table.
    table = backend.model.get_input_embeddings().weight
    start = time.perf_counter()
    for _ in range(repeat // 10):
        copy = table.detach().clone()
        copy[: pool.k + 1] = 0
    reload = (time.perf_counter() - start) / (repeat // 10)
    print(f"swap    parse + bind one concept: {per * 1e6:7.1f} us (target < 1000 us); "
          f"copying the embedding table instead: {reload * 1e6:9.1f} us -> {reload / per:.0f}x")


async def bench_worker(model: str, device: str, n: int) -> None:
    service = WorkerProcessService(model, device=device)
    await service.start()
    try:
        local = Engine.load(model, device="cpu")
        images, concepts = photos(n), random_concepts(local, n)
        await service.recognise(images[0], [concepts[0]])  # warm up
        start = time.perf_counter()
        for i in range(n):
            await service.recognise(images[i], [concepts[i]])
        one_by_one = time.perf_counter() - start
        start = time.perf_counter()
        await asyncio.gather(*[service.recognise(images[i], [concepts[i]]) for i in range(n)])
        together = time.perf_counter() - start
        stats = await service.stats()
        print(f"worker  N={n}: awaited one by one {n / one_by_one:7.1f} req/s, concurrent {n / together:7.1f} req/s "
              f"-> {one_by_one / together:.2f}x (batches seen by the worker: {stats['batch_sizes'][-3:]})")
    finally:
        await service.close()


class InstantModels:
    """Training that costs nothing, so the queue's own cost is what is left."""

    model_id = "instant"

    async def train(self, request, progress=None, cancel=None) -> TrainResult:
        return TrainResult(tokens=b"x" * 70_000, train_accuracy=1.0, epochs_run=1)


async def bench_queue(jobs: int = 50) -> None:
    from bot.training.queue import TrainingQueue
    from storage import Store

    models = InstantModels()
    with tempfile.TemporaryDirectory() as folder:
        store = await Store.open(folder)
        owner = await store.get_or_create_user("bench", "u")
        concepts = []
        for i in range(jobs):
            concept = await store.create_concept(owner.id, f"c{i}", f"c{i}", models.model_id)
            await store.add_photo(concept.id, photos(1, 64)[0], "positive", "teach")
            concepts.append(concept)
        start = time.perf_counter()
        for _ in range(jobs):
            await models.train(TrainRequest("c", positives=[b""]))
        direct = (time.perf_counter() - start) / jobs
        queue = TrainingQueue(store, models, poll_seconds=0.001)  # type: ignore[arg-type]
        finished = asyncio.Event()
        done = 0

        async def count(event) -> None:
            nonlocal done
            if event.kind == "done":
                done += 1
                if done == jobs:
                    finished.set()

        queue.subscribe(count)
        start = time.perf_counter()
        for concept in concepts:
            await queue.submit(concept)
        await queue.start()
        await finished.wait()
        queued = (time.perf_counter() - start) / jobs
        await queue.stop()
        await store.close()
    print(f"queue   per job: {queued * 1e3:.2f} ms through the durable queue (submit, lease, read photos, "
          f"save tokens, finish) vs {direct * 1e6:.1f} us calling the model directly")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a checkpoint folder (default: a tiny random LLaVA built now)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--shape", choices=["tiny", "llava-7b", *shapes.QWEN_SHAPES], default="tiny",
                        help="a real model's shapes: sections 1 and 3 on random weights at them")
    parser.add_argument("--layers", type=int, default=None, help="a real shape with fewer layers (a CPU smoke run)")
    parser.add_argument("--answer-tokens", type=int, default=32, help="the length of each generated answer")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        model = args.model
        if model is None:
            from lab.tiny import build_tiny_model

            model = str(build_tiny_model(Path(folder) / "tiny", seed=0))
        if args.shape == "llava-7b":
            engine = shapes.llava_7b(torch.device(args.device), args.layers, torchvision=True)
        elif args.shape in shapes.QWEN_SHAPES:
            engine = shapes.qwen_vl(args.shape, torch.device(args.device), args.layers)
        else:
            engine = Engine.load(model, device=args.device)
        name = torch.cuda.get_device_name() if args.device == "cuda" else f"cpu, {torch.get_num_threads()} thread(s)"
        print(f"model {engine.model_id} on {name}, image processor "
              f"{type(engine.backend.processor.image_processor).__name__}")
        bench_engine(engine, args.n)
        bench_answers(engine, args.n, args.answer_tokens)
        bench_swap(engine)
        del engine
        if args.device == "cuda":
            torch.cuda.empty_cache()
        print(f"worker section: model {model}")
        asyncio.run(bench_worker(model, args.device, args.n))
        asyncio.run(bench_queue())


if __name__ == "__main__":
    main()
