"""`yo eval`: a Yo'LLaVA-layout dataset in, the papers' metrics out (table and JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

from lab import evaluate
from personalization import Engine


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
    return root


def test_evaluate_reports_recognition_and_qa(engine: Engine, make_photo: Callable[..., bytes], tmp_path: Path) -> None:
    dataset = evaluate.Dataset.open(make_dataset(tmp_path / "ds", make_photo))
    assert sorted(dataset.train) == ["bo", "kiwi"] and dataset.categories["bo"] == "ball"
    report = evaluate.evaluate(engine, dataset, epochs=1, random_vectors=True)
    bo = report["concepts"]["bo"]
    assert bo["n_positive"] == 2 and bo["n_negative"] == 2  # every test photo, own and other
    assert bo["weighted"] == pytest.approx((bo["positive"] + bo["negative"]) / 2)
    assert {"visual_qa", "text_qa", "random_weighted", "description_weighted", "train_accuracy"} <= set(bo)
    assert "visual_qa" not in report["concepts"]["kiwi"]
    assert set(report["mean"]) >= {"positive", "negative", "weighted"}
    table = evaluate.table(report)
    assert table.splitlines()[0].split()[:4] == ["concept", "positive", "negative", "weighted"]
    assert table.splitlines()[-1].startswith("mean")


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
