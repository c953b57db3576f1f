"""Training conversations for one concept (docs/method.md §7), as text with "{sks}" for the identifier.

Per epoch, freshly sampled (phrasings, answers, flips):

- each positive photo: one example whose turns are many recognition questions, all "Yes";
- each hard or easy negative photo: recognition questions answered "No";
- each positive photo's attribute QA (answered earlier by the base model looking at the
  photo): one text-only example, WITHOUT the photo, the subject written as "{sks}".

Turns of one example share its photo and the concept prompt (see batch.py): that is where
several QA turns in one sequence save compute without one answer leaking into the next.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Sequence

from . import phrasings


@dataclass(frozen=True)
class Turn:
    question: str  # "{sks}" marks the identifier
    answer: str


@dataclass(frozen=True)
class Example:
    image: int | None  # index of the training photo (positives first, then negatives); None: text only
    flip: bool
    turns: tuple[Turn, ...]
    label: bool | None  # recognition: is the subject in the photo; None for attribute QA


@dataclass(frozen=True)
class Plan:
    """What one concept trains on; `epoch()` draws one epoch of examples from it."""

    n_positives: int
    n_negatives: int  # hard + easy, indices n_positives .. n_positives + n_negatives - 1
    qa: tuple[tuple[Turn, ...], ...]  # per positive photo: its attribute QA turns
    positive_turns: int
    negative_turns: int = 1
    flip_positives: bool = True
    flip_negatives: bool = False

    @classmethod
    def balanced(cls, n_positives: int, n_negatives: int, qa: Sequence[Sequence[Turn]],
                 positive_turns: int | None = None, negative_turns: int = 1, flip_positives: bool = True,
                 flip_negatives: bool = False) -> "Plan":
        """As many "yes" answers as "no" answers unless told otherwise (at most one per phrasing)."""
        if positive_turns is None:
            wanted = math.ceil(n_negatives * negative_turns / max(1, n_positives))
            positive_turns = max(4, min(len(phrasings.RECOGNITION_QUESTIONS), wanted))
        return cls(n_positives, n_negatives, tuple(tuple(t) for t in qa), positive_turns, negative_turns,
                   flip_positives, flip_negatives)

    def epoch(self, rng: random.Random) -> list[Example]:
        examples = [recognition(i, True, self.positive_turns, rng, self.flip_positives and rng.random() < 0.5)
                    for i in range(self.n_positives)]
        examples += [recognition(self.n_positives + j, False, self.negative_turns, rng,
                                 self.flip_negatives and rng.random() < 0.5) for j in range(self.n_negatives)]
        examples += [Example(None, False, turns, None) for turns in self.qa if turns]
        rng.shuffle(examples)
        return examples


def recognition(image: int, present: bool, n_turns: int, rng: random.Random, flip: bool = False) -> Example:
    questions = rng.sample(phrasings.RECOGNITION_QUESTIONS, min(n_turns, len(phrasings.RECOGNITION_QUESTIONS)))
    answers = phrasings.YES_ANSWERS if present else phrasings.NO_ANSWERS
    return Example(image, flip, tuple(Turn(q, rng.choice(answers)) for q in questions), present)


def check_questions(image: int) -> Example:
    """The fixed questions the recogniser asks, for measuring recognition on training photos."""
    return Example(image, False, tuple(Turn(q, "") for q in phrasings.RECOGNITION_ASKED), None)


# -- attribute QA -------------------------------------------------------------------------------


def attribute_turns(category: str, n: int) -> list[tuple[str, str]]:
    """(question asked of the base model about the photo, question trained with the identifier)."""
    return list(phrasings.attribute_questions(category))[:n]


_SUBJECT_WORDS = ("person", "man", "woman", "boy", "girl", "child", "subject", "animal", "object")


def as_subject(answer: str, category: str) -> str:
    """The base model's answer about "the dog in this photo", rewritten about "{sks}"."""
    kinds = sorted({w for w in category.lower().split() if w} | set(_SUBJECT_WORDS), key=len, reverse=True)
    pattern = r"\b(?:the|this|that)\s+(?:" + "|".join(re.escape(k) for k in kinds) + r")\b"
    return re.sub(pattern, "{sks}", answer.strip(), flags=re.IGNORECASE)


def qa_turns(pairs: Sequence[tuple[str, str]], answers: Sequence[str], category: str) -> tuple[Turn, ...]:
    return tuple(Turn(train, as_subject(answer, category))
                 for (_, train), answer in zip(pairs, answers) if answer.strip())


def batches(examples: Sequence[Example], size: int, rng: random.Random) -> list[list[Example]]:
    """Batches of one kind each (photo + many questions, photo + one, text only), in random order.

    Rows of one kind have about the same length, so padding wastes little; a batch of one
    kind is what every step of the batch-1 recipe is anyway.
    """
    kinds: dict[tuple[bool, int], list[Example]] = {}
    for example in examples:
        kinds.setdefault((example.image is None, len(example.turns)), []).append(example)
    out = [group[i:i + size] for group in kinds.values() for i in range(0, len(group), size)]
    rng.shuffle(out)
    return out
