"""Learning on a toy-world stand-in of any kind: the learning test's measurement, as a benchmark.

    python bench/learning.py --kind qwen3_vl --seeds 11 12 13      # builds the stand-in first (minutes)
    python bench/learning.py --model DIR --seeds 11 12 13           # a stand-in already built

For each seed, `yo toyworld`'s writer makes a benchmark of six look-alike concepts (a subject and
five look-alikes of it) with twenty held-out photos each; three of them are trained with the
engine's own trainer at its default settings, the other three only present as strangers (their
photos and twenty of other look-alikes: how often each concept rightly says no), exactly as
tests/personalization/test_toyworld_learning.py does for the LLaVA stand-in, on its forty crowded
photos too (two to four toys each). Printed per seed: the evaluation table; then the mean over seeds
of the figures the test asserts (weighted recognition of the learned tokens, the written
descriptions', random vectors', text-only QA; strangers turned away; on crowded photos, weighted
recognition and "who is in this?" F1; the questions naming two concepts) and the quick look's, with
the lowest seed's weighted recognition.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab import evaluate  # noqa: E402
from lab.toyworld.benchmark import write_benchmark  # noqa: E402
from lab.toyworld.kinds import STAND_INS  # noqa: E402
from lab.toyworld.pretrain import PretrainConfig, pretrain_tiny_model  # noqa: E402
from personalization import Engine, TrainConfig  # noqa: E402

TRAINED = 3  # concepts trained per benchmark, of its six
FIGURES = ("weighted", "description_weighted", "random_weighted", "text_qa", "quick_weighted", "strangers",
           "quick_strangers", "description_strangers", "crowded_weighted", "crowded_description_weighted",
           "crowded_quick_weighted")
WHO = ("tokens", "description", "quick")  # "who is in this?" over the crowded photos, by way of recognising
PAIRS = ("together_qa", "together_recognised", "attribute_qa")  # questions naming two concepts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="a stand-in already built (default: build one)")
    parser.add_argument("--kind", default="llava", choices=list(STAND_INS), help="the stand-in to build without --model")
    parser.add_argument("--build-seed", type=int, default=0, help="the stand-in's seed when building it")
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13], help="fresh benchmark seeds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-everyday", action="store_true",
                        help="fit the quick look on the owner's negatives only, as before it took everyday photos too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            model = Path(tmp) / "stand-in"
            pretrain_tiny_model(model, seed=args.build_seed, kind=args.kind, config=PretrainConfig(),
                                log=lambda line: print(line, file=sys.stderr, flush=True))
        torch.set_num_threads(args.threads)
        engine = Engine.load(str(model), device="cpu", config=TrainConfig())
        if args.no_everyday:
            engine.everyday_negatives = 0
        reports = []
        for seed in args.seeds:
            folder = Path(tmp) / f"toyworld-{seed}"
            write_benchmark(folder, seed, n_concepts=6, n_test=20)
            whole = evaluate.Dataset.open(folder)
            dataset = whole.only(sorted(whole.train)[:TRAINED])
            reports.append(evaluate.evaluate(engine, dataset, seed=seed, random_vectors=True))
            print(f"seed {seed} ({reports[-1]['seconds']:.0f} s)\n{evaluate.table(reports[-1])}", flush=True)
    print(f"\n{engine.model_id}, seeds {' '.join(map(str, args.seeds))}: mean over seeds")
    for figure in FIGURES:
        print(f"  {figure}: {sum(r['mean'][figure] for r in reports) / len(reports):.3f}")
    for by in WHO:
        print(f"  who is in this? F1 ({by}): {sum(r['who'][by]['f1'] for r in reports) / len(reports):.3f}")
    for by in WHO:
        for figure in PAIRS:
            found = [r["pairs"][by][figure] for r in reports if figure in r["pairs"].get(by, {})]
            if found:
                print(f"  two concepts, {figure} ({by}): {sum(found) / len(found):.3f}")
    print(f"  weighted, lowest seed: {min(r['mean']['weighted'] for r in reports):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
