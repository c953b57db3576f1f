"""Training a concept: the base model stays bit-identical; progress, cancel, seeds, negatives."""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from dataclasses import replace
from pathlib import Path
from typing import Callable

import pytest
import torch

from personalization import Concept, Engine, data, negatives
from personalization.data import Example
from personalization.inference import open_photo
from personalization.trainer import Trainer, train_concept
from serving.protocol import ConceptRef, TrainingCancelled, TrainProgress, TrainRequest


def parameter_hashes(engine: Engine) -> dict[str, str]:
    return {name: hashlib.sha256(p.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()
            for name, p in engine.backend.model.named_parameters()}


def request(make_photo: Callable[..., bytes], **kwargs: object) -> TrainRequest:
    positives = [make_photo((200, 40 + 10 * i, 30)) for i in range(3)]
    negatives = [make_photo((30, 40, 200), "square"), make_photo((30, 200, 40))]
    return TrainRequest(name="Bo", positives=positives, negatives=negatives, category="dog", **kwargs)  # type: ignore[arg-type]


def test_training_leaves_every_base_parameter_bit_identical(any_engine: Engine, make_photo: Callable[..., bytes]) -> None:
    before = parameter_hashes(any_engine)
    assert not any(p.requires_grad for p in any_engine.backend.model.parameters())
    result = any_engine.train(request(make_photo))
    assert parameter_hashes(any_engine) == before
    concept = any_engine.load_concept(result.tokens)
    assert concept.k == 4 and concept.name == "Bo" and concept.inputs.shape == (5, any_engine.backend.hidden_size)
    assert 0.0 <= result.train_accuracy <= 1.0 and 1 <= result.epochs_run <= 2
    # The learned concept is usable at once, alone or with a longer one in the next slot.
    other = Concept(torch.randn(9, any_engine.backend.hidden_size), torch.randn(any_engine.backend.hidden_size),
                    any_engine.model_id, any_engine.backend.fingerprint, "Kiwi")
    found = any_engine.recognise(make_photo((200, 40, 30)), [ConceptRef("Bo", result.tokens),
                                                          ConceptRef("Kiwi", other.to_bytes())])
    assert len(found) == 2


def test_progress_steps_increase_and_seeds_repeat(any_engine: Engine, make_photo: Callable[..., bytes]) -> None:
    seen: list[TrainProgress] = []
    first = any_engine.train(request(make_photo, seed=7), progress=seen.append)
    stages = [p.stage for p in seen]
    assert stages[0] == "preparing" and stages[-1] == "done" and "training" in stages
    steps = [p.step for p in seen if p.stage == "training"]
    assert steps == list(range(1, len(steps) + 1))
    training = [p for p in seen if p.stage == "training"]
    assert all(p.steps == training[0].steps and p.loss is not None and p.eta_seconds is not None for p in training)
    assert training[-1].eta_seconds == pytest.approx(0.0, abs=1e-6) or training[-1].step < training[-1].steps
    second = any_engine.train(request(make_photo, seed=7))
    a, b = Concept.from_bytes(first.tokens), Concept.from_bytes(second.tokens)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.output, b.output)
    third = Concept.from_bytes(any_engine.train(request(make_photo, seed=8)).tokens)
    assert not torch.equal(a.inputs, third.inputs)


def test_a_concept_not_fitted_after_its_epochs_gets_the_extra_ones(engine: Engine,
                                                                    make_photo: Callable[..., bytes]) -> None:
    def epochs_seen(train_request: TrainRequest, fitted: float) -> tuple[int, list[int]]:
        seen: list[TrainProgress] = []
        config = replace(engine.config, epochs=2, extra_epochs=3, fitted=fitted, patience=100)
        result = train_concept(engine, train_request, progress=seen.append, config=config)
        return result.epochs_run, sorted({(p.epochs, p.extended) for p in seen if p.stage == "training"})

    # never fitted: 2, then 3 more, which progress says were added
    assert epochs_seen(request(make_photo), fitted=1.01) == (5, [(2, False), (5, True)])
    assert epochs_seen(request(make_photo), fitted=0.0) == (2, [(2, False)])  # fitted at once: the plan only
    assert epochs_seen(request(make_photo, epochs=2), fitted=1.01) == (2, [(2, False)])  # asked for: exactly that


def test_cancel_stops_within_a_step(engine: Engine, make_photo: Callable[..., bytes]) -> None:
    cancel = threading.Event()
    steps: list[int] = []

    def progress(p: TrainProgress) -> None:
        if p.stage == "training":
            steps.append(p.step)
            if p.step == 2:
                cancel.set()

    with pytest.raises(TrainingCancelled):
        engine.train(request(make_photo, epochs=5), progress=progress, cancel=cancel)
    assert steps == [1, 2]


def test_cancel_before_start(engine: Engine, make_photo: Callable[..., bytes]) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TrainingCancelled):
        engine.train(request(make_photo), cancel=cancel)


def test_training_pauses_between_the_chunks_of_its_preparation_and_its_steps(
        engine: Engine, make_photo: Callable[..., bytes], tmp_path: Path) -> None:
    """Mining a folder, encoding the photos and asking attribute questions each pause after every
    chunk (the worker answers waiting questions then), before the first step as after each."""
    folder = tmp_path / "everyday"
    folder.mkdir()
    for i in range(2 * negatives.FEATURE_CHUNK + 6):  # three chunks of folder photos
        (folder / f"photo{i}.png").write_bytes(make_photo((i * 3 % 256, 90, 255 - i * 3 % 256)))
    events: list[str] = []
    req = TrainRequest(name="Bo", positives=[make_photo((200, 40, 30), size=(80 + i, 72)) for i in range(3)],
                       negatives_dir=str(folder), category="dog")
    engine.train(req, progress=lambda p: events.append(p.stage), between=lambda: events.append("pause"))
    before = events[:events.index("training")]
    assert before.count("pause") >= 3 + 1 + 1, before  # the folder's chunks, the photos' tokens, the questions
    steps = events.count("training")
    assert events.count("pause") >= before.count("pause") - 1 + steps, "and one before every step"


def test_while_questions_come_in_training_pauses_after_every_photo_and_example(
        engine: Engine, make_photo: Callable[..., bytes], tmp_path: Path) -> None:
    """A pause that says questions are coming in makes the next chunk a single item: a folder
    photo, a photo's tokens, an attribute answer, an example of a step. The concept learned is the
    same as in whole steps (the gradients of a step add up whatever its split)."""
    folder = tmp_path / "everyday"
    folder.mkdir()
    for i in range(negatives.FEATURE_CHUNK + 4):
        (folder / f"photo{i}.png").write_bytes(make_photo((i * 5 % 256, 90, 255 - i * 5 % 256)))
    req = TrainRequest(name="Bo", positives=[make_photo((200, 40, 30), size=(80 + i, 72)) for i in range(3)],
                       negatives_dir=str(folder), category="dog", seed=5)
    counted: dict[bool, list[str]] = {}
    concepts = {}
    for lively in (False, True):
        events = counted.setdefault(lively, [])

        def pause(events: list[str] = events, lively: bool = lively) -> bool:
            events.append("pause")
            return lively

        engine.negative_pool._cache.clear()  # mine the folder again each time
        result = engine.train(req, progress=lambda p, events=events: events.append(p.stage), between=pause)
        concepts[lively] = Concept.from_bytes(result.tokens)
    whole, single = counted[False], counted[True]
    assert whole.count("training") == single.count("training")  # the same steps ...
    # ... but a pause after each of the folder's photos (after the first chunk), and each example
    assert single.count("pause") >= whole.count("pause") + 3 + whole.count("training") * 1
    assert single[:single.index("training")].count("pause") >= 1 + 4 + 3, "one per photo, once lively"
    # the same up to the order of float sums (measured: cosine 0.9999 for every vector)
    a, b = concepts[True], concepts[False]
    assert torch.nn.functional.cosine_similarity(a.inputs, b.inputs).min() > 0.999
    assert torch.nn.functional.cosine_similarity(a.output, b.output, dim=0) > 0.999


def test_no_photos_is_a_clear_error(engine: Engine) -> None:
    with pytest.raises(ValueError, match="at least one photo"):
        engine.train(TrainRequest(name="Bo", positives=[]))


def test_hard_negatives_come_from_the_folder_ranked_by_similarity(
        engine: Engine, make_photo: Callable[..., bytes], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    positives = [make_photo((200, 40, 30)), make_photo((205, 45, 30))]
    folder = tmp_path / "everyday"
    folder.mkdir()
    (folder / "copy-of-positive.png").write_bytes(positives[0])  # never a negative of itself
    for i in range(12):
        (folder / f"photo{i}.png").write_bytes(make_photo((20 * i, 255 - 20 * i, 90), "square" if i % 2 else "circle"))
    (folder / "broken.jpg").write_bytes(b"not a photo")
    req = TrainRequest(name="Bo", positives=positives, negatives=[make_photo((1, 2, 3))],
                       negatives_dir=str(folder))
    trainer = Trainer(engine, req, engine.config, None, None)
    plan = trainer.prepare()
    # 1 from the request + up to 3 per positive (hard) + 2 random (easy), the positive's copy excluded.
    assert 1 + 3 + 2 <= plan.n_negatives <= 1 + 3 * 2 + 2
    paths, features, _ = engine.negative_pool.features(folder)
    assert len(paths) == 13  # the broken file is skipped

    # The hard ones are the folder's most similar photos to each positive, never the positive's copy.
    found = negatives.mine(engine.negative_pool, [open_photo(p) for p in positives], positives, [], folder,
                           per_positive=2, n_easy=3, rng=random.Random(0))
    similarity = engine.image_features(positives) @ features.T
    copy = paths.index(folder / "copy-of-positive.png")
    similarity[:, copy] = -2
    expected = {paths[i].name for i in similarity.topk(2, dim=1).indices.flatten().tolist()}
    pixels = {p.name: open_photo(p.read_bytes()).tobytes() for p in paths}
    assert {name for name, px in pixels.items() if px in {im.tobytes() for im in found.hard}} == expected
    assert len(found.easy) == 3 and not {im.tobytes() for im in found.easy} & {im.tobytes() for im in found.hard}
    assert pixels["copy-of-positive.png"] not in {im.tobytes() for im in found.hard + found.easy}
    # The quick look's are the folder's photos most like any positive, the closest first, never the copy.
    closest = negatives.nearest(engine.negative_pool, engine.image_features(positives), positives, folder, 4)
    assert closest == [paths[i].read_bytes() for i in similarity.max(dim=0).values.topk(4).indices.tolist()]
    assert negatives.nearest(engine.negative_pool, engine.image_features(positives), positives, None, 4) == []
    examples = plan.epoch(trainer.rng)
    said_no = [e for e in examples if e.image is not None and e.image >= plan.n_positives]
    assert said_no and all(e.label is False for e in said_no)
    assert all(t.answer.startswith("No,") for e in said_no for t in e.turns)

    caplog.set_level(logging.WARNING)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = engine.train(TrainRequest(name="Bo", positives=positives, negatives_dir=str(empty)))
    assert result.tokens and "no everyday photos" in caplog.text


def test_text_only_qa_is_trained_without_the_photo(any_engine: Engine, make_photo: Callable[..., bytes]) -> None:
    trainer = Trainer(any_engine, request(make_photo), any_engine.config, None, None)
    plan = trainer.prepare()
    qa = [e for e in plan.epoch(trainer.rng) if e.label is None]
    assert len(qa) == 3  # one per positive photo, its questions as turns of one sequence
    assert all(e.image is None and len(e.turns) == 2 for e in qa)
    assert all("{sks}" in t.question for e in qa for t in e.turns)
    row = trainer.row(qa[0])
    assert row.image is None and any_engine.backend.tokens.image_token_id not in row.prefix
    assert trainer.row(Example(0, True, qa[0].turns, True)).image is not None


def test_gradients_reach_every_concept_vector_and_the_loss_falls(any_engine: Engine,
                                                                  make_photo: Callable[..., bytes]) -> None:
    """Not learning to recognise (a random model cannot), but the optimisation works end to end."""
    trainer = Trainer(any_engine, request(make_photo), any_engine.config, None, None)
    plan = trainer.prepare()
    inputs, output = trainer.initial_vectors()
    start_inputs, start_output = inputs.detach().clone(), output.detach().clone()
    optimizer = trainer.optimizer(inputs, output)
    batches = [b for _ in range(6) for b in data.batches(plan.epoch(trainer.rng), 4, trainer.rng)]
    losses = [trainer.step(batch, inputs, output, optimizer) for batch in batches]
    assert (inputs - start_inputs).abs().amax(dim=1).min() > 0  # the identifier and every latent moved
    assert not torch.equal(output, start_output)
    assert sum(losses[-3:]) < sum(losses[:3])


def test_a_batch_over_the_memory_budget_runs_as_micro_batches_with_the_same_update(
        any_engine: Engine, make_photo: Callable[..., bytes]) -> None:
    """Rows answered with equally many tokens: split or not, one step moves the vectors the same way."""
    def one_step(step_memory_mb: int) -> tuple[list[int], torch.Tensor, torch.Tensor]:
        config = replace(any_engine.config, step_memory_mb=step_memory_mb)
        trainer = Trainer(any_engine, request(make_photo), config, None, None)
        trainer.prepare()
        question = data.check_questions(0).turns[0].question  # answered alike: as many answer tokens per row
        batch = [Example(i, False, (data.Turn(question, "Yes."),), True) for i in range(trainer.n_photos)]
        inputs, output = trainer.initial_vectors()
        optimizer = torch.optim.SGD([inputs, output], lr=1.0)  # the update is the gradient itself
        trainer.step(batch, inputs, output, optimizer)
        return [len(part) for part in trainer.micro_batches(batch)], inputs.detach(), output.detach()

    whole, split = one_step(4096), one_step(0)
    assert whole[0] == [3] and split[0] == [1, 1, 1]
    torch.testing.assert_close(split[1], whole[1], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(split[2], whole[2], rtol=1e-4, atol=1e-6)


def test_a_warm_started_refresh_reaches_the_cold_start_accuracy_in_fewer_steps(
        engine: Engine, make_photo: Callable[..., bytes]) -> None:
    def steps_of(train_request: TrainRequest) -> tuple[float, int, bytes]:
        seen: list[TrainProgress] = []
        result = engine.train(train_request, progress=seen.append)
        return result.train_accuracy, max(p.step for p in seen), result.tokens

    cold_accuracy, cold_steps, tokens = steps_of(request(make_photo, epochs=6, seed=3))
    warm_accuracy, warm_steps, _ = steps_of(request(make_photo, warm_start=tokens, seed=4))
    assert warm_steps < cold_steps
    assert warm_accuracy >= cold_accuracy
