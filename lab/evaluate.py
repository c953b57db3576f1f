"""`yo eval DATASET_DIR`: the papers' metrics (docs/method.md §5) on a dataset in the Yo'LLaVA layout
(lab/dataset.py).

Each concept is trained on its train photos (the other concepts' train photos are its
negatives, plus the pool); then "Is <sks> in this photo?" is asked of every test photo of
every concept: positive accuracy on its own photos, negative accuracy on the others',
weighted = their mean. `--random-vectors` also scores each concept with its vectors
replaced by random ones of the same scale: the chance baseline of the same pipeline. Where
the dataset carries descriptions, each concept is also asked about with its written
description in place of its tokens ("<sks> is a small tan corgi ..."): the papers'
"LLaVA + human-written description" baseline, and what the model can tell apart from words.

The quick look is measured too, as the assistant uses it (docs/method.md §10): before any
training, each concept recognised by its prototype alone (`quick_weighted`; its negatives the
other concepts' training photos) and by the description the model writes of its photos
(`written_weighted`); after training, the prototype as the learned tokens' second opinion:
how often the two agree (`second_agree`), how right they are where they agree
(`second_agreed_accuracy`) and how right the tokens are where the prototype disagrees
(`second_overruled_accuracy`: the answers the chat marks as less sure). As in the chat, the
quick look sees parts of a photo as well as the whole, and the learned tokens carry the
prototype, so the model is also asked about a part where the prototype finds the subject
(personalization/instant.py); the random vectors keep it too, to stay the same pipeline.

Where the dataset has photos of strangers (look-alikes that are none of the concepts: with `only`,
the concepts left out), each way of recognising is asked about them too: `strangers` is how often
a concept rightly says no to them (`quick_strangers` for the quick look, and so on; not for random
vectors, which say no to nearly everything). The test photos of the other concepts are negatives each
concept was trained against; strangers are not.

Where the dataset has crowded photos, each way of recognising (tokens, quick look, written and
given descriptions, random vectors) is measured on them too, per concept ("crowded_weighted":
is Bo among the subjects?) and as "who is in this?" over all concepts at once (report["who"]:
precision / recall / F1 of the names said against the names there, over every photo).
Where it has questions naming two concepts, report["pairs"] has, per way: "is A next to B?" asked
of the model with both in one prompt (`together_qa`) and answered as the chat answers "is Bo next
to Kip in this photo?", each concept recognised on its own and both there (`together_recognised`),
both weighted like recognition (a "Yes" question and a "No" one count alike); and the text-only
questions about the two (`attribute_qa`, accuracy).

With a model that draws (Janus-Pro) and `--clip MODEL` (a CLIPModel id or folder), each
concept also draws `--images` pictures of "A photo of <sks>." and gets CLIP-I: the cosine of
their CLIP image features to the mean feature of its held-out test photos (docs/method.md §5).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import torch

from personalization.concept import Concept
from personalization.gendata import DRAW_PROMPT
from personalization.trainer import TrainConfig
from personalization.types import ConceptRef, TrainRequest

from .clipscore import ClipImages
from .dataset import Dataset

# The quick look's negatives, as the product picks them (bot/training/examples.py): the user's
# other subjects, one photo of each in turn, this many at most.
QUICK_LOOK_NEGATIVES = 60


def randomised(tokens: bytes, seed: int) -> bytes:
    """The same concept file with random vectors of the same scale (the chance baseline)."""
    concept = Concept.from_bytes(tokens)
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randn(concept.inputs.shape, generator=g) * concept.inputs.std() + concept.inputs.mean()
    output = torch.randn(concept.output.shape, generator=g) * concept.output.std() + concept.output.mean()
    return Concept(inputs, output, concept.model_id, concept.fingerprint, concept.name, concept.generation).to_bytes()


Verdicts = dict[str, list[tuple[bool, bool]]]


def verdicts(engine: Any, photos: list[tuple[Path, set[str]]], refs: dict[str, ConceptRef]) -> Verdicts:
    """Per concept, for every photo in order: (is the concept in it, did the engine say it is)."""
    names, width = list(refs), engine.backend.slots.n_slots
    found: Verdicts = {n: [] for n in names}
    requests, present = [], []
    for path, who in photos:
        data = path.read_bytes()
        for start in range(0, len(names), width):  # as many concepts per photo as there are slots
            requests.append((data, [refs[n] for n in names[start:start + width]]))
            present.append(who)
    for start in range(0, len(requests), 64):  # the engine batches these into forward passes
        chunk = requests[start:start + 64]
        for (_, group), who, answers in zip(chunk, present[start:start + 64], engine.recognise_batch(chunk)):
            for ref, answer in zip(group, answers):
                found[ref.name].append((ref.name in who, answer.present))
    return found


def who_is_in(found: Verdicts) -> dict[str, float]:
    """"Who is in this photo?" as the chat answers it, every concept asked about every photo: the
    named set against the true one, as precision / recall / F1 over all photos' names together."""
    names = list(found)
    n_photos = len(next(iter(found.values()), []))
    said = right = truly = 0
    for i in range(n_photos):
        said += sum(found[n][i][1] for n in names)
        truly += sum(found[n][i][0] for n in names)
        right += sum(found[n][i][0] and found[n][i][1] for n in names)
    precision = right / said if said else float("nan")
    recall = right / truly if truly else float("nan")
    f1 = 2 * right / (said + truly) if said + truly else float("nan")
    return {"precision": precision, "recall": recall, "f1": f1}


def accuracy(found: list[tuple[bool, bool]]) -> dict[str, float]:
    """Positive / negative / weighted accuracy of one concept's verdicts."""
    pos = [said == own for own, said in found if own]
    neg = [said == own for own, said in found if not own]
    p, n = (sum(v) / len(v) if v else float("nan") for v in (pos, neg))
    return {"positive": p, "negative": n, "weighted": (p + n) / 2, "n_positive": len(pos), "n_negative": len(neg)}


def recognition(engine: Any, dataset: Dataset, refs: dict[str, ConceptRef]) -> dict[str, dict[str, float]]:
    """Positive / negative / weighted accuracy per concept over every test photo."""
    return {name: accuracy(found) for name, found in verdicts(engine, dataset.test_photos(), refs).items()}


def fit_prototypes(engine: Any, dataset: Dataset, negatives_dir: Path | None = None) -> dict[str, ConceptRef]:
    """Each concept's prototype, as the assistant fits it before training (negatives: the other
    concepts' training photos, one of each in turn, and the everyday photos of `negatives_dir` most
    like the concept)."""
    photos = {name: [p.read_bytes() for p in paths] for name, paths in dataset.train.items()}
    folder, out = str(negatives_dir) if negatives_dir else None, {}
    for name, own in photos.items():
        others = [photo for turn in itertools.zip_longest(*(ps for n, ps in photos.items() if n != name))
                  for photo in turn if photo is not None][:QUICK_LOOK_NEGATIVES]
        out[name] = ConceptRef(name=name, prototype=engine.prototype(own, others, folder))
    return out


def quick_looks(engine: Any, dataset: Dataset, negatives_dir: Path | None = None
                ) -> tuple[dict[str, ConceptRef], dict[str, ConceptRef]]:
    """Each concept as the assistant knows it before training: its prototype, and the description
    the model writes of it."""
    written = {name: ConceptRef(name=name, description=engine.describe([p.read_bytes() for p in paths[:5]])
                                .strip()[:300]) for name, paths in dataset.train.items()}
    return fit_prototypes(engine, dataset, negatives_dir), written


def second_opinion(learned: Verdicts, quick: Verdicts) -> dict[str, dict[str, float]]:
    """The prototype beside the learned tokens, photo by photo (the same photos in the same order)."""
    out = {}
    for name, by_tokens in learned.items():
        pairs = list(zip(by_tokens, quick[name]))
        agreed = [own == said for (own, said), (_, other) in pairs if said == other]
        overruled = [own == said for (own, said), (_, other) in pairs if said != other]
        out[name] = {"second_agree": len(agreed) / len(pairs) if pairs else float("nan"),
                     "second_agreed_accuracy": sum(agreed) / len(agreed) if agreed else float("nan"),
                     "second_overruled_accuracy": sum(overruled) / len(overruled) if overruled else float("nan")}
    return out


def segments(question: str, names: list[str]) -> list[str | int]:
    """"Is <bo> next to <kip>?" with names ["bo", "kip"] → ["Is ", 0, " next to ", 1, "?"]: where each
    concept stands in the question, as the engine takes it (a name not in `names`: ValueError)."""
    parts = re.split(r"<([^<>]+)>", question)
    out: list[str | int] = [parts[0]]
    for name, text in zip(parts[1::2], parts[2::2]):
        out += [names.index(name), text]
    return out


def photo_of(dataset: Dataset, item: dict[str, Any]) -> bytes | None:
    """The photo a question is about; None for a text-only question."""
    return (dataset.root / item["image"]).read_bytes() if item.get("image") else None


def chosen(engine: Any, item: dict[str, Any], refs: list[ConceptRef], names: list[str], photo: bytes | None) -> int:
    """The option the model picks for a two-choice question about `refs` (`names` in its text)."""
    return engine.inference.choose(segments(item["question"], names), item["options"], refs, photo)


def question_answering(engine: Any, dataset: Dataset, refs: dict[str, ConceptRef]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name, items in dataset.qa.items():
        if name not in refs:
            continue
        scores: dict[str, list[bool]] = {"visual_qa": [], "text_qa": []}
        for item in items:
            right = chosen(engine, item, [refs[name]], ["sks"], photo_of(dataset, item)) == int(item["answer"])
            scores["visual_qa" if item.get("image") else "text_qa"].append(right)
        out[name] = {k: sum(v) / len(v) for k, v in scores.items() if v}
    return out


def pair_questions(engine: Any, dataset: Dataset, refs: dict[str, ConceptRef]) -> dict[str, float]:
    """The questions naming two concepts (the module docstring says which figures); a way that only
    recognises (a prototype) cannot be asked in words, so it gets `together_recognised` alone."""
    items = [item for item in dataset.pairs if set(item["concepts"]) <= refs.keys()]
    speaks = all(ref.tokens or ref.description for ref in refs.values())
    together = [item for item in items if item["kind"] == "together"]
    attribute = [item for item in items if item["kind"] == "attribute"]
    out: dict[str, float] = {"n_together": len(together), "n_attribute": len(attribute)}

    def named(item: dict[str, Any]) -> list[ConceptRef]:
        return [refs[n] for n in item["concepts"]]

    if together:
        truth = [int(item["answer"]) == 0 for item in together]  # options ["Yes", "No"]
        requests = [(photo_of(dataset, item), named(item)) for item in together]  # each photo read once
        both = [all(answer.present for answer in answers) for start in range(0, len(requests), 64)
                for answers in engine.recognise_batch(requests[start:start + 64])]
        out["together_recognised"] = accuracy(list(zip(truth, both)))["weighted"]
        if speaks:
            said = [chosen(engine, item, concepts, item["concepts"], photo) == 0
                    for item, (photo, concepts) in zip(together, requests)]
            out["together_qa"] = accuracy(list(zip(truth, said)))["weighted"]
    if attribute and speaks:
        out["attribute_qa"] = sum(chosen(engine, item, named(item), item["concepts"], None) == int(item["answer"])
                                  for item in attribute) / len(attribute)
    return out


def clip_i(engine: Any, dataset: Dataset, refs: dict[str, ConceptRef], clip: ClipImages, n: int,
           seed: int) -> dict[str, dict[str, float]]:
    """CLIP-I per concept: `n` drawings of "A photo of <sks>." against its test photos (train if none)."""
    before, after = DRAW_PROMPT.split("{sks}")
    requests = [([before, 0, after], [ref], min(4, n - i), seed + i) for ref in refs.values() for i in range(0, n, 4)]
    drawn = iter(engine.draw_batch(requests))
    out = {}
    for name in refs:
        images = [image for _ in range(0, n, 4) for image in next(drawn)]
        real = [p.read_bytes() for p in (dataset.test.get(name) or dataset.train[name])]
        out[name] = {"clip_i": clip.clip_i(images, real)}
    return out


def evaluate(engine: Any, dataset: Dataset, epochs: int | None = None, negatives_dir: Path | None = None,
             seed: int = 0, random_vectors: bool = False, log: Any = None, clip: ClipImages | None = None,
             images: int = 4, others_as_negatives: bool = True, quick_look: bool = True) -> dict[str, Any]:
    """Train every concept of `dataset`, then measure it (the module docstring says how).

    `others_as_negatives`: the other concepts' training photos are each concept's negatives too,
    as a user's other subjects are in the product (off for an ablation without hard negatives).
    `quick_look`: also measure the quick look, before training and as the second opinion after.
    """
    pool = negatives_dir or (dataset.root / "pool" if (dataset.root / "pool").is_dir() else None)
    refs: dict[str, ConceptRef] = {}
    report: dict[str, Any] = {"model": engine.model_id, "dataset": str(dataset.root), "concepts": {}, "who": {},
                              "pairs": {}}
    started = time.monotonic()
    measured: list[dict[str, dict[str, float]]] = []

    def recognised(prefix: str, refs: dict[str, ConceptRef], strangers: bool = True) -> Verdicts:
        """Recognition with `refs` on the single-subject photos and, where the dataset has them, on the
        crowded ones too (under "crowded_", with "who is in this?" over them in report["who"]), the
        strangers (unless `strangers` is False) and the questions naming two concepts (report["pairs"])."""
        way = prefix.rstrip("_") or "tokens"
        single = verdicts(engine, dataset.test_photos(), refs)
        measured.append(prefixed(prefix, {n: accuracy(v) for n, v in single.items()}))
        if strangers and dataset.strangers:  # look-alikes nobody taught: how often each says no
            strange = verdicts(engine, dataset.stranger_photos(), refs)
            measured.append({n: {prefix + "strangers": accuracy(v)["negative"]} for n, v in strange.items()})
        if dataset.crowded:
            crowded = verdicts(engine, dataset.crowded_photos(), refs)
            measured.append(prefixed("crowded_" + prefix, {n: accuracy(v) for n, v in crowded.items()}))
            report["who"][way] = who_is_in(crowded)
        if dataset.pairs:
            report["pairs"][way] = pair_questions(engine, dataset, refs)
        return single

    if quick_look:  # before any training, as the chat has it between the photos and "Bo is ready"
        prototypes, written = quick_looks(engine, dataset, pool)
        quick = recognised("quick_", prototypes)
        recognised("written_", written)
    for name, photos in dataset.train.items():
        others = [p.read_bytes() for other, ps in dataset.train.items() if other != name for p in ps] \
            if others_as_negatives else []
        request = TrainRequest(name=name, positives=[p.read_bytes() for p in photos], negatives=others,
                               negatives_dir=str(pool) if pool else None, category=dataset.categories.get(name, ""),
                               epochs=epochs, seed=seed)
        t = time.monotonic()
        result = engine.train(request)
        # with its prototype, as the assistant asks it: the model also looks at a part the prototype finds it in
        prototype = prototypes[name].prototype if quick_look else None
        refs[name] = ConceptRef(name=name, tokens=result.tokens, prototype=prototype)
        report["concepts"][name] = {"train_accuracy": result.train_accuracy, "epochs_run": result.epochs_run,
                                    "train_seconds": round(time.monotonic() - t, 2)}
        if log:
            log(f"trained {name}: training recognition {result.train_accuracy:.3f} in {result.epochs_run} epochs")
    learned = recognised("", refs)
    measured.append(question_answering(engine, dataset, refs))
    if quick_look:
        measured.append(second_opinion(learned, quick))
    scorer = clip if getattr(engine, "can_draw", False) else None  # CLIP-I: for a model that draws
    if scorer is not None:
        measured.append(clip_i(engine, dataset, refs, scorer, images, seed))
    if random_vectors:
        baseline = {n: ConceptRef(name=n, tokens=randomised(r.tokens or b"", seed), prototype=r.prototype)
                    for n, r in refs.items()}
        recognised("random_", baseline, strangers=False)  # they say no to every photo: nothing to learn
        if scorer is not None:
            measured.append(prefixed("random_", clip_i(engine, dataset, baseline, scorer, images, seed)))
    if dataset.descriptions and refs.keys() <= dataset.descriptions.keys():
        recognised("description_", {n: ConceptRef(name=n, description=dataset.descriptions[n]) for n in refs})
    for metrics in measured:
        for name, values in metrics.items():
            report["concepts"].setdefault(name, {}).update(values)
    report["mean"] = means(report["concepts"])
    report["seconds"] = round(time.monotonic() - started, 1)
    return report


def means(concepts: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Each figure's mean over the concepts that have it (a concept the prototype never overruled
    has no second_overruled_accuracy: nan); a figure no concept has stays out."""
    keys = sorted({k for c in concepts.values() for k in c if isinstance(c[k], float)})
    figures = {k: [c[k] for c in concepts.values() if k in c and not math.isnan(c[k])] for k in keys}
    return {k: sum(v) / len(v) for k, v in figures.items() if v}


def prefixed(prefix: str, metrics: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """A baseline's metrics under their own names ("random_weighted"), without the counts (which the
    learned tokens' own figures keep)."""
    return {n: {prefix + k: v for k, v in m.items() if not (prefix and k.startswith("n_"))}
            for n, m in metrics.items()}


def table(report: dict[str, Any]) -> str:
    columns = [c for c in ("positive", "negative", "weighted", "visual_qa", "text_qa", "random_weighted",
                           "description_weighted", "quick_weighted", "written_weighted", "strangers",
                           "quick_strangers", "second_agree",
                           "second_overruled_accuracy", "crowded_weighted", "crowded_quick_weighted",
                           "crowded_description_weighted", "crowded_random_weighted", "clip_i", "random_clip_i",
                           "train_accuracy")
               if c in report["mean"]]
    rows = [["concept", *columns]]
    for name, values in [*report["concepts"].items(), ("mean", report["mean"])]:
        rows.append([name, *(f"{values[c]:.3f}" if c in values else "-" for c in columns)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    for by, figures in report.get("who", {}).items():  # over the crowded photos
        lines.append(f'who is in this? ({by}, crowded photos): precision {figures["precision"]:.3f}, '
                     f'recall {figures["recall"]:.3f}, F1 {figures["f1"]:.3f}')
    for by, figures in report.get("pairs", {}).items():
        shown = {k: f"{figures[k]:.3f}" if k in figures else "-" for k in ("together_qa", "together_recognised",
                                                                          "attribute_qa")}
        lines.append(f'two concepts ({by}): "is A next to B?" asked together {shown["together_qa"]}, each recognised '
                     f'{shown["together_recognised"]} ({figures["n_together"]} questions); "what colour are A and B?" '
                     f'{shown["attribute_qa"]} ({figures["n_attribute"]})')
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="yo eval", description="recognition and QA accuracy on a dataset")
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--model", default=os.environ.get("YO_MODEL"), help="model id or folder (default $YO_MODEL)")
    parser.add_argument("--device", default=os.environ.get("YO_DEVICE") or None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--negatives", type=Path, default=None, help="everyday photos (default DATASET/pool)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--random-vectors", action="store_true", help="also score randomised vectors (chance)")
    parser.add_argument("--clip", default=None, metavar="MODEL",
                        help="CLIP model id or folder: also measure CLIP-I of drawings (a model that draws)")
    parser.add_argument("--images", type=int, default=4, help="drawings per concept for CLIP-I")
    parser.add_argument("--no-quick-look", action="store_true", help="skip measuring the quick look")
    parser.add_argument("--out", type=Path, default=None, help="write the report as JSON here")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    args = parser.parse_args(argv)
    if not args.model:
        print("yo eval: no model: pass --model or set YO_MODEL", file=sys.stderr)
        return 2
    from personalization import Engine

    dataset = Dataset.open(args.dataset)
    engine = Engine.load(args.model, device=args.device, config=TrainConfig())
    if args.clip and not engine.can_draw:
        print(f"yo eval: --clip measures drawings, and {args.model} does not draw", file=sys.stderr)
        return 2
    clip = ClipImages(args.clip, device=args.device) if args.clip else None
    say = None if args.json else (lambda line: print(line, file=sys.stderr))
    report = evaluate(engine, dataset, args.epochs, args.negatives, args.seed, args.random_vectors, say, clip,
                      args.images, quick_look=not args.no_quick_look)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report) if args.json else table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
