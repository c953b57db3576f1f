"""Longer texts the assistant sends."""

HELP = """\
I'm Yo. Show me someone or something a few times and I'll know them.

Teach me: /teach Bo, then send 3–10 photos of Bo, then /done.
Ask: "is Bo in this?" with a photo, or "what should I get Bo for his birthday?"
Who's here: send a photo with no caption, or ask "who is in this?"
Remember: "remember that Bo's birthday is 3 May"
Draw: /draw Bo on a beach

/concepts — what I know · /forget Bo · /rename Bo Bobby
/describe Bo a small tan corgi — correct how I describe Bo
/share Bo — let this group use Bo · /stop — stop a training run
/cancel — stop teaching without keeping anything
/forgetme — delete everything I keep about you"""

WELCOME = "Hi! " + HELP

# Shown after HELP to the bot's admins (YO_ADMINS) only.
ADMIN_HELP = """\
For admins:
/status — the training queue, workers, users, concepts and disk used
/pause · /resume — stop and restart training (running ones finish)
/block telegram:12345 · /unblock telegram:12345 — shut someone out or let them back in"""

ADMINS_ONLY = "That's for the bot's admins."

# To someone not on YO_ALLOWED_USERS, or blocked: at most once an hour.
REFUSED = ("Sorry, I'm a private assistant and can't help you here. "
           "If you think you should have access, ask the person who runs me.")


def too_long(length: int, limit: int) -> str:
    return f"That message is too long for me ({length:,} characters); please keep it under {limit:,}."
