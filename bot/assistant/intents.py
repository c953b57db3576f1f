"""What a message asks for, decided from its text alone (commands and plain English).

Names of concepts are found later against the user's own concepts; here a free-text
message is only sorted into a kind by its wording, with `{}` standing for any name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


# `Kind` and the command table live in commands.py; intents are made of them.
from .commands import ADMIN_KINDS, BY_WORD, MAX_DRAWINGS, MAX_QUESTION_CHARS, Audience, Command, Kind, words_of

__all__ = ["ADMIN_KINDS", "COMMANDS", "COMMAND_WORDS", "MAX_QUESTION_CHARS", "TOGETHER", "Intent", "Kind", "parse"]


@dataclass(frozen=True)
class Intent:
    kind: Kind
    argument: str = ""  # the words after a command, or the message text
    command: str = ""  # the command word as typed, for "unknown command" replies
    # The command's arguments by name, typed: a Discord slash command's options, or what the
    # words alone tell (/draw's count and seed). Handlers take these before reading the words.
    values: dict[str, str | int] = field(default_factory=dict, hash=False)

    @classmethod
    def of_command(cls, command: Command, values: dict[str, str | int]) -> Intent:
        """The intent of `command` given with typed arguments: nothing to parse."""
        given = {name: value for name, value in values.items() if value is not None and value != ""}
        return cls(command.kind, words_of(command, given), command=command.name, values=given)


_DRAW_OPTIONS = re.compile(rf"^(?:(?P<count>[1-{MAX_DRAWINGS}])\s+(?:pictures?\s+of\s+|images?\s+of\s+)?)?"
                           r"(?P<text>.*?)(?:\s+seed\s+(?P<seed>\d{1,9}))?$", re.IGNORECASE | re.DOTALL)


def draw_values(words: str) -> dict[str, str | int]:
    """"3 pictures of Bo on a beach seed 7" → {"text": "Bo on a beach", "count": 3, "seed": 7}:
    /draw's typed arguments, as the words give them."""
    match = _DRAW_OPTIONS.match(words.strip())
    assert match is not None  # the pattern matches any text
    values: dict[str, str | int] = {"text": match.group("text").strip(), "count": int(match.group("count") or 1)}
    if match.group("seed"):
        values["seed"] = int(match.group("seed"))
    return values


_COMMAND = re.compile(r"^/(\w+)(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)
_TEACH = re.compile(r"^(?:this is|these are|meet|here is|here's|here are)\s+(.+?)[.!]*$", re.IGNORECASE)
_NOT_THIS = re.compile(r"\b(?:that|this|it)(?:'s|’s| is)\s+not\b|\bisn'?t\b|\bnot\s+\w", re.IGNORECASE)
# "is Bo next to Kiwi?" about a photo: each one named is recognised on its own, which answers whether
# two are together better than asking the model about both at once (docs/method.md §13).
_TOGETHER_WORDS = r"next to|beside|together"
TOGETHER = re.compile(rf"\b(?:{_TOGETHER_WORDS})\b", re.IGNORECASE)
_RECOGNISE = re.compile(r"^(?:is|are|do you see|can you see|is this|is that|does this show)\b.*"
                        rf"\b(?:in|on|here|this|there|{_TOGETHER_WORDS})\b", re.IGNORECASE)
_WHO = re.compile(r"^(?:who|which of)\b|\bwho(?:'s| is| are)\b", re.IGNORECASE)
_DRAW = re.compile(r"^(?:draw|paint|sketch|imagine|make (?:a|an) (?:picture|image|drawing) of)\b\s*(.*)$",
                   re.IGNORECASE | re.DOTALL)
_REMEMBER = re.compile(r"^(?:remember|note|fyi|keep in mind)(?:\s+that)?[:,]?\s+(.+)$", re.IGNORECASE | re.DOTALL)
_DONE_WORDS = {"done", "that's all", "thats all", "finished", "that's it", "ok done"}
_CANCEL_WORDS = {"cancel", "never mind", "nevermind", "stop teaching"}

COMMANDS = {word: c.kind for word, c in BY_WORD.items() if c.audience is not Audience.ADMINS}
# Words that already mean something to the assistant, so can't be a concept's name (admins'
# command words stay free: a dog may be called Status).
COMMAND_WORDS = frozenset(COMMANDS) | _DONE_WORDS | _CANCEL_WORDS


def parse(text: str, *, has_photo: bool) -> Intent:
    """Sort a message into an intent; names inside it are resolved by the caller."""
    text = text.strip()
    command = _COMMAND.match(text)
    if command:
        word = command.group(1).lower()
        argument = (command.group(2) or "").strip()
        known = BY_WORD.get(word)
        if known is None:
            return Intent(Kind.UNKNOWN_COMMAND, argument, command=word)
        if known.kind is Kind.ASK and argument:  # "/ask is Bo in this?" is the question as if typed alone
            return parse(argument, has_photo=has_photo)
        if known.kind is Kind.DRAW:
            return Intent(Kind.DRAW, argument, command=word, values=draw_values(argument))
        return Intent(known.kind, argument, command=word)
    lowered = text.lower().rstrip(" .!")
    if lowered in _DONE_WORDS:
        return Intent(Kind.DONE)
    if lowered in _CANCEL_WORDS:
        return Intent(Kind.CANCEL)
    if (m := _REMEMBER.match(text)):
        return Intent(Kind.REMEMBER, m.group(1).strip())
    if (m := _DRAW.match(text)):
        return Intent(Kind.DRAW, m.group(1).strip(), values=draw_values(m.group(1)))
    if has_photo:
        if (m := _TEACH.match(text)) and not _NOT_THIS.search(text):
            return Intent(Kind.TEACH, m.group(1).strip())
        if _NOT_THIS.search(text):
            return Intent(Kind.NOT_THIS, text)
        if _WHO.search(text) or not text:
            return Intent(Kind.WHO, text)
        if _RECOGNISE.match(text):
            return Intent(Kind.RECOGNISE, text)
    return Intent(Kind.ASK, text)
