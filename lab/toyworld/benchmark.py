"""A toy-world benchmark in the Yo'LLaVA layout: `yo toyworld DIR --seed S`.

    DIR/train/<name>/0.png ...   the photos a concept is taught from (5 by default)
    DIR/test/<name>/0.png ...    held-out photos of the same subject
    DIR/pool/00000.png ...       everyday photos of the world, for hard-negative mining
                                 (YO_NEGATIVES_DIR); never a photo of a concept itself
    DIR/concepts.json            each concept's attributes and description
    DIR/categories.json          each concept's category ("toy"), which `yo eval` hands to training
    DIR/descriptions.json        each concept's description alone (`yo eval`'s written-description baseline)
    DIR/qa.json                  text-only two-choice questions about each concept (`yo eval`'s form)
    DIR/strangers/0.png ...      held-out photos of look-alikes of the concepts that are none of them
                                 (one attribute off, nobody taught them): every concept should say no
    DIR/crowded/0.png ...        held-out photos of two to four toys each: concepts, their
                                 look-alikes and other toys side by side
    DIR/crowded.json             who is in each: {"crowded/0.png": ["bo", "kip"], ...} (concepts only)
    DIR/pair_qa.json             two-choice questions naming two concepts: "Is <bo> next to <kip> in
                                 this photo?" about the crowded photos, and text-only "What color are
                                 <bo> and <kip>?" for every two concepts, in both orders

The concepts are one subject and look-alikes of it, each differing from it in one
attribute (a different one each time, as far as there are attributes), so every concept's
hardest negatives are the other concepts: recognition is measured against look-alikes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
from pathlib import Path

from .questions import KIND, concept_qa, pair_qa, together_qa
from .world import (ATTRIBUTES, Subject, lookalikes, random_lookalike, random_subject, render, render_crowd,
                    render_scene)

CONCEPT_NAMES: tuple[str, ...] = ("bo", "mam", "kip", "tuv", "zel", "pim", "rax", "lun", "dot", "fig", "gus", "hob")
PHOTO_SIZE = 64


def choose_concepts(rng: random.Random, n: int) -> list[Subject]:
    """A subject and n-1 look-alikes of it, cycling through the attributes they differ in."""
    if not 1 <= n <= len(CONCEPT_NAMES):
        raise ValueError(f"n_concepts must be between 1 and {len(CONCEPT_NAMES)}")
    base = random_subject(rng)
    chosen = [base]
    names = list(ATTRIBUTES)
    rng.shuffle(names)
    while len(chosen) < n:
        attribute = names[(len(chosen) - 1) % len(names)]
        candidate = random_lookalike(base, rng, attribute)
        if candidate not in chosen:
            chosen.append(candidate)
        elif all(c in chosen for c in lookalikes(base)):  # n is larger than the look-alikes (13)
            raise ValueError("not that many look-alikes")
    return chosen


def strangers(concepts: list[Subject]) -> list[Subject]:
    """Every look-alike of a concept (one attribute off) that is not itself a concept."""
    return [s for c in concepts for s in lookalikes(c) if s not in concepts]


def _pool(rng: random.Random, concepts: list[Subject], size: int) -> list[Subject | None]:
    """Everyday photos as a random sample of them would be: any toy (60 %), no toy (30 %), and a few
    look-alikes of the concepts (10 %). Few enough that random "no" photos are mostly easy ones, as in
    the papers' LAION sample; mining by similarity is what finds the look-alikes among the rest."""
    near = strangers(concepts)
    out: list[Subject | None] = []
    while len(out) < size:
        roll = rng.random()
        if roll < 0.3:
            out.append(None)
            continue
        subject = rng.choice(near) if roll < 0.4 else random_subject(rng)
        if subject not in concepts:
            out.append(subject)
    return out


def crowd(rng: random.Random, concepts: dict[str, Subject]) -> tuple[list[Subject], list[str]]:
    """Two to four toys for a crowded photo, and the concepts among them: none to three concepts, the
    rest their look-alikes (half the time) or any other toys, never two of the same toy."""
    toys = rng.randint(2, 4)
    names = rng.sample(sorted(concepts), min(toys, rng.choice((0, 1, 1, 2, 2, 3))))
    chosen = [concepts[n] for n in names]
    near = strangers(list(concepts.values()))
    while len(chosen) < toys:
        other = rng.choice(near) if rng.random() < 0.5 else random_subject(rng)
        if other not in chosen and other not in concepts.values():
            chosen.append(other)
    order = list(range(toys))
    rng.shuffle(order)  # concepts in any cell
    return [chosen[i] for i in order], sorted(names)


def write_benchmark(out_dir: Path, seed: int, n_concepts: int = 6, n_train: int = 5, n_test: int = 10,
                    pool_size: int = 300, n_crowded: int = 40, n_strangers: int = 20) -> dict[str, Subject]:
    """Write the benchmark for `seed` to `out_dir`; returns name -> subject. Deterministic for a seed."""
    out_dir = Path(out_dir)
    rng = random.Random(f"toyworld-benchmark:{seed}")
    concepts = dict(zip(CONCEPT_NAMES, choose_concepts(rng, n_concepts)))
    for name, subject in concepts.items():
        photo_rng = random.Random(f"toyworld-benchmark:{seed}:{name}")
        for split, count in (("train", n_train), ("test", n_test)):
            folder = out_dir / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                render(subject, photo_rng, PHOTO_SIZE).save(folder / f"{i}.png")
    pool_dir = out_dir / "pool"
    pool_dir.mkdir(parents=True, exist_ok=True)
    pool_rng = random.Random(f"toyworld-benchmark:{seed}:pool")
    for i, subject in enumerate(_pool(pool_rng, list(concepts.values()), pool_size)):
        photo = render_scene(pool_rng, PHOTO_SIZE) if subject is None else render(subject, pool_rng, PHOTO_SIZE)
        photo.save(pool_dir / f"{i:05d}.png")
    (out_dir / "concepts.json").write_text(json.dumps(
        {name: {**s.attributes(), "category": KIND, "description": s.description()} for name, s in concepts.items()},
        indent=2) + "\n")
    (out_dir / "categories.json").write_text(json.dumps({name: KIND for name in concepts}, indent=2) + "\n")
    (out_dir / "descriptions.json").write_text(json.dumps(  # `yo eval`'s written-description baseline
        {name: s.description() for name, s in concepts.items()}, indent=2) + "\n")
    strangers_dir, strangers_rng = out_dir / "strangers", random.Random(f"toyworld-benchmark:{seed}:strangers")
    strangers_dir.mkdir(parents=True, exist_ok=True)
    near = strangers(list(concepts.values()))
    for i in range(n_strangers):
        render(strangers_rng.choice(near), strangers_rng, PHOTO_SIZE).save(strangers_dir / f"{i}.png")
    crowded_dir, crowded_rng, present = out_dir / "crowded", random.Random(f"toyworld-benchmark:{seed}:crowded"), {}
    crowded_dir.mkdir(parents=True, exist_ok=True)
    for i in range(n_crowded):
        toys, names = crowd(crowded_rng, concepts)
        render_crowd(toys, crowded_rng, PHOTO_SIZE).save(crowded_dir / f"{i}.png")
        present[f"crowded/{i}.png"] = names
    (out_dir / "crowded.json").write_text(json.dumps(present, indent=2) + "\n")
    qa_rng = random.Random(f"toyworld-benchmark:{seed}:qa")
    (out_dir / "qa.json").write_text(json.dumps(
        {name: concept_qa(s, "<sks>", qa_rng) for name, s in concepts.items()}, indent=2) + "\n")
    pairs = [item for photo, names in present.items() for item in together_qa(photo, names, list(concepts), qa_rng)]
    pairs += [item for a, b in itertools.permutations(concepts, 2)  # both orders: who is named first matters
              for item in pair_qa((a, b), (concepts[a], concepts[b]), qa_rng)]
    (out_dir / "pair_qa.json").write_text(json.dumps(pairs, indent=2) + "\n")
    return concepts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="yo toyworld", description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concepts", type=int, default=6, help="how many concepts (look-alikes of each other)")
    parser.add_argument("--train", type=int, default=5, help="training photos per concept")
    parser.add_argument("--test", type=int, default=10, help="held-out photos per concept")
    parser.add_argument("--pool", type=int, default=300, help="everyday photos for hard-negative mining")
    parser.add_argument("--crowded", type=int, default=40, help="held-out photos of two to four toys")
    parser.add_argument("--strangers", type=int, default=20, help="held-out photos of look-alikes nobody taught")
    args = parser.parse_args(argv)
    try:
        concepts = write_benchmark(args.dir, args.seed, args.concepts, args.train, args.test, args.pool,
                                   args.crowded, args.strangers)
    except ValueError as error:
        print(f"yo toyworld: {error}", file=sys.stderr)
        return 2
    for name, subject in concepts.items():
        print(f"{name}\t{subject.description()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
