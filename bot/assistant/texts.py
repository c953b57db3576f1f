"""Longer texts the assistant sends."""

from __future__ import annotations

from .commands import admin_commands, help_lines, user_commands

# The ways of asking that need no command; every command's line comes from the command table.
_HINTS = """\
I'm Yo. Show me someone or something a few times and I'll know them.

Teach me: /teach Bo, then send 3–10 photos of Bo, then /done.
Ask: "is Bo in this?" with a photo, or "what should I get Bo for his birthday?"
Who's here: send a photo with no caption, or ask "who is in this?"
Remember: "remember that Bo's birthday is 3 May"
Tell me I'm wrong: "that's not Bo" with a photo"""

HELP = _HINTS + "\n\n" + help_lines(user_commands())

WELCOME = "Hi! " + HELP

# Shown after HELP to the bot's admins (YO_ADMINS) only.
ADMIN_HELP = "For admins:\n" + help_lines(admin_commands())

ADMINS_ONLY = "That's for the bot's admins."

# To someone not on YO_ALLOWED_USERS, or blocked: at most once an hour.
REFUSED = ("Sorry, I'm a private assistant and can't help you here. "
           "If you think you should have access, ask the person who runs me.")


def too_long(length: int, limit: int) -> str:
    return f"That message is too long for me ({length:,} characters); please keep it under {limit:,}."
