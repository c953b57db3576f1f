"""The toy world: subjects, look-alikes, photos, questions, the benchmark layout and the pretraining command."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch

from lab.dataset import Dataset
from lab.toyworld import benchmark
from lab.toyworld.pretrain import AttributeProbe, named_values
from lab.toyworld.questions import SampleMaker, concept_qa
from lab.toyworld.vision import PhotoBank
from lab.toyworld.world import ATTRIBUTES, Subject, all_subjects, lookalikes, photos


def test_every_lookalike_differs_in_exactly_one_attribute() -> None:
    subject = Subject("round", "red", "hat", "black")
    others = lookalikes(subject)
    assert len(others) == sum(len(v) - 1 for v in ATTRIBUTES.values()) == 13
    assert all(len(subject.differences(o)) == 1 for o in others)
    assert len(all_subjects()) == 300


def test_photos_repeat_for_a_seed_and_vary_within_it() -> None:
    subject = Subject("star", "blue", "bag", "pink")
    first = [p.tobytes() for p in photos(subject, seed=3, n=4)]
    assert first == [p.tobytes() for p in photos(subject, seed=3, n=4)]
    assert len(set(first)) == 4  # pose, place and background differ from photo to photo
    assert first != [p.tobytes() for p in photos(subject, seed=4, n=4)]


def test_unknown_attribute_values_are_refused() -> None:
    with pytest.raises(ValueError):
        Subject("round", "red", "hat", "red")  # body colours and accessory colours are different words


def test_match_answers_follow_the_photo() -> None:
    maker, rng = SampleMaker(negatives_lookalike=1.0, partial=0.0), random.Random(0)
    for _ in range(200):
        sample = maker("match", rng)
        described = named_values(sample.text)
        shown = set(sample.photo.attributes().values())
        assert (sample.answer == "Yes") == (described == shown), sample


def test_lookalike_negatives_differ_in_the_attributes_as_often_as_weighted() -> None:
    maker = SampleMaker(negatives_lookalike=1.0, partial=0.0,
                        lookalike_weights={"shape": 3, "colour": 1, "accessory": 0, "accessory_colour": 0})
    rng, differing = random.Random(2), []
    for _ in range(400):
        sample = maker("match", rng)
        if sample.answer == "No":
            described = named_values(sample.text)
            differing += [a for a, v in sample.photo.attributes().items() if v not in described]
    assert set(differing) == {"shape", "colour"}
    assert 2 < differing.count("shape") / differing.count("colour") < 4.5


def test_crowd_questions_say_yes_exactly_when_the_described_toy_is_among_the_toys() -> None:
    maker, rng = SampleMaker(negatives_lookalike=1.0), random.Random(3)
    answers, near_misses = [], 0
    for task in ("crowd_match", "crowd_named_match") * 150:
        sample = maker(task, rng)
        assert 2 <= len(sample.photo) <= 4 and len(set(sample.photo)) == len(sample.photo)
        there = sample.described in sample.photo
        assert sample.answer.startswith("Yes") == there, sample
        assert set(sample.described.attributes().values()) == named_values(sample.text)
        answers.append(there)
        # a "No" toy is a look-alike of one that is there: only one attribute tells them apart
        near_misses += not there and min(len(sample.described.differences(t)) for t in sample.photo) == 1
    assert 0.4 < sum(answers) / len(answers) < 0.6
    assert near_misses == len(answers) - sum(answers)


def test_the_photo_bank_keeps_one_photo_of_each_crowd_and_asks_about_those() -> None:
    bank = PhotoBank(all_subjects()[:4], 1, seed=0, size=32, mean=[0.5] * 3, std=[0.5] * 3, crowds=6)
    maker, rng = SampleMaker(crowds=bank.crowds), random.Random(0)
    assert len(bank.crowds) == 6 and all(2 <= len(c) <= 4 for c in bank.crowds)
    assert all(maker("crowd_named_match", rng).photo in bank.crowds for _ in range(20))
    crowd = bank.crowds[0]
    first, again = bank.take([crowd], rng), bank.take([crowd], rng)
    assert first.shape == (1, 3, 32, 32) and torch.equal(first, again)  # the crowd's own photo, every time


def test_the_probe_reads_what_the_text_names_and_what_the_photo_shows() -> None:
    sample = SampleMaker()("check", random.Random(1))
    named, shown = named_values(sample.text), set(sample.photo.attributes().values())
    assert AttributeProbe(8, mismatch=False).targets(sample).sum() == len(named) + 4
    assert AttributeProbe(8, mismatch=True).targets(sample).sum() == len(named) + 4 + len(named - shown)


def test_benchmark_layout(tmp_path: Path) -> None:
    concepts = benchmark.write_benchmark(tmp_path, seed=5, n_concepts=4, n_train=5, n_test=3, pool_size=20)
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == sorted(concepts)
    assert all(len(list((tmp_path / "train" / n).iterdir())) == 5 for n in concepts)
    assert all(len(list((tmp_path / "test" / n).iterdir())) == 3 for n in concepts)
    assert len(list((tmp_path / "pool").iterdir())) == 20
    base = concepts["bo"]
    assert all(len(base.differences(s)) == 1 for n, s in concepts.items() if n != "bo")  # look-alikes of bo
    qa = json.loads((tmp_path / "qa.json").read_text())
    for name, items in qa.items():
        for item in items:
            assert "<sks>" in item["question"] and item["options"][item["answer"]] in (
                concepts[name].attributes()[item["attribute"]], "a " + concepts[name].accessory,
                "an " + concepts[name].accessory)
    assert json.loads((tmp_path / "categories.json").read_text()) == {n: "toy" for n in concepts}
    # strangers: look-alikes of the concepts that are none of them (drawn from benchmark.strangers)
    near = benchmark.strangers(list(concepts.values()))
    assert len(list((tmp_path / "strangers").iterdir())) == 20
    assert near and all(s not in concepts.values() and any(len(c.differences(s)) == 1 for c in concepts.values())
                        for s in near)
    assert len(Dataset.open(tmp_path).strangers) == 20  # as `yo eval` reads them
    again = tmp_path / "again"
    benchmark.write_benchmark(again, seed=5, n_concepts=4, n_train=5, n_test=3, pool_size=20)
    assert (again / "test" / "bo" / "0.png").read_bytes() == (tmp_path / "test" / "bo" / "0.png").read_bytes()


def test_crowded_photos_hold_two_to_four_toys_and_say_which_concepts(tmp_path: Path) -> None:
    concepts = benchmark.write_benchmark(tmp_path, seed=5, n_concepts=4, n_train=1, n_test=1, pool_size=1,
                                         n_crowded=12)
    present = json.loads((tmp_path / "crowded.json").read_text())
    assert len(present) == 12 and all((tmp_path / photo).is_file() for photo in present)
    assert all(set(names) <= set(concepts) for names in present.values())
    assert any(not names for names in present.values()) and any(len(names) >= 2 for names in present.values())
    rng = random.Random(3)
    for _ in range(200):
        toys, names = benchmark.crowd(rng, concepts)
        assert 2 <= len(toys) <= 4 and len(set(toys)) == len(toys)
        assert sorted(n for n, s in concepts.items() if s in toys) == names  # the truth names every concept there


def test_questions_naming_two_concepts_follow_the_crowds_and_the_concepts(tmp_path: Path) -> None:
    concepts = benchmark.write_benchmark(tmp_path, seed=5, n_concepts=4, n_train=1, n_test=1, pool_size=1,
                                         n_crowded=12)
    present = json.loads((tmp_path / "crowded.json").read_text())
    pairs = json.loads((tmp_path / "pair_qa.json").read_text())
    together = [item for item in pairs if item["kind"] == "together"]
    for item in together:  # "Yes" exactly when both are in the photo; never about two who are both absent
        a, b = item["concepts"]
        there = present[item["image"]]
        assert item["question"] == f"Is <{a}> next to <{b}> in this photo?" and (a in there or b in there)
        assert item["options"][item["answer"]] == ("Yes" if a in there and b in there else "No")
    assert {item["answer"] for item in together} == {0, 1}
    attribute = [item for item in pairs if item["kind"] == "attribute"]
    assert {tuple(item["concepts"]) for item in attribute} == set(itertools.permutations(concepts, 2))
    for item in attribute:  # the right values in the order named; the wrong option is them swapped
        a, b = (concepts[n] for n in item["concepts"])
        right, wrong = item["options"][item["answer"]], item["options"][1 - item["answer"]]
        first, second = right.split(" and ")
        assert f"{second} and {first}" == wrong and item["attribute"] in a.differences(b)
        assert first.split()[-1] == getattr(a, item["attribute"]) and second.split()[-1] == getattr(b, item["attribute"])


def test_the_pool_is_mostly_easy_photos_with_few_lookalikes() -> None:
    """Like a random sample of everyday photos: random "no" photos are mostly easy; mining finds the rest."""
    concepts = benchmark.choose_concepts(random.Random(2), 3)
    pool = benchmark._pool(random.Random(2), concepts, 3000)
    near = {s for c in concepts for s in lookalikes(c)}
    assert not set(pool) & set(concepts)  # never a photo of a concept itself
    assert 0.25 <= sum(s is None for s in pool) / len(pool) <= 0.35  # scenes without a toy
    # 10 % drawn as look-alikes, and random toys that happen to be one
    assert 0.1 <= sum(s in near for s in pool) / len(pool) <= 0.2


def test_concept_questions_have_one_right_option() -> None:
    subject = Subject("square", "green", "scarf", "white")
    for item in concept_qa(subject, "<sks>", random.Random(0)):
        assert len(set(item["options"])) == 2


@pytest.mark.parametrize("kind", ["llava", "qwen3_vl"])
def test_pretraining_through_the_command_line_saves_a_checkpoint_the_engine_loads(tmp_path: Path, kind: str) -> None:
    """`yo tiny-model DIR --kind K --pretrain toyworld` on a small budget: it prints its time and its accuracy
    on its own held-out questions, and writes an ordinary checkpoint. (The full budget takes minutes; its
    figures are measured by bench/standin.py, which builds the stand-in the same way.)"""
    import subprocess
    import sys

    from personalization import Engine

    folder = tmp_path / "stand-in"
    done = subprocess.run([sys.executable, "-m", "bot.cli", "tiny-model", str(folder), "--kind", kind,
                           "--pretrain", "toyworld", "--steps", "6", "--vision-steps", "4", "--extra-rounds", "0",
                           "--crowds", "32"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = [line for line in done.stdout.splitlines() if line.startswith("toyworld: seconds=")]
    assert report, done.stdout[-2000:]
    figures = dict(item.split("=") for item in report[-1].removeprefix("toyworld: ").split())
    assert figures["steps"] == "6"
    assert {"attribute", "named_text", "match_lookalike", "named_match_lookalike", "crowd_named_match_lookalike"} <= set(figures)
    assert all(0.0 <= float(figures[k]) <= 1.0 for k in ("attribute", "named_match_lookalike"))
    engine = Engine.load(str(folder), device="cpu")
    assert engine.backend.slots.k > 0 and len(engine.image_features([photo_bytes()])) == 1


def photo_bytes(picture: Any = None) -> bytes:
    """`picture` (default: a photo of a red round toy) as PNG bytes."""
    import io

    buffer = io.BytesIO()
    (picture or next(photos(Subject("round", "red", "hat", "black"), seed=0, n=1))).save(buffer, "PNG")
    return buffer.getvalue()


def test_the_qwen_stand_in_sees_a_photo_as_the_processor_and_the_engine_do(tiny_qwen: dict[str, Path]) -> None:
    """The Qwen stand-in's pretraining lays photos out itself (fast, from the photo bank's tensors): the
    patches must be what Qwen's image processor makes of the same photos, and the vector its vision
    stage makes contrastive the one the engine's quick look reads."""
    import numpy as np
    import torch

    from lab.toyworld.kinds import STAND_INS
    from lab.toyworld.vision import FreshPhotos
    from personalization import Engine

    kind = STAND_INS["qwen3_vl"]
    engine = Engine.load(str(tiny_qwen["qwen3_vl"]), device="cpu")
    processor, model = engine.backend.processor, engine.backend.model
    rng = random.Random(0)
    subjects = random.Random(1).sample(all_subjects(), 3)
    pictures = [next(photos(s, seed=rng.randrange(1000), n=1)) for s in subjects]
    expected = processor.image_processor(images=pictures, return_tensors="pt")
    bank = FreshPhotos(rng, 64, processor.image_processor.image_mean, processor.image_processor.image_std)
    pixels = bank.normalise(torch.from_numpy(np.stack([np.asarray(p) for p in pictures])))  # as pretraining does
    laid_out = kind.patches(pixels)
    assert torch.equal(laid_out["image_grid_thw"], expected["image_grid_thw"])
    assert torch.allclose(laid_out["pixel_values"], expected["pixel_values"], atol=1e-6)
    with torch.no_grad():
        _, vector = kind.vision_features(model, pixels)
    quick_look = engine.image_features([photo_bytes(p) for p in pictures])
    assert torch.allclose(torch.nn.functional.normalize(vector, dim=-1), quick_look.float(), atol=1e-5)
