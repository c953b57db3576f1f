"""Questions while a concept prepares and trains, against the same questions on an idle worker.

    python bench/busy.py                          # a tiny random LLaVA on the CPU
    python bench/busy.py --model DIR --device cuda

A model worker (serving/worker.py, on threads in this process, as inside a worker process)
answers one "is it in this photo?" at a time, asked again as soon as the last is answered:

  idle      nothing else running;
  yo        while a concept trains: mining a folder of everyday photos, encoding its photos,
            attribute questions, then the steps. The training pauses at its checkpoints
            (`Engine.train(between=...)`) and the worker answers what waits; while questions
            keep coming, it pauses after every photo, answer and example (personalization/pacing.py);
  baseline  the same training, serving questions only when a training step reports progress
            (how the worker served before the checkpoints): the preparation holds them all.

Prints p50 / p99 latency of each, the preparation's and the steps' apart, the ratios to idle
(target: yo <= 2x), and how long each training took while answering.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from personalization import Concept, Engine, TrainConfig  # noqa: E402
from serving.protocol import ConceptRef, Recognise, Train, TrainRequest  # noqa: E402
from serving.worker import Worker  # noqa: E402


def photo(seed: int, size: int = 96) -> bytes:
    image = Image.new("RGB", (size, size), ((37 * seed) % 255, (91 * seed) % 255, (53 * seed) % 255))
    ImageDraw.Draw(image).ellipse((size // 4, size // 4, 3 * size // 4, 3 * size // 4),
                                  fill=((11 * seed) % 255, 200, (7 * seed) % 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class OnlyAtProgress:
    """The engine as the worker used it before the checkpoints: waiting questions were served
    only when a training step reported progress."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def train(self, request: TrainRequest, progress: Any, cancel: Any, between: Any) -> Any:
        def reported(p: Any) -> None:
            progress(p)
            between()

        return self.engine.train(request, reported, cancel, None)


class Asker:
    """The bot's end of the worker's pipe: one question at a time, the training's messages noted."""

    def __init__(self, engine: Any) -> None:
        self.ours, theirs = mp.Pipe()
        threading.Thread(target=Worker(engine, theirs).serve_forever, daemon=True).start()
        assert self.ours.recv()["ready"]
        self.ids = iter(range(1, 10**9))
        self.training_id: int | None = None
        self.stepping = False  # a training step has reported progress
        self.trained = False

    def ask(self, question: Recognise) -> float:
        request_id = next(self.ids)
        started = time.perf_counter()
        self.ours.send({"id": request_id, "request": question})
        while True:
            message = self.ours.recv()
            if message["id"] == request_id:
                assert message["ok"], message
                return time.perf_counter() - started
            if message["id"] == self.training_id:
                if "progress" in message:
                    self.stepping = self.stepping or message["progress"].stage == "training"
                else:
                    assert message["ok"], message.get("traceback")
                    self.trained = True

    def train(self, request: TrainRequest) -> None:
        self.training_id = next(self.ids)
        self.stepping = self.trained = False
        self.ours.send({"id": self.training_id, "request": Train(request)})


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def while_training(engine: Any, request: TrainRequest, question: Recognise) -> dict[str, list[float]]:
    asker = Asker(engine)
    asker.train(request)
    seen: dict[str, list[float]] = {"preparing": [], "training": []}
    started = time.perf_counter()
    while not asker.trained:
        phase = "training" if asker.stepping else "preparing"
        seen[phase].append(asker.ask(question))
    seen["took"] = [time.perf_counter() - started]
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a checkpoint folder (default: a tiny random LLaVA built here)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--everyday", type=int, default=192, help="photos in the folder mined for negatives")
    parser.add_argument("--idle", type=int, default=40, help="questions asked of the idle worker")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="yo-bench-busy-"))
    try:
        model = args.model
        if model is None:
            from lab.tiny import build_tiny_model

            model = str(build_tiny_model(work / "tiny", seed=0))
        config = TrainConfig(epochs=2, extra_epochs=0)
        engine = Engine.load(model, device=args.device, config=config)
        folders = []
        for name in ("yo", "baseline"):  # one each: the engine caches a folder's features
            folder = work / name
            folder.mkdir()
            for i in range(args.everyday):
                (folder / f"{i}.png").write_bytes(photo(1000 + i))
            folders.append(folder)
        pool = engine.backend.slots
        vectors = torch.Generator().manual_seed(0)
        concept = Concept(torch.randn(pool.k + 1, pool.hidden_size, generator=vectors) * 0.02,
                          torch.randn(pool.hidden_size, generator=vectors) * 0.02,
                          engine.model_id, engine.backend.fingerprint, name="Bo")
        question = Recognise(photo(7), [ConceptRef("Bo", tokens=concept.to_bytes())])
        positives = [photo(i) for i in range(5)]

        idle_asker = Asker(engine)
        idle_asker.ask(question)  # warm up
        idle = [idle_asker.ask(question) for _ in range(args.idle)]
        runs = {
            "yo": while_training(engine, TrainRequest("Bo", positives, negatives_dir=str(folders[0]),
                                                      category="dog"), question),
            "baseline": while_training(OnlyAtProgress(engine), TrainRequest(
                "Bo", positives, negatives_dir=str(folders[1]), category="dog"), question),
        }
        p50, p99 = percentiles(idle)
        print(f"{'worker':24} {'questions':>9} {'p50 ms':>9} {'p99 ms':>9} {'p50 x idle':>11} {'p99 x idle':>11}")
        print(f"{'idle':24} {len(idle):9d} {1000 * p50:9.1f} {1000 * p99:9.1f} {1.0:11.2f} {1.0:11.2f}")
        ratios = {}
        for name, phases in runs.items():
            for phase in ("preparing", "training", "all"):
                seconds = phases["preparing"] + phases["training"] if phase == "all" else phases[phase]
                if not seconds:
                    continue
                b50, b99 = percentiles(seconds)
                ratios[(name, phase)] = (b50 / p50, b99 / p99)
                print(f"{name + ', ' + phase:24} {len(seconds):9d} {1000 * b50:9.1f} {1000 * b99:9.1f} "
                      f"{b50 / p50:11.2f} {b99 / p99:11.2f}")
        print(f"the training took {runs['yo']['took'][0]:.1f} s answering {len(runs['yo']['preparing']) + len(runs['yo']['training'])} "
              f"questions (yo), {runs['baseline']['took'][0]:.1f} s answering "
              f"{len(runs['baseline']['preparing']) + len(runs['baseline']['training'])} (baseline)")
        yo50, yo99 = ratios[("yo", "all")]
        verdict = "OK" if yo50 <= 2 else "over target"
        print(f"ratio yo/idle while a concept prepares and trains: p50 {yo50:.2f}x, p99 {yo99:.2f}x "
              f"(target: p50 <= 2x) -> {verdict}")
        if ("baseline", "preparing") in ratios:
            print(f"baseline while preparing: p50 {ratios[('baseline', 'preparing')][0]:.2f}x, "
                  f"p99 {ratios[('baseline', 'preparing')][1]:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
