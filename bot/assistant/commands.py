"""Every command Yo knows, declared once.

Each `Command` says its name, its typed arguments, the one line /help shows for it, who
sees it in a chat's command menu, and the `Kind` of intent it makes. Everything else is
generated from `COMMANDS`: the text parser's command words (intents.py), /help and the
admins' help (texts.py), Telegram's command menus per kind of chat (bot/telegram/app.py)
and Discord's slash commands with typed options (bot/discord/commands.py).
"""

from __future__ import annotations

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


# Telegram cuts a message at 4096 characters; a little under that fits every transport's own
# limit and keeps a question's cost small (its prompt grows with its length and its mentions).
MAX_QUESTION_CHARS = 4000
# The most photos one message may bring (the most Yo keeps of a concept is YO_MAX_PHOTOS, 10 by default).
PHOTOS_PER_MESSAGE = 10
MAX_DRAWINGS = 4  # pictures per /draw
MAX_SEED = 999_999_999  # nine digits, as the text form "/draw Bo seed 7" takes
MAX_NAME_LENGTH = 32  # a concept's name (names.py says what else a name must be)


class Audience(Enum):
    """Whose command menu shows a command (every command works wherever it is typed)."""

    EVERYONE = "everyone"
    PRIVATE = "private"  # private chats (Telegram) and DMs with the bot (Discord)
    GROUPS = "groups"  # groups (Telegram) and servers (Discord)
    ADMINS = "admins"  # the bot's admins (YO_ADMINS): in no menu, in /help for them only


class ArgType(Enum):
    CONCEPT = "concept"  # the name of one of the user's concepts (Discord offers their names)
    NAME = "name"  # a name for a new concept
    TEXT = "text"  # free text
    INTEGER = "integer"  # a whole number in [low, high]
    PHOTOS = "photos"  # up to `high` photos (Discord: one attachment option each)
    ACCOUNT = "account"  # someone on a platform: telegram:12345, discord:1234


@dataclass(frozen=True)
class Argument:
    name: str
    type: ArgType
    description: str
    required: bool = False
    low: int | None = None  # INTEGER: the range; PHOTOS: up to `high`
    high: int | None = None

    @property
    def max_length(self) -> int | None:
        """The longest text this argument takes (names are short; texts fit one message)."""
        if self.type in (ArgType.CONCEPT, ArgType.NAME):
            return MAX_NAME_LENGTH
        if self.type in (ArgType.TEXT, ArgType.ACCOUNT):
            return MAX_QUESTION_CHARS // 2  # so that all of a command's texts fit together
        return None


@dataclass(frozen=True)
class Command:
    name: str
    kind: Kind
    help: str  # one line, for /help and the menus (at most 100 characters, Discord's limit)
    example: str = ""  # what follows the command in /help: "/forget Bo"
    arguments: tuple[Argument, ...] = ()
    audience: Audience = Audience.EVERYONE
    aliases: tuple[str, ...] = ()  # other words typed for it: /list is /concepts
    private: bool = False  # answers only the asker should see (Discord: ephemeral in a server)

    @property
    def usage(self) -> str:
        return f"/{self.name} {self.example}".rstrip()

    def argument(self, name: str) -> Argument:
        return next(a for a in self.arguments if a.name == name)


def _concept(description: str = "Which one of yours") -> Argument:
    return Argument("name", ArgType.CONCEPT, description, required=True)


COMMANDS: tuple[Command, ...] = (
    Command("start", Kind.START, "Say hello", audience=Audience.PRIVATE),
    Command("help", Kind.HELP, "What I can do"),
    Command("teach", Kind.TEACH, "Teach me someone: then send 3–10 photos and /done", "Bo",
            (Argument("name", ArgType.NAME, "What to call them, e.g. Bo", required=True),
             Argument("photos", ArgType.PHOTOS, "A photo of them", high=PHOTOS_PER_MESSAGE))),
    Command("done", Kind.DONE, "Finish sending photos and start learning"),
    Command("cancel", Kind.CANCEL, "Stop teaching without keeping anything"),
    Command("ask", Kind.ASK, "Ask me something, about a photo or someone I know", "is Bo in this?",
            (Argument("text", ArgType.TEXT, "Your question, e.g. is Bo in this?", required=True),
             Argument("photo", ArgType.PHOTOS, "A photo to ask about", high=1))),
    Command("who", Kind.WHO, "Who of yours is in the photo sent with it",
            arguments=(Argument("photo", ArgType.PHOTOS, "The photo", high=1),)),
    Command("remember", Kind.REMEMBER, "Keep a fact and use it with every question about them",
            "Bo's birthday is 3 May",
            (Argument("text", ArgType.TEXT, "The fact, e.g. Bo's birthday is 3 May", required=True),)),
    Command("draw", Kind.DRAW, "Draw 1–4 pictures (the same seed, the same pictures)", "3 Bo on a beach seed 7",
            (Argument("text", ArgType.TEXT, "What to draw, e.g. Bo on a beach", required=True),
             Argument("count", ArgType.INTEGER, "How many pictures", low=1, high=MAX_DRAWINGS),
             Argument("seed", ArgType.INTEGER, "The same seed draws the same pictures", low=0, high=MAX_SEED))),
    Command("concepts", Kind.CONCEPTS, "Who and what I know of yours", aliases=("list",), private=True),
    Command("describe", Kind.DESCRIBE, "Correct how I describe one", "Bo a small tan corgi",
            (_concept(), Argument("text", ArgType.TEXT, "How to describe them", required=True)), private=True),
    Command("rename", Kind.RENAME, "Rename one of yours", "Bo Bobby",
            (_concept(), Argument("new", ArgType.NAME, "The new name", required=True)), private=True),
    Command("forget", Kind.FORGET, "Forget one: its photos, tokens and notes (asks first)", "Bo",
            (_concept(),), private=True),
    Command("share", Kind.SHARE, "Let this group use one of yours", "Bo", (_concept(),), Audience.GROUPS),
    Command("unshare", Kind.UNSHARE, "Make one private again", "Bo", (_concept(),), Audience.GROUPS),
    Command("stop", Kind.STOP, "Stop a training run"),
    Command("forgetme", Kind.FORGET_ME, "Delete everything I keep about you (asks first)",
            audience=Audience.PRIVATE, private=True),
    # Only as commands, so that their words stay free as concepts' names (a dog may be called Status).
    Command("status", Kind.STATUS, "The training queue, workers, users, concepts and disk used",
            audience=Audience.ADMINS, private=True),
    Command("pause", Kind.PAUSE, "Stop training (running ones finish)", audience=Audience.ADMINS),
    Command("resume", Kind.RESUME, "Start training again", audience=Audience.ADMINS),
    Command("block", Kind.BLOCK, "Shut someone out", "telegram:12345",
            (Argument("who", ArgType.ACCOUNT, "platform:id, e.g. telegram:12345", required=True),),
            Audience.ADMINS),
    Command("unblock", Kind.UNBLOCK, "Let someone back in", "telegram:12345",
            (Argument("who", ArgType.ACCOUNT, "platform:id, e.g. telegram:12345", required=True),),
            Audience.ADMINS),
)

BY_WORD: dict[str, Command] = {word: c for c in COMMANDS for word in (c.name, *c.aliases)}
BY_KIND: dict[Kind, Command] = {c.kind: c for c in COMMANDS}
ADMIN_KINDS = frozenset(c.kind for c in COMMANDS if c.audience is Audience.ADMINS)


def user_commands() -> list[Command]:
    """The commands everyone may use, in the table's order."""
    return [c for c in COMMANDS if c.audience is not Audience.ADMINS]


def admin_commands() -> list[Command]:
    return [c for c in COMMANDS if c.audience is Audience.ADMINS]


def menu(*, groups: bool) -> list[Command]:
    """A chat menu's commands: private chats' or groups' (admins' commands are in neither)."""
    shown = Audience.GROUPS if groups else Audience.PRIVATE
    return [c for c in COMMANDS if c.audience in (Audience.EVERYONE, shown)]


def help_lines(commands: list[Command]) -> str:
    return "\n".join(f"{c.usage} — {c.help}" for c in commands)


def words_of(command: Command, values: dict[str, str | int]) -> str:
    """The words among typed arguments, in the table's order: what a handler that takes words
    alone reads (/forget's name, /remember's fact), and what the message-length bound measures."""
    return " ".join(str(values[a.name]) for a in command.arguments
                    if a.type not in (ArgType.PHOTOS, ArgType.INTEGER) and values.get(a.name) not in (None, ""))
