"""What the stand-in is asked while it is pretrained, and what a concept is asked later.

Pretraining tasks (`Sample.task`):

- "attribute": a photo and one question about the toy in it ("What color is the toy in this
  photo?" → "red"), in the engine's own phrasings (`personalization.phrasings`) so
  that the stand-in can answer the questions the engine asks it about a user's photos.
- "describe": a photo, "Describe the toy in this photo." → the canonical description
  ("a red round toy with a black hat"): the text a concept's soft tokens can imitate.
- "check": a photo and one attribute, "Is the toy red?" → Yes/No: the smallest comparison.
- "verify": word by word, "red yes round no ..." (not in the default mix; its words are in the
  tokenizer's corpus).
- "match": a photo and "Is <description> in this photo?" → Yes/No, where a "No" photo
  mostly shows a look-alike (one attribute differs) and descriptions may name only some
  attributes ("Is a red toy in this photo?").
- "named_match": the concept prompt with a written description — "bo is a red round toy
  with a black hat." — then an engine recognition question about "bo" → the engine's
  Yes/No answers. A learned concept is this with the description replaced by soft tokens.
- "named_text": the same definition with no photo, then an attribute question about "bo"
  → the attribute: reading a definition, as text-only QA about a concept needs.
- "crowd_match", "crowd_named_match": "match" and "named_match" on a photo of two to four toys
  (`world.render_crowd`): "Yes" when the described toy is one of them, and a "No" photo mostly
  holds a look-alike of it. Asking about one subject among several is where a yes/no over the
  whole photo is weakest.

`concept_qa` gives the two-choice text-only questions about a concept used for evaluation;
`pair_qa` and `together_qa` the ones that name two concepts (never asked in pretraining).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any, Callable

from personalization import phrasings

from .world import (
    ACCESSORIES,
    ACCESSORY_COLOURS,
    ATTRIBUTES,
    COLOURS,
    SHAPES,
    Crowd,
    Subject,
    random_crowd,
    random_lookalike,
    random_subject,
)

KIND = "toy"  # the category of every subject of the world

# Names that definitions bind ("bo is ..."); concepts get identifier tokens of their own.
NAMES: tuple[str, ...] = (
    "bo", "mam", "kip", "tuv", "zel", "pim", "rax", "lun", "dot", "fig", "gus", "hob", "jax", "kai",
    "lex", "moe", "nib", "oz", "pip", "quin", "rue", "sol", "taz", "uma", "vik", "wim", "yaz", "zed",
)

# The tasks whose texts make the tiny tokenizer's corpus (the crowded ones use the same words).
TASKS: tuple[str, ...] = ("attribute", "describe", "check", "verify", "match", "named_match", "named_text")


@dataclass(frozen=True)
class Sample:
    """One pretraining conversation: the user's text (after the photo, if any) and the answer."""

    task: str
    text: str
    answer: str
    photo: Subject | Crowd | None  # the toy (or toys) to draw for the photo; None: a text-only question
    name: str | None = None  # the name the text defines, when it defines one
    described: Subject | None = None  # the toy the text describes, when it describes one


# ---------------------------------------------------------------- attribute questions


def _an(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def attribute_questions(subject: Subject, sks: str | None = None) -> list[tuple[str, str, str]]:
    """(attribute, question, answer) about `subject`.

    With `sks` None the questions are about "the toy in this photo" (asked with a photo);
    otherwise about the name `sks` (asked about a concept, with or without a photo).
    `attribute` is one of ATTRIBUTES, "description" or "other" (questions whose answer is the same
    for every toy).
    """
    the = "the toy in this photo" if sks is None else sks
    owner = "the toy's" if sks is None else f"{sks}'s"
    acc = subject.accessory
    description = subject.description()
    out = [
        ("colour", f"What color is {the}?", subject.colour),
        ("colour", f"What colour is {the}?", subject.colour),
        ("shape", f"What shape is {the}?", subject.shape),
        ("accessory", f"What is {the} wearing?", _an(acc)),
        ("accessory", f"What does {the} wear?", _an(acc)),
        ("accessory_colour", f"What color is {owner} {acc}?", subject.accessory_colour),
        ("accessory_colour", f"What colour is {owner} {acc}?", subject.accessory_colour),
        ("description", f"Describe {the}.", description),
        ("description", f"What does {the} look like?", description),
        ("other", f"What is special about {the}?", f"it wears {_an(subject.accessory_colour)} {acc}"),
        ("other", f"How big is {the}?", "small"),
        ("other", f"What is {the} made of?", "plastic"),
        ("other", f"What pattern does {the} have?", "plain"),
    ]
    if sks is None:
        out += [
            ("description", f"What kind of {KIND} is in this photo?", description),
            ("description", phrasings.DESCRIBE_QUESTION, description),
            ("other", f"Where is {the}?", "on the floor"),
        ]
    else:
        out += [
            ("description", f"What kind of {KIND} is {sks}?", description),
            ("other", f"Where is {sks} usually?", "on the floor"),
        ]
    return out


def concept_qa(subject: Subject, sks: str, rng: random.Random) -> list[dict[str, Any]]:
    """Two-choice text-only questions about a concept, one per attribute (Yo'LLaVA's text QA).

    In `yo eval`'s qa.json form: "answer" is the index of the right option."""
    acc = subject.accessory
    asks = {
        "colour": f"What color is {sks}?",
        "shape": f"What shape is {sks}?",
        "accessory": f"What is {sks} wearing?",
        "accessory_colour": f"What color is {sks}'s {acc}?",
    }
    out = []
    for attribute, question in asks.items():
        right = getattr(subject, attribute)
        wrong = rng.choice([v for v in ATTRIBUTES[attribute] if v != right])
        if attribute == "accessory":
            right, wrong = _an(right), _an(wrong)
        options = [right, wrong]
        rng.shuffle(options)
        out.append({"attribute": attribute, "question": question, "options": options, "answer": options.index(right)})
    return out


# A question naming two concepts about each attribute they may differ in.
_PAIR_ASKS: dict[str, str] = {
    "colour": "What color are {a} and {b}?",
    "shape": "What shapes are {a} and {b}?",
    "accessory": "What are {a} and {b} wearing?",
    "accessory_colour": "What color is {a}'s {acc_a} and {b}'s {acc_b}?",
}


def pair_qa(names: tuple[str, str], subjects: tuple[Subject, Subject], rng: random.Random) -> list[dict[str, Any]]:
    """Two-choice text-only questions naming two concepts, one per attribute they differ in ("What color
    are <bo> and <kip>?" → "red and blue"). The wrong option is the right one swapped ("blue and red"),
    so only knowing which concept is which answers it. `yo eval`'s pair_qa.json form."""
    (a, b), (first, second) = names, subjects

    def said(subject: Subject, attribute: str) -> str:
        value = getattr(subject, attribute)
        return _an(value) if attribute == "accessory" else value

    out = []
    for attribute in first.differences(second):
        question = _PAIR_ASKS[attribute].format(a=f"<{a}>", b=f"<{b}>", acc_a=first.accessory, acc_b=second.accessory)
        right = f"{said(first, attribute)} and {said(second, attribute)}"
        options = [right, f"{said(second, attribute)} and {said(first, attribute)}"]
        rng.shuffle(options)
        out.append({"concepts": [a, b], "kind": "attribute", "attribute": attribute, "question": question,
                    "options": options, "answer": options.index(right)})
    return out


def together_qa(photo: str, present: list[str], names: list[str], rng: random.Random) -> list[dict[str, Any]]:
    """"Is <bo> next to <kip> in this photo?" about a crowded photo (two to four toys, so any two in it are
    side by side), for every two concepts of `names` at least one of which is in it: "Yes" exactly when
    both are. `yo eval`'s pair_qa.json form."""
    out = []
    for a, b in itertools.combinations(names, 2):
        if a not in present and b not in present:
            continue
        if rng.random() < 0.5:
            a, b = b, a  # either may come first
        out.append({"concepts": [a, b], "kind": "together", "question": f"Is <{a}> next to <{b}> in this photo?",
                    "options": [phrasings.YES_WORD, phrasings.NO_WORD],
                    "answer": 0 if a in present and b in present else 1, "image": photo})
    return out


# ---------------------------------------------------------------- descriptions for matching


def partial_description(subject: Subject, keep: set[str]) -> str:
    """A description naming only the attributes in `keep` ("a red toy with a hat")."""
    words = [w for a, w in (("colour", subject.colour), ("shape", subject.shape)) if a in keep]
    text = "a " + " ".join(words + [KIND]) if words else f"a {KIND}"
    if "accessory" in keep:
        colour = [subject.accessory_colour] if "accessory_colour" in keep else []
        text += " with " + _an(" ".join(colour + [subject.accessory]))
    return text


def _answer(template: str, sks: str) -> str:
    return template.format(sks=sks)


# ---------------------------------------------------------------- pretraining samples


class SampleMaker:
    """Draws pretraining samples; all randomness comes from the `rng` given to each call."""

    def __init__(self, negatives_lookalike: float = 0.8, partial: float = 0.25,
                 lookalike_weights: dict[str, float] | None = None, crowds: list[Crowd] | None = None) -> None:
        self.negatives_lookalike = negatives_lookalike  # share of "No" photos that are look-alikes
        self.partial = partial  # share of match questions that name only some attributes
        # how often a look-alike differs in each attribute (None: all equally often)
        self.lookalike_weights = lookalike_weights
        self.crowds = crowds  # the crowded photos to ask about (a photo bank's); None: fresh ones
        self.makers: dict[str, Callable[[random.Random], Sample]] = {
            "attribute": self.attribute, "describe": self.describe, "check": self.check, "verify": self.verify,
            "match": self.match, "named_match": self.named_match, "named_text": self.named_text,
            "crowd_match": self.crowd_match, "crowd_named_match": self.crowd_named_match,
        }

    def __call__(self, task: str, rng: random.Random) -> Sample:
        return self.makers[task](rng)

    def attribute(self, rng: random.Random) -> Sample:
        subject = random_subject(rng)
        questions = [q for q in attribute_questions(subject) if q[0] != "description"]
        # the four attributes equally often; the questions with a fixed answer now and then
        pick = rng.choice(list(ATTRIBUTES) + ["other"] * (rng.random() < 0.2))
        _, question, answer = rng.choice([q for q in questions if q[0] == pick])
        return Sample("attribute", question, answer, subject)

    def describe(self, rng: random.Random) -> Sample:
        subject = random_subject(rng)
        _, question, answer = rng.choice([q for q in attribute_questions(subject) if q[0] == "description"])
        return Sample("describe", question, answer, subject)

    def check(self, rng: random.Random) -> Sample:
        """One attribute, yes or no: "Is the toy red?" — the first step towards matching."""
        subject = random_subject(rng)
        attribute = rng.choice(list(ATTRIBUTES))
        value = getattr(subject, attribute)
        same = rng.random() < 0.5
        if not same:
            value = rng.choice([v for v in ATTRIBUTES[attribute] if v != value])
        acc = subject.accessory
        question = {
            "colour": f"Is the toy {value}?",
            "shape": f"Is the toy {value}?",
            "accessory": f"Is the toy wearing {_an(value)}?",
            "accessory_colour": f"Is the toy's {acc} {value}?",
        }[attribute]
        return Sample("check", question, phrasings.YES_WORD if same else phrasings.NO_WORD, subject)

    def verify(self, rng: random.Random) -> Sample:
        """Word by word: "Which words are true of the toy: red round black hat?" → "red yes round no ...".

        The verdict comes right after its word, so the model learns to compare a word it is
        looking at with the photo — the building block of matching a description, learned
        far faster than a single yes/no for a whole description.
        """
        subject = random_subject(rng)
        words = []
        for attribute in ATTRIBUTES:
            value = getattr(subject, attribute)
            if rng.random() < 0.5:
                value = rng.choice([v for v in ATTRIBUTES[attribute] if v != value])
            words.append((value, value == getattr(subject, attribute)))
        rng.shuffle(words)
        question = "Check the words against the toy."
        answer = " ".join(f"{w} {'yes' if ok else 'no'}" for w, ok in words)
        return Sample("verify", question, answer, subject)

    def _not(self, subject: Subject, rng: random.Random) -> Subject:
        """Another toy than `subject`: mostly a look-alike of it (`negatives_lookalike`), else any."""
        if rng.random() < self.negatives_lookalike:
            attribute = None
            if self.lookalike_weights:
                names = list(self.lookalike_weights)
                attribute = rng.choices(names, [self.lookalike_weights[n] for n in names])[0]
            return random_lookalike(subject, rng, attribute)
        other = random_subject(rng)
        while other == subject:
            other = random_subject(rng)
        return other

    def _pair(self, rng: random.Random) -> tuple[Subject, Subject, bool]:
        """(described subject, subject in the photo, whether they are the same)."""
        described = random_subject(rng)
        if rng.random() < 0.5:
            return described, described, True
        return described, self._not(described, rng), False

    def _crowd_pair(self, rng: random.Random) -> tuple[Subject, Crowd, bool]:
        """(described subject, the toys in a crowded photo, whether it is one of them): half the time one
        of them, else mostly a look-alike of one of them that is not there."""
        crowd = rng.choice(self.crowds) if self.crowds else random_crowd(rng)
        if rng.random() < 0.5:
            return rng.choice(crowd), crowd, True
        described = self._not(rng.choice(crowd), rng)
        while described in crowd:
            described = self._not(rng.choice(crowd), rng)
        return described, crowd, False

    def match(self, rng: random.Random) -> Sample:
        described, shown, same = self._pair(rng)
        if rng.random() < self.partial:
            keep = set(rng.sample(list(ATTRIBUTES), rng.randint(1, 3)))
            if "accessory_colour" in keep:
                keep.add("accessory")
            text = partial_description(described, keep)
            same = all(getattr(described, a) == getattr(shown, a) for a in keep)
        else:
            text = described.description()
        question = rng.choice(phrasings.RECOGNITION_QUESTIONS).format(sks=text)
        return Sample("match", question, phrasings.YES_WORD if same else phrasings.NO_WORD, shown)

    def named_match(self, rng: random.Random) -> Sample:
        described, shown, same = self._pair(rng)
        return self._named("named_match", described, shown, same, rng)

    def crowd_match(self, rng: random.Random) -> Sample:
        described, crowd, there = self._crowd_pair(rng)
        question = rng.choice(phrasings.RECOGNITION_QUESTIONS).format(sks=described.description())
        return Sample("crowd_match", question, phrasings.YES_WORD if there else phrasings.NO_WORD, crowd,
                      described=described)

    def crowd_named_match(self, rng: random.Random) -> Sample:
        described, crowd, there = self._crowd_pair(rng)
        return self._named("crowd_named_match", described, crowd, there, rng)

    def _named(self, task: str, described: Subject, photo: Subject | Crowd, there: bool,
               rng: random.Random) -> Sample:
        """The concept prompt defining a name as `described`, then a recognition question about the name."""
        name = rng.choice(NAMES)
        prompt = phrasings.DESCRIPTION_PROMPT.format(sks=name, description=described.description())
        question = rng.choice(phrasings.RECOGNITION_QUESTIONS).format(sks=name)
        answer = rng.choice(phrasings.YES_ANSWERS if there else phrasings.NO_ANSWERS).format(sks=name)
        return Sample(task, f"{prompt} {question}", answer, photo, name, described)

    def named_text(self, rng: random.Random) -> Sample:
        subject = random_subject(rng)
        name = rng.choice(NAMES)
        prompt = phrasings.DESCRIPTION_PROMPT.format(sks=name, description=subject.description())
        questions = attribute_questions(subject, sks=name)
        pick = rng.choice(list(ATTRIBUTES) + ["description"])
        _, question, answer = rng.choice([q for q in questions if q[0] == pick])
        return Sample("named_text", f"{prompt} {question}", answer, None, name)


def vocabulary_corpus() -> list[str]:
    """Lines holding every word the world uses, for the tiny model's tokenizer (`corpus=` override)."""
    rng = random.Random(0)
    maker = SampleMaker()
    lines = [" ".join(SHAPES + COLOURS + ACCESSORIES + ACCESSORY_COLOURS + (KIND,))]
    lines += [f"{name} is here. Is {name} in this photo? {name.capitalize()} is {name}'s." for name in NAMES]
    for _ in range(600):
        sample = maker(rng.choice(TASKS), rng)
        lines.append(f"{sample.text} {sample.answer}")
    return lines
