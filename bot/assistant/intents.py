"""What a message asks for, decided from its text alone (commands and plain English).

Names of concepts are found later against the user's own concepts; here a free-text
message is only sorted into a kind by its wording, with `{}` standing for any name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    START = "start"
    HELP = "help"
    TEACH = "teach"  # /teach NAME, "this is NAME" with photos
    DONE = "done"
    CANCEL = "cancel"
    CONCEPTS = "concepts"
    FORGET = "forget"
    DESCRIBE = "describe"
    FORGET_ME = "forget_me"
    RENAME = "rename"
    SHARE = "share"
    UNSHARE = "unshare"
    DRAW = "draw"
    STOP = "stop"
    REMEMBER = "remember"  # "remember that Bo's birthday is 3 May"
    NOT_THIS = "not_this"  # "that's not Bo" about a photo
    RECOGNISE = "recognise"  # "is Bo in this?"
    WHO = "who"  # "who is in this photo?"
    ASK = "ask"  # anything else
    UNKNOWN_COMMAND = "unknown_command"
    # The bot's admins' (YO_ADMINS) commands.
    STATUS = "status"
    PAUSE = "pause"
    RESUME = "resume"
    BLOCK = "block"  # /block telegram:12345
    UNBLOCK = "unblock"


COMMANDS = {
    "start": Kind.START, "help": Kind.HELP, "teach": Kind.TEACH, "done": Kind.DONE,
    "cancel": Kind.CANCEL, "concepts": Kind.CONCEPTS, "list": Kind.CONCEPTS, "forget": Kind.FORGET, "describe": Kind.DESCRIBE, "forgetme": Kind.FORGET_ME,
    "rename": Kind.RENAME, "share": Kind.SHARE, "unshare": Kind.UNSHARE, "draw": Kind.DRAW,
    "stop": Kind.STOP, "remember": Kind.REMEMBER, "ask": Kind.ASK, "who": Kind.WHO,
}
# Only as commands, so they stay free as concepts' names (a dog may be called Status).
ADMIN_COMMANDS = {
    "status": Kind.STATUS, "pause": Kind.PAUSE, "resume": Kind.RESUME, "block": Kind.BLOCK,
    "unblock": Kind.UNBLOCK,
}
ADMIN_KINDS = frozenset(ADMIN_COMMANDS.values())

# Telegram cuts a message at 4096 characters; a little under that fits every transport's own
# limit and keeps a question's cost small (its prompt grows with its length and its mentions).
MAX_QUESTION_CHARS = 4000


@dataclass(frozen=True)
class Intent:
    kind: Kind
    argument: str = ""  # the text after a command, or the message text
    command: str = ""  # the command word as typed, for "unknown command" replies


_COMMAND = re.compile(r"^/(\w+)(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)
_TEACH = re.compile(r"^(?:this is|these are|meet|here is|here's|here are)\s+(.+?)[.!]*$", re.IGNORECASE)
_NOT_THIS = re.compile(r"\b(?:that|this|it)(?:'s|’s| is)\s+not\b|\bisn'?t\b|\bnot\s+\w", re.IGNORECASE)
_RECOGNISE = re.compile(r"^(?:is|are|do you see|can you see|is this|is that|does this show)\b.*\b(?:in|on|here|this|there)\b",
                        re.IGNORECASE)
_WHO = re.compile(r"^(?:who|which of)\b|\bwho(?:'s| is| are)\b", re.IGNORECASE)
_DRAW = re.compile(r"^(?:draw|paint|sketch|imagine|make (?:a|an) (?:picture|image|drawing) of)\b\s*(.*)$",
                   re.IGNORECASE | re.DOTALL)
_REMEMBER = re.compile(r"^(?:remember|note|fyi|keep in mind)(?:\s+that)?[:,]?\s+(.+)$", re.IGNORECASE | re.DOTALL)
_DONE_WORDS = {"done", "that's all", "thats all", "finished", "that's it", "ok done"}
_CANCEL_WORDS = {"cancel", "never mind", "nevermind", "stop teaching"}
# Words that already mean something to the assistant, so can't be a concept's name.
COMMAND_WORDS = frozenset(COMMANDS) | _DONE_WORDS | _CANCEL_WORDS


def parse(text: str, *, has_photo: bool) -> Intent:
    """Sort a message into an intent; names inside it are resolved by the caller."""
    text = text.strip()
    command = _COMMAND.match(text)
    if command:
        word = command.group(1).lower()
        argument = (command.group(2) or "").strip()
        kind = COMMANDS.get(word) or ADMIN_COMMANDS.get(word)
        if kind is None:
            return Intent(Kind.UNKNOWN_COMMAND, argument, command=word)
        return Intent(kind, argument, command=word)
    lowered = text.lower().rstrip(" .!")
    if lowered in _DONE_WORDS:
        return Intent(Kind.DONE)
    if lowered in _CANCEL_WORDS:
        return Intent(Kind.CANCEL)
    if (m := _REMEMBER.match(text)):
        return Intent(Kind.REMEMBER, m.group(1).strip())
    if (m := _DRAW.match(text)):
        return Intent(Kind.DRAW, m.group(1).strip())
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
