"""The instant recogniser: a prototype of the base model's own image features."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from PIL import Image

from personalization import Engine
from personalization import part_photo
from personalization.instant import Prototype, Seen, fit_prototype, parts
from serving.protocol import ConceptRef
from tests.fakes.photos import photo
from tests.personalization.test_engine_inference import random_concept


def reds(n: int) -> list[bytes]:
    return [photo((220, 30, 30), seed=s) for s in range(n)]


def blues(n: int) -> list[bytes]:
    return [photo((30, 30, 220), seed=s) for s in range(n)]


def clusters(seed: int = 0, d: int = 32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    subject, lookalike = torch.randn(d, generator=generator), torch.randn(d, generator=generator)
    lookalike = 0.6 * subject + 0.8 * lookalike  # close, but another individual
    def draw(centre: torch.Tensor, n: int) -> torch.Tensor:
        return torch.nn.functional.normalize(centre + 0.35 * torch.randn(n, d, generator=generator), dim=-1)
    return draw(subject, 5), draw(lookalike, 20), draw(subject, 30), draw(lookalike, 30)


def test_separates_held_out_photos_of_the_subject_from_lookalikes() -> None:
    for seed in range(3):
        train_pos, train_neg, test_pos, test_neg = clusters(seed)
        prototype = fit_prototype(train_pos, train_neg)
        hits = (prototype.probability(test_pos) >= 0.5).float().mean()
        rejections = (prototype.probability(test_neg) < 0.5).float().mean()
        assert (hits + rejections) / 2 >= 0.9, (seed, float(hits), float(rejections))


def test_without_negatives_it_still_accepts_its_own_kind() -> None:
    train_pos, _, test_pos, _ = clusters(1)
    prototype = fit_prototype(train_pos, torch.zeros(0, train_pos.shape[1]))
    assert (prototype.probability(test_pos) >= 0.5).float().mean() >= 0.8


def test_round_trip_through_bytes() -> None:
    train_pos, train_neg, test_pos, _ = clusters(2)
    prototype = fit_prototype(train_pos, train_neg)
    again = Prototype.from_bytes(prototype.to_bytes())
    assert torch.equal(prototype.probability(test_pos), again.probability(test_pos))


def test_engine_mixes_learned_and_instant_concepts_in_one_request(tiny_model: Path) -> None:
    engine = Engine.load(str(tiny_model), device="cpu", n_slots=4, k=4)
    red, blue = reds(4), blues(4)
    quick = ConceptRef("Red", prototype=engine.prototype(red, blue))
    learned = ConceptRef("Described", description="a red ball")
    together = engine.recognise_batch([(red[0], [learned, quick]), (blue[0], [quick])])
    alone = [engine.recognise(red[0], [learned])[0], engine.recognise(red[0], [quick])[0],
             engine.recognise(blue[0], [quick])[0]]
    assert [r.probability for r in together[0] + together[1]] == [r.probability for r in alone]
    assert together[0][1].probability > together[1][0].probability  # red looks like Red more than blue does


def test_the_engine_sets_the_part_threshold_from_its_negatives_looked_at_part_by_part(tiny_model: Path) -> None:
    engine = Engine.load(str(tiny_model), device="cpu", n_slots=4, k=4)
    red, blue = reds(4), blues(3)
    prototype = Prototype.from_bytes(engine.prototype(red, blue))
    views = torch.cat([torch.cat([whole[None], pieces]) for whole, pieces in engine.looks(blue)])
    assert len(views) == 3 * 50
    closest = float((torch.nn.functional.normalize(views.float(), dim=-1) @ prototype.mean).max())
    assert prototype.part_threshold == pytest.approx(closest, abs=1e-5)


def test_the_everyday_photos_most_like_the_subject_are_negatives_too(tiny_model: Path, tmp_path: Path) -> None:
    """A user names a few negatives; the look-alikes they never named are among everyday photos."""
    engine = Engine.load(str(tiny_model), device="cpu", n_slots=4, k=4)
    red, blue = reds(4), blues(3)
    folder = tmp_path / "everyday"
    folder.mkdir()
    everyday = [photo((200, 60, 60), seed=9), photo((30, 200, 30), seed=9), red[0]]  # the user's own photo: never
    for i, data in enumerate(everyday):
        (folder / f"{i}.png").write_bytes(data)
    alone = Prototype.from_bytes(engine.prototype(red, blue))
    prototype = Prototype.from_bytes(engine.prototype(red, blue, str(folder)))
    views = torch.cat([torch.cat([whole[None], pieces]) for whole, pieces in engine.looks(blue + everyday[:2])])
    closest = float((torch.nn.functional.normalize(views.float(), dim=-1) @ prototype.mean).max())
    assert prototype.part_threshold == pytest.approx(closest, abs=1e-5)
    assert prototype.part_threshold > alone.part_threshold and torch.equal(prototype.mean, alone.mean)


def test_a_prototype_fitted_again_against_the_same_negatives_looks_only_at_the_new_photos(
        tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A teaching fits its prototype again as each photo arrives; the negatives' fifty views each are
    looked at once."""
    engine = Engine.load(str(tiny_model), device="cpu", n_slots=4, k=4)
    encoded: list[int] = []  # images per call of the vision tower
    image_features = engine.backend.image_features

    def counted(images: list[Image.Image]) -> torch.Tensor:
        encoded.append(len(images))
        return image_features(images)

    monkeypatch.setattr(engine.backend, "image_features", counted)
    red, blue = reds(4), blues(3)
    first = engine.prototype(red[:3], blue)
    assert encoded == [3, 3 * 50]
    again = engine.prototype(red, blue)
    assert encoded[2:] == [4]  # the photos of the subject only: the negatives' looks were kept
    assert Prototype.from_bytes(first).part_threshold != Prototype.from_bytes(again).part_threshold
    fresh = Prototype.from_bytes(Engine(engine.backend).prototype(red, blue))  # kept looks are the looks
    kept = Prototype.from_bytes(again)
    assert torch.equal(fresh.mean, kept.mean)
    assert (fresh.threshold, fresh.scale, fresh.part_threshold) == (kept.threshold, kept.scale, kept.part_threshold)


def test_the_parts_are_an_overlapping_grid_of_half_size_crops_over_the_whole_photo() -> None:
    photo_ = Image.new("RGB", (64, 48))
    pieces = parts(photo_)
    assert len(pieces) == 49 and {p.size for p in pieces} == {(32, 24)}
    covered = Image.new("L", (64, 48), 0)
    for i, piece in enumerate(pieces):  # left to right, top to bottom, a twelfth of the photo apart; ends at the edges
        x, y = [0, 5, 11, 16, 21, 27, 32][i % 7], [0, 4, 8, 12, 16, 20, 24][i // 7]
        assert piece.tobytes() == photo_.crop((x, y, x + 32, y + 24)).tobytes()
        covered.paste(255, (x, y, x + 32, y + 24))
    assert covered.getextrema() == (255, 255)  # every pixel in some part


def test_a_part_finds_the_subject_only_where_it_resembles_it_more_than_any_negative_did() -> None:
    mean = torch.nn.functional.normalize(torch.ones(4), dim=0)
    # accepted from similarity 0.5 on; no view of a negative came closer than 0.7 (logit 2)
    prototype = Prototype(mean, threshold=0.5, scale=0.1, part_threshold=0.7)
    other = torch.tensor([1.0, -1.0, 0.0, 0.0]) / 2 ** 0.5

    def at(logit: float) -> torch.Tensor:  # a feature whose logit against the prototype is `logit`
        similarity = 0.5 + 0.1 * logit
        return similarity * mean + (1 - similarity ** 2) ** 0.5 * other

    sigmoid = lambda x: float(torch.sigmoid(torch.tensor(x)))  # noqa: E731
    assert prototype.look(at(1.0), torch.zeros(0, 4)) == Seen(float(prototype.probability(at(1.0)[None])[0]), None)
    # a crowd: the whole photo is nobody, one part holds the subject
    seen = prototype.look(at(-4.0), torch.stack([at(-3.0), at(2.5), at(1.0)]))
    assert seen.part == 1 and abs(seen.probability - sigmoid(2.5)) < 1e-5
    # a look-alike filling the photo: one part (its ear, its hat) looks like the subject, but no more than
    # the negatives' parts did
    seen = prototype.look(at(-1.0), torch.stack([at(1.5)]))
    assert seen.part is None and abs(seen.probability - sigmoid(-1.0)) < 1e-5
    # a whole photo surer than its best part answers for itself
    assert prototype.look(at(4.0), torch.stack([at(3.0)])).part is None
    # the part has to be accepted too, even where the negatives never came close
    low = Prototype(mean, threshold=0.5, scale=0.1, part_threshold=0.2)
    assert low.look(at(-8.0), torch.stack([at(-1.0)])).part is None
    assert low.look(at(-8.0), torch.stack([at(0.5)])).part == 0
    # a prototype saved before parts were calibrated looks at whole photos only
    assert Prototype(mean, threshold=0.5, scale=0.1).look(at(-8.0), torch.stack([at(5.0)])).part is None


def test_the_part_threshold_is_the_closest_any_negative_view_came() -> None:
    train_pos, train_neg, _, _ = clusters(0)
    mean = torch.nn.functional.normalize(train_pos.mean(0), dim=0)
    parts_ = torch.nn.functional.normalize(train_neg[:3] + 0.5 * mean, dim=-1)  # parts closer than the photos
    prototype = fit_prototype(train_pos, train_neg, parts_)
    assert prototype.part_threshold == pytest.approx(float((parts_ @ mean).max()), abs=1e-6)
    assert prototype.part_threshold > float((train_neg @ mean).max())
    assert fit_prototype(train_pos, train_neg).part_threshold == pytest.approx(float((train_neg @ mean).max()), abs=1e-6)
    assert Prototype.from_bytes(prototype.to_bytes()).part_threshold == prototype.part_threshold
    # without negatives: as close as the least typical of its own photos (each against the others' mean)
    alone = fit_prototype(train_pos, torch.zeros(0, train_pos.shape[1]))
    others = torch.nn.functional.normalize(train_pos.sum(0, keepdim=True) - train_pos, dim=-1)
    assert alone.part_threshold == pytest.approx(float((train_pos * others).sum(-1).min()), abs=1e-6)
    assert alone.threshold < alone.part_threshold


def test_the_engine_looks_at_the_parts_and_asks_the_model_about_the_one_that_finds_the_subject(
        tiny_model: Path) -> None:
    engine = Engine.load(str(tiny_model), device="cpu", n_slots=4, k=8)
    scene = Image.open(io.BytesIO(photo((220, 30, 30), seed=9))).convert("RGB")
    scene.paste(Image.open(io.BytesIO(photo((30, 30, 220), seed=1))).convert("RGB").resize((48, 48)), (48, 48))
    out = io.BytesIO()
    scene.save(out, format="PNG")
    crowd = out.getvalue()
    (whole, pieces), = engine.looks([crowd])
    assert torch.allclose(whole, engine.image_features([crowd])[0], atol=1e-5)
    assert torch.allclose(pieces[15], engine.image_features([part_photo(crowd, 15)])[0], atol=1e-5)
    # a prototype of exactly the bottom-right part (a blue photo pasted on a red one): it finds it there
    mean = torch.nn.functional.normalize(pieces[15].float(), dim=0)
    similarity = float(whole.float() @ mean)
    prototype = Prototype(mean, threshold=(similarity + 1) / 2, scale=(1 - similarity) / 20,  # whole -10, part +10
                          part_threshold=(similarity + 1) / 2)
    assert prototype.look(whole, pieces).part == 15
    quick = ConceptRef("Blue", prototype=prototype.to_bytes())
    assert engine.recognise(crowd, [quick])[0].probability == prototype.look(whole, pieces).probability > 0.99
    # with tokens too, the model answers on the whole photo and on that part (one pass, so the last digits
    # may move); the surer answer counts
    bo = random_concept(engine, "Bo", 1)
    both = ConceptRef("Bo", tokens=bo.tokens, prototype=quick.prototype)
    on_whole, on_part = engine.recognise(crowd, [bo])[0], engine.recognise(part_photo(crowd, 15), [bo])[0]
    assert not on_whole.present and on_part.present  # (this random concept's answers: the part's is the surer)
    surer = max(on_whole, on_part, key=lambda r: r.probability)
    answer = engine.recognise(crowd, [both])[0]
    assert answer.present and answer.probability == pytest.approx(surer.probability, abs=1e-5)
    # in a batch beside other photos and concepts, each gets its own answer (padding moves the last digits)
    blue = photo((30, 30, 220), seed=2)
    batch = engine.recognise_batch([(blue, [bo, quick]), (crowd, [both, bo]), (crowd, [quick])])
    alone = [engine.recognise(blue, [bo]) + engine.recognise(blue, [quick]),
             engine.recognise(crowd, [both]) + [on_whole], engine.recognise(crowd, [quick])]
    assert [len(row) for row in batch] == [len(row) for row in alone]
    for row, expected in zip(batch, alone):
        assert [r.probability for r in row] == pytest.approx([r.probability for r in expected], abs=1e-5)
