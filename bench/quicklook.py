"""The quick look fitted two ways, and looking at whole photos only or at parts too.

    python bench/quicklook.py --model DIR --seeds 11 12 13 14     # a toy-world stand-in already built
    python bench/quicklook.py --seeds 11 12                        # builds the LLaVA stand-in first (minutes)

For each seed, `yo toyworld`'s writer makes a benchmark of six look-alike concepts with twenty
held-out photos each, twenty photos of strangers (look-alikes of the concepts that are none of them)
and forty crowded photos (two to four toys). Each concept's prototype is fitted before any training,
in the same process, two ways: against the other concepts' training photos only ("owner": the
negatives a user names), and against those and the benchmark pool's photos most like it ("everyday",
as the engine fits it now, personalization/__init__.py `Engine.prototype`). Each is asked about every
photo on the whole photo's features only ("whole") and as the engine asks it (the whole photo or a
part, personalization/instant.py: "parts"). Printed: per seed and as the mean over seeds, weighted
recognition on single photos, how often strangers are turned away, weighted recognition on crowded
photos and "who is in this?" F1 on them, with the ratio of the engine's way to each other way.
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
from lab.toyworld.pretrain import PretrainConfig, pretrain_tiny_model  # noqa: E402
from personalization import Engine  # noqa: E402
from personalization.instant import Prototype  # noqa: E402

FITS = ("owner", "everyday")
LOOKS = ("whole", "parts")
WAYS = tuple(f"{fit}/{look}" for fit in FITS for look in LOOKS)
NOW = "everyday/parts"


def verdicts(engine: Engine, photos: list[tuple[Path, set[str]]],
             fitted: dict[str, dict[str, Prototype]]) -> dict[str, evaluate.Verdicts]:
    """Per way, per concept: (is it in the photo, does the quick look say so)."""
    looks = engine.looks([path.read_bytes() for path, _ in photos])
    found: dict[str, evaluate.Verdicts] = {way: {name: [] for name in fitted[FITS[0]]} for way in WAYS}
    for (_, who), (whole, pieces) in zip(photos, looks):
        for fit, prototypes in fitted.items():
            for name, prototype in prototypes.items():
                found[f"{fit}/whole"][name].append((name in who, float(prototype.probability(whole[None])[0]) >= 0.5))
                found[f"{fit}/parts"][name].append((name in who, prototype.look(whole, pieces).probability >= 0.5))
    return found


def weighted(found: evaluate.Verdicts) -> float:
    return sum(evaluate.accuracy(v)["weighted"] for v in found.values()) / len(found)


def turned_away(found: evaluate.Verdicts) -> float:
    return sum(evaluate.accuracy(v)["negative"] for v in found.values()) / len(found)


def measure(engine: Engine, dataset: evaluate.Dataset) -> dict[str, dict[str, float]]:
    fitted = {fit: {name: Prototype.from_bytes(ref.prototype or b"")
                    for name, ref in evaluate.fit_prototypes(engine, dataset, folder).items()}
              for fit, folder in zip(FITS, (None, dataset.root / "pool"))}
    single = verdicts(engine, dataset.test_photos(), fitted)
    strangers = verdicts(engine, dataset.stranger_photos(), fitted)
    crowded = verdicts(engine, dataset.crowded_photos(), fitted)
    return {way: {"single": weighted(single[way]), "strangers": turned_away(strangers[way]),
                  "crowded": weighted(crowded[way]), "crowded_f1": evaluate.who_is_in(crowded[way])["f1"]}
            for way in WAYS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="a stand-in already built (default: build one)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13, 14], help="fresh benchmark seeds")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            model = Path(tmp) / "stand-in"
            pretrain_tiny_model(model, seed=0, config=PretrainConfig(),
                                log=lambda line: print(line, file=sys.stderr, flush=True))
        torch.set_num_threads(args.threads)
        engine = Engine.load(str(model), device="cpu")
        figures = []
        for seed in args.seeds:
            folder = Path(tmp) / f"toyworld-{seed}"
            write_benchmark(folder, seed, n_concepts=6, n_test=20)
            figures.append(measure(engine, evaluate.Dataset.open(folder)))
            shown = (f"{way}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures[-1][way].items()) for way in WAYS)
            print(f"seed {seed}: " + "; ".join(shown), flush=True)
    print(f"\n{engine.model_id}, seeds {' '.join(map(str, args.seeds))}: the quick look, mean over seeds (lowest seed)")
    for key in ("single", "strangers", "crowded", "crowded_f1"):
        by_way = {way: [f[way][key] for f in figures] for way in WAYS}
        mean = {way: sum(v) / len(v) for way, v in by_way.items()}
        ratios = ", ".join(f"to {way} {mean[NOW] / mean[way]:.2f}" if mean[way] > 0 else f"to {way} n/a"
                           for way in WAYS if way != NOW)
        print(f"  {key}: " + ", ".join(f"{way} {mean[way]:.3f} ({min(by_way[way]):.3f})" for way in WAYS)
              + f"; ratio of {NOW} {ratios}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
