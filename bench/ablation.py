"""What each part of a concept's training data buys (docs/method.md §2, §12), on the toy-world stand-in.

    python bench/ablation.py                       # builds the stand-in (minutes), seeds 0 1 2
    python bench/ablation.py --model DIR --seeds 3 4 --concepts 4

For each seed, `yo toyworld` writes a benchmark of look-alike concepts; every concept is
trained with the engine's own trainer three times, each setting adding one part:

  recognition only     positives and random everyday photos as "no" (no mining, no text QA)
  + text-only QA       attribute questions answered by the model, trained without the photo
  + hard negatives     the most similar everyday photos and the user's other concepts as "no"

and scored on the held-out photos of every concept (positive / negative / weighted, as the
papers do), next to the same concepts with random vectors (chance) and with their written
descriptions in place of the tokens (no training: what the stand-in tells apart from words).
The paper's figures on LLaVA-1.5-13B, for comparison: 0.707, 0.754, 0.914 weighted; the base
model 0.500. Measured on the toy world, seeds 1-12: 0.843, 0.861, 0.926 (negatives 0.708, 0.744,
0.901: without hard negatives a concept accepts its look-alikes).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab import evaluate  # noqa: E402
from personalization import Engine, TrainConfig  # noqa: E402
from lab.toyworld.benchmark import write_benchmark  # noqa: E402
from lab.toyworld.pretrain import pretrain_tiny_model  # noqa: E402

SETTINGS: dict[str, tuple[dict[str, int], bool]] = {  # name -> (TrainConfig changes, others' photos as "no")
    "recognition only": ({"qa_per_photo": 0, "hard_per_positive": 0}, False),
    "+ text-only QA": ({"hard_per_positive": 0}, False),
    "+ hard negatives": ({}, True),
}
COLUMNS = ("positive", "negative", "weighted", "random_weighted", "text_qa")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="a stand-in already built (default: build one)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--concepts", type=int, default=3, help="look-alike concepts per seed")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            model = Path(tmp) / "stand-in"
            pretrain_tiny_model(model, log=lambda line: print(line, file=sys.stderr))
        base = TrainConfig()
        rows: dict[str, list[dict[str, float]]] = {name: [] for name in SETTINGS}
        for seed in args.seeds:
            data = Path(tmp) / f"seed{seed}"
            write_benchmark(data, seed, n_concepts=args.concepts)
            dataset = evaluate.Dataset.open(data)
            for name, (changes, others) in SETTINGS.items():
                engine = Engine.load(str(model), device="cpu", config=replace(base, **changes))
                report = evaluate.evaluate(engine, dataset, seed=seed, random_vectors=True,
                                           others_as_negatives=others)
                rows[name].append(report["mean"])
                print(f"seed {seed} {name}: " + " ".join(f"{c}={report['mean'][c]:.3f}" for c in COLUMNS
                                                          if c in report["mean"]), file=sys.stderr)
    print(f"toy-world ablation, {len(args.seeds)} seeds x {args.concepts} concepts (mean weighted recognition)")
    print("setting".ljust(20) + "".join(c.rjust(17) for c in COLUMNS))
    for name, reports in rows.items():
        cells = [sum(r.get(c, float("nan")) for r in reports) / len(reports) for c in COLUMNS]
        print(name.ljust(20) + "".join(f"{v:17.3f}" for v in cells))
    described = [r["description_weighted"] for r in rows["recognition only"] if "description_weighted" in r]
    if described:
        print("written description".ljust(20) + f"{'':34}{sum(described) / len(described):17.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
