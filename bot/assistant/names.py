"""Concept names: what a valid name is, its normalised key, and finding names in text.

A name is shown to users as typed ("Mắm"), stored under a key that ignores case and
accents ("mam") and reads letters that look Latin as Latin (Cyrillic "Во" is "bo", so one
user can't hold both it and "Bo"), and found in free text by that key ("is MAM's toy
here?"). Invisible characters and the assistant's own command words are refused. Names can
never carry markup or control tokens (`<image>`, `</s>`, `[INST]`): the characters those
need are not allowed in a name at all.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Generic, Iterable, Sequence, TypeVar

from .commands import MAX_NAME_LENGTH
from .intents import COMMAND_WORDS

# Letters and digits of any script, spaces, and the punctuation real names use.
_ALLOWED_PUNCTUATION = set(" -'’._")
# Words that would make every sentence mention the concept.
_RESERVED = {"this", "that", "these", "those", "it", "me", "you", "who", "what", "yes", "no",
             "i", "a", "an", "the", "is", "in", "my", "photo", "picture", "yo"}
# Characters that draw nothing, so "Bo" + one of them looks like "Bo" and one alone like no name:
# Unicode's Default_Ignorable_Code_Point (the Hangul fillers among them), and the blank braille cell.
_INVISIBLE = [(0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
              (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x2800, 0x2800),
              (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8),
              (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF)]


class InvalidName(ValueError):
    """str() is a friendly reason, fit to show the user."""


def _invisible(ch: str) -> bool:
    return any(low <= ord(ch) <= high for low, high in _INVISIBLE)


@cache
def _look_alikes() -> dict[str, str]:
    """Letters of other scripts that look like a Latin letter or digit -> that character
    ("В" -> "B", "о" -> "o"), from Unicode's confusables (UTS #39) as confusable_homoglyphs ships them.
    Built on first use: the package reads 0.9 MB of JSON when imported."""
    from confusable_homoglyphs.categories import alias
    from confusable_homoglyphs.confusables import confusables_data

    table: dict[str, str] = {}
    for ch, glyphs in confusables_data.items():
        if len(ch) != 1 or alias(ch) in ("LATIN", "COMMON"):
            continue  # Latin keys never change, so names stored before this keep their key
        targets = sorted(g["c"] for g in glyphs if len(g["c"]) == 1 and g["c"].isascii() and g["c"].isalnum())
        if targets:
            # Unicode's prototype for a bare stroke is "l"; a capital stroke (Cyrillic І) passes for "I".
            table[ch] = "I" if targets[0] == "l" and ch.isupper() else targets[0]
    return table


@lru_cache(maxsize=1 << 16)  # bounded: any text may bring new characters
def _key_of(ch: str) -> str:
    """One character's part of a key: no accents, no case, look-alikes of Latin letters as those letters."""
    if ch.isspace():
        return " "
    out: list[str] = []
    for c in unicodedata.normalize("NFKD", ch):
        if unicodedata.combining(c):
            continue
        for folded in c.casefold():
            # Keys ignore case, so a letter and its capital must fold alike: the capital's
            # look-alike first ("в" as "В" -> "b"), else the small letter's own ("г" -> "r").
            upper = folded.upper()
            alike = _look_alikes().get(upper if len(upper) == 1 else folded) or _look_alikes().get(folded)
            out.append(alike.casefold() if alike else folded)
    return "".join(out).replace("’", "'")


def normalize_name(name: str) -> str:
    """The key a name is stored and matched under: no accents, no case, single spaces, and
    letters that look Latin as those letters ("Во" in Cyrillic is "bo", like "Bo")."""
    return " ".join("".join(map(_key_of, name)).split())


def clean_name(raw: str) -> str:
    """Validate a name the user typed and return it tidied (NFC, single spaces)."""
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    if any(_invisible(ch) for ch in raw):
        raise InvalidName("Names can't contain invisible characters; use letters you can see.")
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
    key = normalize_name(name)
    if not any(ch.isalpha() for ch in key):
        raise InvalidName("A name needs at least one letter.")
    if key in COMMAND_WORDS or re.sub(r"[\s\-_.']", "", key) in COMMAND_WORDS:
        raise InvalidName(f"“{name}” is one of my commands, so it can't be a name (I'd mix them up); "
                          "try another.")
    if key in _RESERVED:
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
        piece = _key_of(ch)
        out.append(piece)
        offsets.extend([index] * len(piece))
    offsets.append(len(text))
    return "".join(out), offsets


def find_mentions(text: str, named: Iterable[tuple[str, T]]) -> list[Mention[T]]:
    """Every mention of the given (name, item) pairs in `text`, left to right.

    Case- and accent-insensitive, whole words only ("Bo" is not found in "Bob"),
    possessives work ("Bo's"), and the longest name wins where names start at the same
    place ("Bo Jr" before "Bo"). Of two names with one key, the first given wins.
    One pass of one pattern over the text, so the cost grows with the text alone.
    """
    by_key: dict[str, T] = {}
    for name, item in named:
        by_key.setdefault(normalize_name(name), item)
    by_key.pop("", None)
    if not by_key or not text:
        return []
    normalised, offsets = _normalised_with_offsets(text)
    # Longest first, since the first alternative that fits wins; any run of spaces between words.
    alternatives = (r"\s+".join(map(re.escape, key.split(" "))) for key in sorted(by_key, key=len, reverse=True))
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")
    return [Mention(by_key[" ".join(match.group().split())], offsets[match.start()], offsets[match.end() - 1] + 1)
            for match in pattern.finditer(normalised)]


def to_segments(text: str, mentions: Sequence[Mention[T]], index_of: dict[T, int]) -> list[str | int]:
    """Split text into literal pieces and concept indices (serving.protocol.Segments)."""
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
