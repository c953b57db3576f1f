"""The user's collection: list, forget, rename, share, facts, and stopping training runs."""

from __future__ import annotations

import asyncio

from storage.errors import ConceptExists
from storage.models import Concept

from .context import Accounts, Services, Turn
from .messages import Button
from .names import InvalidName, clean_name, find_mentions, normalize_name

STATUS_WORDS = {
    "collecting": "collecting photos", "queued": "waiting to train", "training": "training",
    "ready": "ready", "failed": "training failed",
}


async def own_concept(services: Services, turn: Turn, raw_name: str, verb: str) -> Concept | None:
    """The user's own concept by name, or None after telling them why not."""
    if not raw_name.strip():
        await turn.say(f"Which one? Say /{verb} NAME.")
        return None
    concept = await services.store.find_concept(turn.user.id, normalize_name(raw_name))
    if concept is None:
        await turn.say(f"You have no concept called “{raw_name.strip()[:40]}”. /concepts lists yours.")
    return concept


async def list_concepts(services: Services, turn: Turn) -> None:
    store = services.store
    own = await store.list_concepts(turn.user.id)
    lines = []
    for concept in own:
        photos = len(await store.list_photos(concept.id, "positive"))
        status = STATUS_WORDS[concept.status]
        if concept.status in ("queued", "training") and concept.tokens_file:
            status = "ready (refreshing)"
        lines.append(f"• {concept.display_name} — {status}, {photos} photo{'s' if photos != 1 else ''}")
    shared = [c for c in await store.visible_concepts(turn.user.id, turn.chat.id) if c.owner_id != turn.user.id]
    if shared:
        lines.append("Shared into this chat by others:")
        lines.extend(f"• {c.display_name} — {STATUS_WORDS[c.status]}" for c in shared)
    if not lines:
        await turn.say("You haven't taught me anyone yet. Try /teach Bo.")
        return
    await turn.say("\n".join(["Your concepts:" if own else "You have no concepts of your own."] + lines))


async def forget(services: Services, turn: Turn, raw_name: str) -> None:
    concept = await own_concept(services, turn, raw_name, "forget")
    if concept is None:
        return
    await turn.say(f"Forget {concept.display_name}? Its photos, learned tokens and notes will be deleted.",
                   buttons=[[Button(f"Forget {concept.display_name}"[:40], f"forget:{concept.id}"),
                             Button("Keep", "keep")]])


async def confirm_forget(services: Services, turn: Turn, concept_id: int) -> str:
    concept = await services.store.get_concept(concept_id)
    if concept is None or concept.owner_id != turn.user.id:
        return "That concept is gone already."
    job = await services.store.active_job_for_concept(concept.id)
    if job is not None:
        await services.queue.cancel(job.id)
    await services.store.delete_concept(concept.id)
    await _forget_terminal_copies(services, turn, [concept.display_name])
    return f"Forgot {concept.display_name}: photos, tokens and notes are deleted."


async def rename(services: Services, turn: Turn, words: str, old: str | None = None, new: str | None = None) -> None:
    """/rename OLD NEW: the two names typed (a slash command's options), or else read from the words."""
    if old is not None and new is not None:
        concept = await own_concept(services, turn, old, "rename")
        new_raw = new
    else:
        split = await _old_and_new(services, turn, words)
        if split is None:
            return
        concept, new_raw = split
    if concept is None:
        return
    try:
        name = clean_name(new_raw)
        await services.store.rename_concept(concept.id, turn.user.id, name, normalize_name(name))
    except InvalidName as reason:
        await turn.say(str(reason))
        return
    except ConceptExists:
        await turn.say(f"You already have a concept called {new_raw}.")
        return
    await turn.say(f"{concept.display_name} is now called {name}.")


async def _old_and_new(services: Services, turn: Turn, words: str) -> tuple[Concept, str] | None:
    """"Big Bo Bobby" → (the concept Big Bo, "Bobby"): the old name may have spaces, so the longest
    first words that name a concept are it."""
    parts = words.split()
    if len(parts) < 2:
        await turn.say("Say /rename OLD NEW, for example /rename Bo Bobby.")
        return None
    for cut in range(len(parts) - 1, 0, -1):
        concept = await services.store.find_concept(turn.user.id, normalize_name(" ".join(parts[:cut])))
        if concept is not None:
            return concept, " ".join(parts[cut:])
    await turn.say(f"You have no concept called “{parts[0][:40]}”. /concepts lists yours.")
    return None


async def share(services: Services, turn: Turn, raw_name: str, *, undo: bool = False) -> None:
    verb = "unshare" if undo else "share"
    if not turn.chat.is_group:
        await turn.say(f"Use /{verb} NAME inside the group you want to {verb} it with.")
        return
    concept = await own_concept(services, turn, raw_name, verb)
    if concept is None:
        return
    if undo:
        await services.store.unshare_concept(concept.id, turn.chat.id)
        await turn.say(f"{concept.display_name} is private again.")
    else:
        await services.store.share_concept(concept.id, turn.chat.id, turn.user.id)
        await turn.say(shared_here(concept))


async def confirm_share(services: Services, turn: Turn, concept_id: int) -> str:
    """The "Share Bo here" button under a ready message in a group: only Bo's owner may press it."""
    concept = await services.store.get_concept(concept_id)
    if concept is None:
        return "That concept is gone."
    if concept.owner_id != turn.user.id:
        return f"Only the one who taught {concept.display_name} can share it."
    if not turn.chat.is_group:
        return f"Use /share {concept.display_name} inside the group you want to share it with."
    await services.store.share_concept(concept.id, turn.chat.id, turn.user.id)
    return shared_here(concept)


def shared_here(concept: Concept) -> str:
    return f"Everyone here can now ask me about {concept.display_name}. /unshare {concept.display_name} to undo."


async def remember(services: Services, turn: Turn, text: str) -> None:
    own = await services.store.list_concepts(turn.user.id)
    mentions = find_mentions(text, [(c.display_name, c.id) for c in own])
    if not text or not mentions:
        await turn.say("Tell me what to remember about whom, like “remember that Bo's birthday is 3 May”.")
        return
    named = {m.item for m in mentions}
    for concept in own:
        if concept.id in named:
            await services.store.add_fact(concept.id, text[:500])
    names = ", ".join(c.display_name for c in own if c.id in named)
    await turn.say(f"Noted for {names}: “{text[:500]}”")


async def stop(services: Services, turn: Turn) -> None:
    stopped = []
    for concept in await services.store.list_concepts(turn.user.id):
        job = await services.store.active_job_for_concept(concept.id)
        if job is not None and await services.queue.cancel(job.id):
            stopped.append(concept.display_name)
    await turn.say(f"Stopping: {', '.join(stopped)}." if stopped else "Nothing is training right now.")


async def stop_job(services: Services, turn: Turn, job_id: int) -> str:
    job = await services.store.get_job(job_id)
    if job is None or job.user_id != turn.user.id:
        return "That isn't yours to stop."
    if job.state not in ("queued", "running"):
        return "That run has already finished."
    await services.queue.cancel(job.id)
    return "Stopping…"


async def describe(services: Services, turn: Turn, words: str, name: str | None = None,
                   text: str | None = None) -> None:
    """/describe NAME TEXT: the user's own words for the concept, used until (and beside) its tokens.
    The name and the text typed (a slash command's options), or else read from the words."""
    if name is not None and text is not None:
        concept = await own_concept(services, turn, name, "describe")
        if concept is None:
            return
    else:
        own = await services.store.list_concepts(turn.user.id)
        mentions = [m for m in find_mentions(words, [(c.display_name, c) for c in own]) if m.start == 0]
        concept, text = (mentions[0].item, words[mentions[0].end:]) if mentions else (None, "")
    text = text.strip()[:300]
    if concept is None or not text:
        await turn.say("Say /describe NAME and a few words, like /describe Bo a small tan corgi with a red collar.")
        return
    await services.store.set_description(concept.id, text)
    await turn.say(f"Thanks, noted: {concept.display_name} is {text}")


async def forget_me(services: Services, turn: Turn) -> None:
    count = len(await services.store.list_concepts(turn.user.id))
    await turn.say(f"Forget everything about you? Your {count} concept{'s' if count != 1 else ''}, their photos, "
                   "tokens and notes will be deleted.",
                   buttons=[[Button("Forget everything", f"forgetme:{turn.user.id}"), Button("Keep", "keep")]])


async def confirm_forget_me(services: Services, turn: Turn, user_id: int) -> str:
    if user_id != turn.user.id:
        return "Only you can do that for yourself."
    for concept in await services.store.list_concepts(turn.user.id):
        job = await services.store.active_job_for_concept(concept.id)
        if job is not None:
            await services.queue.cancel(job.id)
    await services.store.delete_user(turn.user.id, [] if turn.chat.is_group else [turn.chat.id])
    # A fresh cache, not just without the user: it also held their private chat, whose row is
    # gone and whose id SQLite may give to the next new chat.
    services.accounts = Accounts(services.store)
    await _forget_terminal_copies(services, turn, None)
    return "Done: I've forgotten everything about you."


async def _forget_terminal_copies(services: Services, turn: Turn, names: list[str] | None) -> None:
    """The terminal keeps its own copies (its history, the images it showed): drop those too.
    `names`: the concepts forgotten; None: everything (the user)."""
    from .. import console  # here, not at the top: the console imports the assistant

    if turn.message.platform == console.PLATFORM:
        await asyncio.to_thread(console.forget_copies, services.settings.yo_data_dir, names)
