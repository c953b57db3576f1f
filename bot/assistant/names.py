"""Concept names: what a valid name is, its normalised key, and finding names in text.

A name is shown to users as typed ("Mắm"), stored under a key that ignores case and
accents ("mam"), and found in free text by that key ("is MAM's toy here?"). Names can
never carry markup or control tokens (`<image>`, `</s>`, `[INST]`): the characters those
need are not allowed in a name at all.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Generic, Iterable, Sequence, TypeVar

MAX_NAME_LENGTH = 32
# Letters and digits of any script, spaces, and the punctuation real names use.
_ALLOWED_PUNCTUATION = set(" -'’._")
# Words that would make every sentence mention the concept.
_RESERVED = {"this", "that", "these", "those", "it", "me", "you", "who", "what", "yes", "no",
             "i", "a", "an", "the", "is", "in", "my", "photo", "picture", "yo"}


class InvalidName(ValueError):
    """str() is a friendly reason, fit to show the user."""


def normalize_name(name: str) -> str:
    """The key a name is stored and matched under: no accents, no case, single spaces."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().replace("’", "'").split())


def clean_name(raw: str) -> str:
    """Validate a name the user typed and return it tidied (NFC, single spaces)."""
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    if any(unicodedata.category(ch).startswith("C") for ch in raw if ch not in " \t"):
        raise InvalidName("Names can't contain control characters.")
    if not name:
        raise InvalidName("Give it a name, like /teach Bo.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(f"That name is {len(name)} characters long; keep it to {MAX_NAME_LENGTH}.")
    bad = sorted({ch for ch in name if not (ch.isalnum() or ch in _ALLOWED_PUNCTUATION)})
    if bad:
        shown = " ".join(bad[:5])
        raise InvalidName(f"Names can use letters, digits, spaces and - ' . _ only (not {shown}).")
    if not any(ch.isalpha() for ch in name):
        raise InvalidName("A name needs at least one letter.")
    if normalize_name(name) in _RESERVED:
        raise InvalidName(f"“{name}” is too common a word to use as a name; try another.")
    return name


T = TypeVar("T")


@dataclass(frozen=True)
class Mention(Generic[T]):
    item: T
    start: int  # span in the original text
    end: int


def _normalised_with_offsets(text: str) -> tuple[str, list[int]]:
    """The normalised text and, for each of its characters, the index in `text` it came from."""
    out: list[str] = []
    offsets: list[int] = []
    for index, ch in enumerate(text):
        piece = normalize_name(ch) if not ch.isspace() else " "
        if ch == "’":
            piece = "'"
        for p in piece:
            out.append(p)
            offsets.append(index)
    offsets.append(len(text))
    return "".join(out), offsets


def find_mentions(text: str, named: Iterable[tuple[str, T]]) -> list[Mention[T]]:
    """Every mention of the given (name, item) pairs in `text`, left to right.

    Case- and accent-insensitive, whole words only ("Bo" is not found in "Bob"),
    possessives work ("Bo's"), and the longest name wins where names overlap
    ("Bo Jr" before "Bo").
    """
    normalised, offsets = _normalised_with_offsets(text)
    candidates = sorted(((normalize_name(n), item) for n, item in named), key=lambda p: -len(p[0]))
    taken = [False] * len(normalised)
    found: list[Mention[T]] = []
    for key, item in candidates:
        if not key:
            continue
        pattern = re.compile(r"(?<![\w])" + re.escape(key) + r"(?![\w])")
        for match in pattern.finditer(normalised):
            s, e = match.span()
            if any(taken[s:e]):
                continue
            for i in range(s, e):
                taken[i] = True
            found.append(Mention(item, offsets[s], offsets[e - 1] + 1))
    return sorted(found, key=lambda m: m.start)


def to_segments(text: str, mentions: Sequence[Mention[T]], index_of: dict[T, int]) -> list[str | int]:
    """Split text into literal pieces and concept indices (personalization.protocol.Segments)."""
    segments: list[str | int] = []
    cursor = 0
    for mention in mentions:
        if mention.start > cursor:
            segments.append(text[cursor:mention.start])
        segments.append(index_of[mention.item])
        cursor = mention.end
    if cursor < len(text):
        segments.append(text[cursor:])
    return segments
