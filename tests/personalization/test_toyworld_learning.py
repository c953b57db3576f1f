"""Learning is measurable on the toy-world stand-in (issues 3, 8, 10 and 19).

The stand-in (tests/conftest.py builds it once per run with `yo tiny-model --pretrain toyworld`)
is a tiny LLaVA pretrained on the procedural world. Each run draws fresh seeds, writes benchmarks
of look-alike concepts with `yo toyworld`'s writer, and measures on held-out photos the way the
papers do. The seeds are in every failure message.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import torch

from lab import evaluate
from personalization import Engine, TrainConfig
from personalization.instant import Prototype
from lab.toyworld.benchmark import write_benchmark

SEEDS = [random.SystemRandom().randrange(1_000_000) for _ in range(2)]
TRAINED = 3  # concepts trained per benchmark, of its six
# Training the concepts of two fresh worlds on the stand-in takes minutes (its build is tests/conftest.py's).
pytestmark = pytest.mark.timeout(2400)


# What the stand-in must answer on its own held-out questions before concepts learned on it mean
# anything. Measured on the recipe with the language stage at lr 1e-3 (README's table; the schedule alone,
# every build reached the held-out check's targets), six builds — seeds 0 / 1 / 2 on one thread, seeds 0 / 1
# on two, seed 0 on four: worst 0.988 / 0.953 / 1.000 / 0.973 / 0.957, median 0.990 / 0.967 / 1.000 / 0.979 /
# 0.984. At lr 2e-3 seed 1 had landed at 0.789 / 0.207 / 1.000 / 0.773 / 0.742. These floors sit 0.04-0.15
# below the worst figure.
STAND_IN_FLOORS = {"attribute": 0.93, "describe": 0.8, "named_text": 0.95, "match_lookalike": 0.92,
                   "named_match_lookalike": 0.92}


def stand_in_shortfall(figures: dict[str, float]) -> str | None:
    """Why the stand-in itself is not good enough to measure the trainer with, or None."""
    short = {k: figures[k] for k, floor in STAND_IN_FLOORS.items() if figures[k] < floor}
    if not short:
        return None
    return (f"the toy-world stand-in's pretraining fell short of its own held-out floors {STAND_IN_FLOORS} "
            f"(figures {figures}): a failure here is the stand-in's (lab/toyworld/pretrain.py), "
            "not the concept trainer's")


@pytest.fixture(scope="module")
def stand_in(toyworld_model: tuple[Path, dict[str, float]]) -> Engine:
    shortfall = stand_in_shortfall(toyworld_model[1])
    if shortfall:
        pytest.fail(shortfall)
    return Engine.load(str(toyworld_model[0]), device="cpu", config=TrainConfig())


@pytest.fixture(scope="module")
def benchmarks(tmp_path_factory: pytest.TempPathFactory) -> list[evaluate.Dataset]:
    """Two benchmarks of six look-alike concepts each (a subject and five look-alikes of it), with
    twenty held-out photos per concept: ten left a single photo worth 0.05 of a concept's score."""
    out = []
    for seed in SEEDS:
        folder = tmp_path_factory.mktemp(f"toyworld-{seed}")
        write_benchmark(folder, seed, n_concepts=6, n_test=20)
        out.append(evaluate.Dataset.open(folder))
    return out


@pytest.fixture(scope="module")
def reports(stand_in: Engine, benchmarks: list[evaluate.Dataset]) -> list[dict[str, Any]]:
    """Three concepts of each benchmark trained by the engine's own trainer, default settings."""
    out = []
    torch.set_num_threads(2)  # the one heavy measurement of the suite; the rest run on one thread
    try:
        for seed, bench in zip(SEEDS, benchmarks):
            dataset = bench.only(sorted(bench.train)[:TRAINED])
            out.append(evaluate.evaluate(stand_in, dataset, seed=seed, random_vectors=True))
            print(f"seed {seed}\n{evaluate.table(out[-1])}")
    finally:
        torch.set_num_threads(1)
    return out


def mean(reports: list[dict[str, Any]], key: str) -> float:
    return sum(r["mean"][key] for r in reports) / len(reports)


def tables(reports: list[dict[str, Any]]) -> str:
    """What a failure shows: each seed's table, so the run can be repeated."""
    return "\n".join(f"seed {seed}\n{evaluate.table(r)}" for seed, r in zip(SEEDS, reports))


def test_the_stand_in_answers_its_own_questions(toyworld_model: tuple[Path, dict[str, float]]) -> None:
    assert stand_in_shortfall(toyworld_model[1]) is None, stand_in_shortfall(toyworld_model[1])


def test_a_stand_in_below_its_floors_is_named_as_the_cause() -> None:
    # issue 23's machine: describe 0.344, named_match_lookalike 0.875
    weak = {"attribute": 0.848, "describe": 0.344, "named_text": 1.0, "match_lookalike": 0.895,
            "named_match_lookalike": 0.875}
    reason = stand_in_shortfall(weak)
    assert reason is not None and "stand-in's pretraining" in reason and "0.344" in reason
    assert stand_in_shortfall({k: 0.99 for k in weak}) is None


def test_learned_concepts_recognise_held_out_photos_against_lookalikes(reports: list[dict[str, Any]]) -> None:
    # Issue 10 asks 0.85. Measured for one benchmark this way, seeds 31-50: 0.862-0.996, mean 0.935
    # (four concepts, seeds 11-30: 0.844-0.983) — before looking closer at parts; with it (the negatives'
    # bar), worlds 11-16: 0.875-0.987, mean 0.938 (seed-0 build), 0.858-0.963, mean 0.923 (seed-1 build).
    # The mean of the two has to reach it, each at least 0.8.
    assert mean(reports, "weighted") >= 0.85, tables(reports)
    assert all(r["mean"]["weighted"] >= 0.8 for r in reports), tables(reports)


def test_the_stand_in_tells_the_concepts_apart_from_their_written_descriptions(
        reports: list[dict[str, Any]]) -> None:
    # The papers' "description" baseline: what the model itself can separate, from words. Measured 0.93-1.00.
    assert mean(reports, "description_weighted") >= 0.85, tables(reports)


def test_the_same_concepts_with_random_vectors_are_at_chance(reports: list[dict[str, Any]]) -> None:
    assert all(abs(r["mean"]["random_weighted"] - 0.5) <= 0.1 for r in reports), tables(reports)


def test_text_only_questions_are_answered_from_the_tokens_alone(reports: list[dict[str, Any]]) -> None:
    # two options per question: chance is 0.5; measured for one benchmark 0.58-1.00, mean 0.91
    assert mean(reports, "text_qa") >= 0.7, tables(reports)


def test_several_subjects_in_one_photo_are_found_by_looking_closer(reports: list[dict[str, Any]]) -> None:
    """Issue 19: forty crowded photos per world, two to four half-size toys each (the concepts, their
    look-alikes, other toys). Measured with `bench/learning.py --seeds 11 12 13 14 15 16 --threads 1`,
    per world. Looking at whole photos only (default seed-0 build): tokens 0.49-0.66 weighted (random
    vectors 0.48-0.53), the quick look 0.49-0.55, tokens' who-is-in F1 0.15-0.44. Looking closer, a part
    found where it stands out four logits above the whole photo (7 x 7 grid, default seed-0 build):
    tokens 0.71-0.85, the quick look 0.72-0.85, F1 0.53-0.76. Now, a part found where it resembles the
    subject more than any view of any negative did (personalization/instant.py), and the model asked about
    it too: on the default seed-0 build tokens 0.790-0.898 (0.284-0.375 above random vectors), the quick
    look 0.800-0.932, F1 0.643-0.812; on a seed-1 build tokens 0.755-0.911 (0.255-0.411 above random), the
    quick look 0.824-0.905, F1 0.590-0.819. The same seed-0 build made on another processor (an AMD EPYC;
    the build's sums, and so the stand-in, differ by processor) did worse on crowds: tokens 0.689-0.862
    (0.189-0.362 above random vectors), the quick look 0.714-0.917, F1 0.523-0.736. The worst mean of two
    worlds over the three builds: tokens 0.236 above random vectors, the quick look 0.757, F1 0.567.
    Since the prototype is also fitted against the everyday photos most like its subject (it turns away
    more strangers, below, and finds fewer parts), on that EPYC build: tokens 0.671-0.869 (0.171-0.369
    above random), the quick look 0.674-0.906, F1 0.465-0.785; worst mean of two worlds 0.19 above random,
    0.704 and 0.490 (a seed-1 build on the same machine: 0.737-0.892, 0.734-0.903, F1 0.594-0.812). The
    floors sit 0.07-0.09 below the worst.

    "Is A next to B?" (evaluate.pair_questions) is not asserted here: with three trained concepts a world
    has only 3-8 crowds holding two of them, so one world's figure swings from 0.41 to 0.84; bench/learning.py
    pools it over six worlds."""
    assert mean(reports, "crowded_weighted") >= mean(reports, "crowded_random_weighted") + 0.12, tables(reports)
    assert mean(reports, "crowded_quick_weighted") >= 0.62, tables(reports)
    assert sum(r["who"]["tokens"]["f1"] for r in reports) / len(reports) >= 0.4, tables(reports)


def test_lookalikes_nobody_taught_are_turned_away(reports: list[dict[str, Any]]) -> None:
    """Strangers: the three concepts not trained, and twenty photos of other look-alikes (one attribute
    off a concept). No concept was trained against them, unlike the owner's other subjects (the negatives
    of the recognition test above); saying no to everything would pass this, not that one. Measured with
    `bench/learning.py --seeds 11 12 13 14 15 16 --threads 1`, per world: seed-0 build (AMD EPYC) tokens
    0.725-0.900, the quick look 0.900-0.979 (fitted on the owner's negatives alone: 0.808-0.950); seed-1
    build (the same machine) 0.733-0.917 and 0.946-0.996. Worst mean of two worlds 0.740 and 0.921; the
    floors sit 0.06-0.07 below it."""
    assert mean(reports, "strangers") >= 0.68, tables(reports)
    assert mean(reports, "quick_strangers") >= 0.85, tables(reports)


def test_the_instant_recogniser_separates_subjects_from_lookalikes(stand_in: Engine,
                                                                  benchmarks: list[evaluate.Dataset]) -> None:
    """Issue 8: a prototype of the stand-in's own image embedding, calibrated against the owner's
    other subjects (here all look-alikes of each other), recognises held-out photos before any training."""
    scores = []
    for dataset in benchmarks:
        read = {name: [p.read_bytes() for p in paths] for name, paths in dataset.train.items()}
        features = {name: stand_in.image_features([p.read_bytes() for p in paths])
                    for name, paths in dataset.test.items()}
        for name in read:
            others = [photo for other, photos in read.items() if other != name for photo in photos]
            prototype = Prototype.from_bytes(stand_in.prototype(read[name], others))
            hits = (prototype.probability(features[name]) >= 0.5).float().mean()
            rejected = torch.cat([prototype.probability(f) < 0.5 for o, f in features.items() if o != name]).float()
            scores.append(float(hits + rejected.mean()) / 2)
    assert sum(scores) / len(scores) >= 0.85, (SEEDS, scores)
