"""The instant recogniser: a prototype of the base model's own image features."""

from __future__ import annotations

from pathlib import Path

import torch

from personalization import Engine
from personalization.instant import Prototype, fit_prototype
from serving.protocol import ConceptRef
from tests.fakes.photos import photo


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
    red = [photo((220, 30, 30), seed=s) for s in range(4)]
    blue = [photo((30, 30, 220), seed=s) for s in range(4)]
    quick = ConceptRef("Red", prototype=engine.prototype(red, blue))
    learned = ConceptRef("Described", description="a red ball")
    together = engine.recognise_batch([(red[0], [learned, quick]), (blue[0], [quick])])
    alone = [engine.recognise(red[0], [learned])[0], engine.recognise(red[0], [quick])[0],
             engine.recognise(blue[0], [quick])[0]]
    assert [r.probability for r in together[0] + together[1]] == [r.probability for r in alone]
    assert together[0][1].probability > together[1][0].probability  # red looks like Red more than blue does
