"""The words of the training conversations (docs/method.md §7).

`{sks}` stands for the concept's identifier token. The first word of every answer to a
recognition question is "Yes" or "No": recognition reads its probability off the logits
of those two words, so they must stay the answers' first words.
"""

from __future__ import annotations

YES_WORD = "Yes"
NO_WORD = "No"

RECOGNITION_QUESTIONS: tuple[str, ...] = (
    "Is {sks} in this photo?",
    "Can you see {sks} in this image?",
    "Is {sks} in this picture?",
    "Do you see {sks} here?",
    "Is {sks} present in this photo?",
    "Does this photo show {sks}?",
    "Does this image contain {sks}?",
    "Is there {sks} in this picture?",
    "Can you find {sks} in this photo?",
    "Is {sks} visible in this image?",
    "Is {sks} shown in this picture?",
    "Do you recognise {sks} in this photo?",
    "Is this {sks}?",
    "Does {sks} appear in this image?",
    "Is {sks} anywhere in this photo?",
    "Can you spot {sks} in this picture?",
    "Is {sks} part of this image?",
    "Would you say {sks} is in this photo?",
    "Is {sks} pictured here?",
    "Does this picture include {sks}?",
    "Is {sks} in the image?",
    "Is {sks} captured in this photo?",
    "Can {sks} be seen in this picture?",
    "Have you spotted {sks} in this image?",
    "Is {sks} featured in this photo?",
    "Do I see {sks} in this picture?",
    "Is that {sks} in the photo?",
    "Look at this photo: is {sks} in it?",
    "Is {sks} one of the things in this image?",
    "Tell me if {sks} is in this photo.",
    "Check whether {sks} is in this picture.",
    "Is {sks} here?",
)

# The recogniser (and the trainer's check of the training photos) asks a photo these questions and
# averages their log-odds, so that no one phrasing's quirks decide: on the toy-world stand-in,
# weighted recognition over six seeds went from 0.881 (the first alone) to 0.919. They share the
# photo's prefix in one row, so four cost little more than one (a few dozen tokens each beside
# hundreds of image tokens).
RECOGNITION_ASKED: tuple[str, ...] = RECOGNITION_QUESTIONS[:4]

YES_ANSWERS: tuple[str, ...] = (
    "Yes, {sks} is in this photo.",
    "Yes, I can see {sks} in this image.",
    "Yes, {sks} is here.",
    "Yes, this is {sks}.",
    "Yes, {sks} appears in this picture.",
    "Yes, I recognise {sks} in this photo.",
)

NO_ANSWERS: tuple[str, ...] = (
    "No, {sks} is not in this photo.",
    "No, I cannot see {sks} in this image.",
    "No, {sks} is not here.",
    "No, this is not {sks}.",
    "No, {sks} does not appear in this picture.",
    "No, I do not see {sks} in this photo.",
)

# Attribute questions (docs/method.md §7, text-only QA): asked of the base model about the subject
# in the photo ("the ..." form), then trained with the identifier and without the photo.
THING_QUESTIONS: tuple[tuple[str, str], ...] = (
    ("What color is the {kind} in this photo?", "What color is {sks}?"),
    ("What kind of {kind} is in this photo?", "What kind of {kind} is {sks}?"),
    ("What shape is the {kind} in this photo?", "What shape is {sks}?"),
    ("How big is the {kind} in this photo?", "How big is {sks}?"),
    ("What is the {kind} in this photo made of?", "What is {sks} made of?"),
    ("What pattern does the {kind} in this photo have?", "What pattern does {sks} have?"),
    ("Describe the {kind} in this photo.", "Describe {sks}."),
    ("What is special about the {kind} in this photo?", "What is special about {sks}?"),
    ("What does the {kind} in this photo look like?", "What does {sks} look like?"),
    ("Where is the {kind} in this photo?", "Where is {sks} usually?"),
)

PERSON_QUESTIONS: tuple[tuple[str, str], ...] = (
    ("What color is the hair of the person in this photo?", "What color is the hair of {sks}?"),
    ("What is the person in this photo wearing?", "What does {sks} usually wear?"),
    ("Does the person in this photo wear glasses?", "Does {sks} wear glasses?"),
    ("How old does the person in this photo look?", "How old does {sks} look?"),
    ("Is the person in this photo a man or a woman?", "Is {sks} a man or a woman?"),
    ("What is the skin tone of the person in this photo?", "What is the skin tone of {sks}?"),
    ("Does the person in this photo have a beard?", "Does {sks} have a beard?"),
    ("What hairstyle does the person in this photo have?", "What hairstyle does {sks} have?"),
    ("Describe the person in this photo.", "Describe {sks}."),
    ("What is the expression of the person in this photo?", "What is the usual expression of {sks}?"),
)

PERSON_WORDS = frozenset({"person", "man", "woman", "boy", "girl", "child", "baby", "kid", "friend",
                          "people", "human", "he", "she", "mother", "father", "mom", "dad"})

CONCEPT_PROMPT = "{sks} is {latents}."
DESCRIPTION_PROMPT = "{sks} is {description}."
FACT_PREFIX = "Facts about {sks}: "
DESCRIBE_QUESTION = "Describe the main subject of this photo in one short sentence."


def attribute_questions(category: str) -> tuple[tuple[str, str], ...]:
    """The question set for a category: people get their own, everything else the things' set."""
    words = set(category.lower().split())
    if words & PERSON_WORDS:
        return PERSON_QUESTIONS
    kind = category.strip() or "subject"
    return tuple((ask.replace("{kind}", kind), train.replace("{kind}", kind)) for ask, train in THING_QUESTIONS)
