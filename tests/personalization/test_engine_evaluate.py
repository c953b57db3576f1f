"""`yo eval`: a Yo'LLaVA-layout dataset in, the papers' metrics out (table and JSON)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

import pytest

from lab import evaluate
from personalization import Engine
from personalization.types import ConceptRef, Recognition


def make_dataset(root: Path, make_photo: Callable[..., bytes]) -> Path:
    subjects = {"bo": ((200, 40, 30), "circle"), "kiwi": ((40, 180, 40), "square")}
    for name, (colour, shape) in subjects.items():
        for split, n in (("train", 2), ("test", 2)):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                shade = tuple(max(0, c - 15 * i) for c in colour)
                (folder / f"{i}.png").write_bytes(make_photo(shade, shape, size=(70 + 5 * i, 64)))
    (root / "pool").mkdir()
    for i in range(3):
        (root / "pool" / f"{i}.png").write_bytes(make_photo((60 * i, 90, 200 - 60 * i)))
    (root / "qa.json").write_text(json.dumps({"bo": [
        {"question": "What color is <sks>?", "options": ["red", "green"], "answer": 0},
        {"question": "Is <sks> round?", "options": ["Yes", "No"], "answer": 0, "image": "test/bo/0.png"}]}))
    (root / "categories.json").write_text(json.dumps({"bo": "ball", "kiwi": "box"}))
    (root / "descriptions.json").write_text(json.dumps({"bo": "a red ball", "kiwi": "a green box"}))
    (root / "strangers").mkdir()
    (root / "strangers" / "0.png").write_bytes(make_photo((210, 30, 30), "square"))  # like bo, and not bo
    (root / "crowded").mkdir()
    for i in range(3):
        (root / "crowded" / f"{i}.png").write_bytes(make_photo((200, 40 + 60 * i, 30), "circle", size=(80, 64)))
    (root / "crowded.json").write_text(json.dumps({"crowded/0.png": ["bo"], "crowded/1.png": ["bo", "kiwi"],
                                                   "crowded/2.png": []}))
    (root / "pair_qa.json").write_text(json.dumps([
        {"concepts": ["bo", "kiwi"], "kind": "together", "question": "Is <bo> next to <kiwi> in this photo?",
         "options": ["Yes", "No"], "answer": 0, "image": "crowded/1.png"},
        {"concepts": ["kiwi", "bo"], "kind": "together", "question": "Is <kiwi> next to <bo> in this photo?",
         "options": ["Yes", "No"], "answer": 1, "image": "crowded/0.png"},
        {"concepts": ["bo", "kiwi"], "kind": "attribute", "question": "What color are <bo> and <kiwi>?",
         "options": ["green and red", "red and green"], "answer": 1}]))
    return root


def test_evaluate_reports_recognition_and_qa(engine: Engine, make_photo: Callable[..., bytes], tmp_path: Path) -> None:
    dataset = evaluate.Dataset.open(make_dataset(tmp_path / "ds", make_photo))
    assert sorted(dataset.train) == ["bo", "kiwi"] and dataset.categories["bo"] == "ball"
    report = evaluate.evaluate(engine, dataset, epochs=1, random_vectors=True)
    bo = report["concepts"]["bo"]
    assert bo["n_positive"] == 2 and bo["n_negative"] == 2  # every test photo, own and other
    assert bo["weighted"] == pytest.approx((bo["positive"] + bo["negative"]) / 2)
    assert {"visual_qa", "text_qa", "random_weighted", "description_weighted", "train_accuracy"} <= set(bo)
    # the quick look: before training by prototype and by the written description, after as a second opinion
    assert {"quick_weighted", "quick_positive", "written_weighted", "second_agree"} <= set(bo)
    assert 0.0 <= bo["second_agree"] <= 1.0 and 0.0 <= bo["quick_weighted"] <= 1.0
    # several subjects in one photo: per concept, and "who is in this?" over all of them
    assert {"crowded_weighted", "crowded_quick_weighted", "crowded_random_weighted",
            "crowded_description_weighted"} <= set(bo)
    assert report["who"].keys() == {"tokens", "quick", "written", "random", "description"}
    assert all(0.0 <= figures["recall"] <= 1.0 for figures in report["who"].values())
    assert "visual_qa" not in report["concepts"]["kiwi"]
    # look-alikes nobody taught: how often each way of recognising rightly says no (one photo: 0 or 1)
    assert {"strangers", "quick_strangers", "written_strangers", "description_strangers"} <= set(bo)
    assert "random_strangers" not in bo
    assert bo["strangers"] in (0.0, 1.0)
    # questions naming two concepts: every way recognises; all but the prototype can be asked in words
    assert report["pairs"].keys() == report["who"].keys()
    assert report["pairs"]["tokens"].keys() == {"together_qa", "together_recognised", "attribute_qa", "n_together",
                                                "n_attribute"}
    assert report["pairs"]["quick"].keys() == {"together_recognised", "n_together", "n_attribute"}
    assert report["pairs"]["tokens"]["n_together"] == 2 and report["pairs"]["tokens"]["n_attribute"] == 1
    assert set(report["mean"]) >= {"positive", "negative", "weighted"}
    table = evaluate.table(report)
    assert table.splitlines()[0].split()[:4] == ["concept", "positive", "negative", "weighted"]
    assert 'two concepts (quick): "is A next to B?" asked together -, each recognised' in table
    assert table.splitlines()[-1].startswith('two concepts (description): "is A next to B?" asked together')
    assert any(line.startswith("mean") for line in table.splitlines())


def test_who_is_in_this_counts_every_name_said_against_every_name_there() -> None:
    # three photos: bo alone (said bo and kiwi), bo and kiwi (said bo), nobody (said nobody)
    found = {"bo": [(True, True), (True, True), (False, False)],
             "kiwi": [(False, True), (True, False), (False, False)]}
    who = evaluate.who_is_in(found)
    assert who["precision"] == pytest.approx(2 / 3) and who["recall"] == pytest.approx(2 / 3)
    assert who["f1"] == pytest.approx(2 / 3)
    assert math.isnan(evaluate.who_is_in({"bo": [(False, False)]})["precision"])  # nothing said: no precision


class _SeesWhoIsThere:
    """Recognises perfectly from a photo's bytes (the names in it) and always picks the first option."""

    def __init__(self) -> None:
        self.asked: list[tuple[list[str | int], list[str]]] = []
        self.inference = self

    def recognise_batch(self, requests: list[tuple[bytes, list[ConceptRef]]]) -> list[list[Recognition]]:
        return [[Recognition(ref.name in photo.decode().split(), 1.0) for ref in refs] for photo, refs in requests]

    def choose(self, question: list[str | int], options: list[str], refs: list[ConceptRef], photo: bytes | None) -> int:
        self.asked.append((question, [ref.name for ref in refs]))
        return 0


def test_two_concept_questions_weigh_yes_and_no_alike_and_name_each_concept_in_its_place(tmp_path: Path) -> None:
    (tmp_path / "both").write_bytes(b"bo kip")
    (tmp_path / "one").write_bytes(b"bo")
    pairs = [{"concepts": ["kip", "bo"], "kind": "together", "question": "Is <kip> next to <bo> in this photo?",
              "options": ["Yes", "No"], "answer": 0, "image": "both"},
             *({"concepts": ["bo", "kip"], "kind": "together", "question": "Is <bo> next to <kip> in this photo?",
                "options": ["Yes", "No"], "answer": 1, "image": "one"} for _ in range(3)),
             {"concepts": ["bo", "kip"], "kind": "attribute", "question": "What color are <bo> and <kip>?",
              "options": ["red and blue", "blue and red"], "answer": 1},
             {"concepts": ["bo", "zed"], "kind": "attribute", "question": "What color are <bo> and <zed>?",
              "options": ["red and blue", "blue and red"], "answer": 0}]  # zed: not a concept here
    dataset = evaluate.Dataset(tmp_path, {}, {}, pairs=pairs)
    engine = _SeesWhoIsThere()
    refs = {n: ConceptRef(name=n, description=f"{n} is a toy") for n in ("bo", "kip")}
    figures = evaluate.pair_questions(engine, dataset, refs)
    assert figures["together_recognised"] == 1.0  # both recognised on "both", kip not on "one"
    assert figures["together_qa"] == 0.5  # always "Yes": every Yes right, every No wrong, weighed alike
    assert figures["attribute_qa"] == 0.0 and figures["n_attribute"] == 1  # zed's question is left out
    assert engine.asked[0] == (["Is ", 0, " next to ", 1, " in this photo?"], ["kip", "bo"])
    # a prototype alone recognises but cannot be asked in words
    quick = evaluate.pair_questions(engine, dataset, {n: ConceptRef(name=n, prototype=b"p") for n in ("bo", "kip")})
    assert quick == {"together_recognised": 1.0, "n_together": 4, "n_attribute": 1}
    with pytest.raises(ValueError):
        evaluate.segments("Is <bo> next to <zed>?", ["bo", "kip"])


def test_cli_writes_json(tiny_model: Path, make_photo: Callable[..., bytes], tmp_path: Path,
                         capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_dataset(tmp_path / "ds", make_photo)
    monkeypatch.setenv("YO_MODEL", str(tiny_model))
    out = tmp_path / "report.json"
    assert evaluate.main([str(root), "--epochs", "1", "--json", "--out", str(out), "--device", "cpu"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["concepts"].keys() == {"bo", "kiwi"} and json.loads(out.read_text()) == printed
    monkeypatch.delenv("YO_MODEL")
    assert evaluate.main([str(root)]) == 2


def test_the_second_opinion_counts_agreement_photo_by_photo() -> None:
    learned = {"bo": [(True, True), (False, True), (False, False), (True, True)]}
    quick = {"bo": [(True, True), (False, False), (False, True), (True, True)]}
    bo = evaluate.second_opinion(learned, quick)["bo"]
    assert bo["second_agree"] == 0.5  # photos 1 and 4
    assert bo["second_agreed_accuracy"] == 1.0
    assert bo["second_overruled_accuracy"] == 0.5  # photo 2 wrongly yes, photo 3 rightly no


def test_a_figure_no_concept_has_stays_out_of_the_mean() -> None:
    learned = {"bo": [(True, True)], "kiwi": [(True, True), (False, False)]}
    quick = {"bo": [(True, False)], "kiwi": [(True, True), (False, False)]}
    opinions = evaluate.second_opinion(learned, quick)  # kiwi was never overruled: no figure (nan)
    assert evaluate.means(opinions)["second_overruled_accuracy"] == 1.0  # bo's alone
    assert evaluate.means({"kiwi": opinions["kiwi"]}).keys() == {"second_agree", "second_agreed_accuracy"}


def test_a_dataset_narrowed_to_some_concepts_keeps_the_others_only_as_strangers(tmp_path: Path) -> None:
    root = tmp_path / "d"
    whole = evaluate.Dataset(root, {"bo": [root / "t/bo/0.png"], "kip": [root / "t/kip/0.png"]},
                             {"bo": [root / "s/bo/0.png"], "kip": [root / "s/kip/0.png"]},
                             {"bo": "dog", "kip": "cat"}, {"bo": [{"q": 1}], "kip": [{"q": 2}]},
                             {"bo": "a dog", "kip": "a cat"}, {"crowded/0.png": ["bo", "kip"], "crowded/1.png": ["kip"]})
    only = whole.only(["bo"])
    assert set(only.train) == set(only.test) == set(only.categories) == set(only.qa) == set(only.descriptions) == {"bo"}
    # a crowded photo stays, and says only who of the chosen concepts is in it
    assert only.crowded == {"crowded/0.png": ["bo"], "crowded/1.png": []}
    assert only.crowded_photos() == [(root / "crowded/0.png", {"bo"}), (root / "crowded/1.png", set())]
    # the concepts left out are strangers now: photos every remaining concept should say no to
    assert only.stranger_photos() == [(root / "s/kip/0.png", set())] and whole.strangers == []
