"""A dataset in the Yo'LLaVA layout, as `yo eval` reads it.

    DATASET_DIR/train/<name>/*.png    photos a concept is taught from
    DATASET_DIR/test/<name>/*.png     held-out photos
    DATASET_DIR/pool/**.png           optional everyday photos to mine hard negatives from
    DATASET_DIR/categories.json       optional {"<name>": "dog", ...}
    DATASET_DIR/descriptions.json     optional {"<name>": "a small tan corgi with a red collar", ...}
    DATASET_DIR/strangers/*.png       optional photos of subjects that are none of the concepts but look
                                      like them (look-alikes nobody taught): every concept should say no
    DATASET_DIR/crowded.json          optional photos of several subjects and who is in each:
        {"crowded/0.png": ["bo", "kiwi"], "crowded/1.png": [], ...}
    DATASET_DIR/qa.json               optional two-choice questions:
        {"<name>": [{"question": "What color is <sks>?", "options": ["red", "blue"], "answer": 0,
                     "image": "test/<name>/1.png"}, ...]}
        "<sks>" stands for the concept; with "image" it is visual QA, without it text-only QA.
        The chosen option is the one the model finds more likely as the answer.
    DATASET_DIR/pair_qa.json          optional two-choice questions naming two concepts, each as <name>:
        [{"concepts": ["bo", "kip"], "kind": "together", "question": "Is <bo> next to <kip> in this photo?",
          "options": ["Yes", "No"], "answer": 0, "image": "crowded/3.png"},
         {"concepts": ["bo", "kip"], "kind": "attribute", "question": "What color are <bo> and <kip>?",
          "options": ["blue and red", "red and blue"], "answer": 1}, ...]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from personalization.negatives import IMAGE_SUFFIXES


@dataclass
class Dataset:
    root: Path
    train: dict[str, list[Path]]
    test: dict[str, list[Path]]
    categories: dict[str, str] = field(default_factory=dict)
    qa: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    crowded: dict[str, list[str]] = field(default_factory=dict)  # photo (relative path) -> who is in it
    pairs: list[dict[str, Any]] = field(default_factory=list)  # questions naming two concepts
    strangers: list[Path] = field(default_factory=list)  # photos of none of the concepts

    def test_photos(self) -> list[tuple[Path, set[str]]]:
        """Every held-out photo of one subject, with who is in it."""
        return [(path, {owner}) for owner, paths in self.test.items() for path in paths]

    def stranger_photos(self) -> list[tuple[Path, set[str]]]:
        """Every photo of a subject that is none of the concepts (nobody is in it, of the concepts)."""
        return [(path, set()) for path in self.strangers]

    def crowded_photos(self) -> list[tuple[Path, set[str]]]:
        """Every photo of several subjects, with who (of the concepts) is in it."""
        return [(self.root / photo, set(names)) for photo, names in self.crowded.items()]

    def only(self, names: list[str]) -> "Dataset":
        """The same photos with only `names` as concepts: the others' own photos become strangers (a
        user's look-alikes they never taught), and a crowded photo keeps only who of `names` is in it."""
        keep = set(names)
        return Dataset(self.root, {n: p for n, p in self.train.items() if n in keep},
                       {n: p for n, p in self.test.items() if n in keep},
                       {n: c for n, c in self.categories.items() if n in keep},
                       {n: q for n, q in self.qa.items() if n in keep},
                       {n: d for n, d in self.descriptions.items() if n in keep},
                       {photo: [n for n in who if n in keep] for photo, who in self.crowded.items()},
                       [item for item in self.pairs if set(item["concepts"]) <= keep],
                       self.strangers + [p for n, ps in self.test.items() if n not in keep for p in ps])

    @classmethod
    def open(cls, root: Path) -> "Dataset":
        def images(folder: Path) -> list[Path]:
            return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)

        def photos(split: str) -> dict[str, list[Path]]:
            folder = root / split
            if not folder.is_dir():
                raise SystemExit(f"{root} has no {split}/ folder (expected {split}/<name>/*.png)")
            return {d.name: images(d) for d in sorted(folder.iterdir()) if d.is_dir()}

        def optional(name: str) -> Any:
            path = root / name
            return json.loads(path.read_text()) if path.exists() else {}

        strangers = root / "strangers"
        return cls(root, photos("train"), photos("test"), optional("categories.json"), optional("qa.json"),
                   optional("descriptions.json"), optional("crowded.json"), optional("pair_qa.json") or [],
                   images(strangers) if strangers.is_dir() else [])
