"""The training conversations (RECIPE §2) and how text becomes tokens."""

from __future__ import annotations

import random

from personalization.engine import data, phrasings
from personalization.engine.prompts import continue_turn, fill, join_turn


def test_phrasings() -> None:
    assert len(set(phrasings.RECOGNITION_QUESTIONS)) >= 30
    assert all("{sks}" in q for q in phrasings.RECOGNITION_QUESTIONS)
    assert len(phrasings.YES_ANSWERS) >= 3 and len(phrasings.NO_ANSWERS) >= 3
    assert all(a.startswith("Yes,") and "{sks}" in a for a in phrasings.YES_ANSWERS)
    assert all(a.startswith("No,") and "{sks}" in a for a in phrasings.NO_ANSWERS)
    people, things = phrasings.attribute_questions("person"), phrasings.attribute_questions("dog")
    assert len(people) >= 10 and len(things) >= 10 and set(people).isdisjoint(things)
    assert all("{sks}" in train and "{sks}" not in asked for asked, train in people + things)
    assert any("dog" in asked for asked, _ in things)


def test_epoch_labels_balance_and_flips() -> None:
    qa = [(data.Turn("What color is {sks}?", "{sks} is red."),)] * 3
    plan = data.Plan.balanced(n_positives=3, n_negatives=60, qa=qa, flip_positives=True)
    assert plan.positive_turns == 20  # as many "yes" as "no" answers
    examples = plan.epoch(random.Random(0))
    positives = [e for e in examples if e.label is True]
    negatives = [e for e in examples if e.label is False]
    text = [e for e in examples if e.label is None]
    assert len(positives) == 3 and len(negatives) == 60 and len(text) == 3
    assert all(e.image is not None and e.image < 3 for e in positives)
    assert all(e.image is not None and e.image >= 3 and not e.flip for e in negatives)
    assert all(t.answer.startswith("Yes") for e in positives for t in e.turns)
    assert all(t.answer.startswith("No") for e in negatives for t in e.turns)
    assert all(e.image is None for e in text)
    assert len({t.question for e in positives for t in e.turns}) > 20  # phrasings vary
    flips = [e.flip for _ in range(10) for e in plan.epoch(random.Random(_)) if e.label is True]
    assert any(flips) and not all(flips)
    assert data.Plan.balanced(5, 1000, []).positive_turns == len(phrasings.RECOGNITION_QUESTIONS)


def test_attribute_answers_are_rewritten_about_the_identifier() -> None:
    assert data.as_subject("The dog is brown with white paws.", "dog") == "{sks} is brown with white paws."
    assert data.as_subject("This person wears glasses.", "") == "{sks} wears glasses."
    assert data.as_subject("It is red.", "cup") == "It is red."
    pairs = data.attribute_turns("cup", 2)
    turns = data.qa_turns(pairs, ["The cup is red.", ""], "cup")
    assert turns == (data.Turn("What color is {sks}?", "{sks} is red."),)


def test_pieces() -> None:
    who = (7,)
    assert fill("Is {sks} in this photo?", who) == ["Is ", (7,), " in this photo?"]
    assert fill("Is {sks} here?", "Bo") == ["Is Bo here?"]
    assert continue_turn(["Is ", (7,)]) == [" Is ", (7,)]
    assert continue_turn([(7,), " is"]) == [" ", (7,), " is"]
    assert join_turn([[(7,), " is ", (8, 9), "."], []], ["Why?"]) == [(7,), " is ", (8, 9), ".", " Why?"]
