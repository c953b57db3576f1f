"""The assistant's verbs without a chat: `yo teach / ask / draw / concepts / forget / export`.

Each works on the same store as the chat bots, for one user (`--user`: "telegram:42" is that
Telegram user, a bare id one of the terminal's), and returns plain data that the command line
prints (as text, or as JSON with --json). `concepts`, `forget` and `export` need only the store:
no model, no training queue. Only `teach` writes rows for a user it has not seen; the others
read, and a user never seen simply has nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from storage import Store
from storage.models import Concept, User

from .assistant import Assistant, Message, Photo
from .assistant import asking, teaching
from .assistant.intents import Kind, parse
from .assistant.names import normalize_name
from .console import ConsoleChannel

PLATFORM = "console"
PLATFORMS = ("console", "telegram", "discord")
POLL_SECONDS = 0.5  # how often `teach` looks whether its job finished (it may run in another process)


class VerbError(Exception):
    """The verb could not be done; str() is the one-line reason."""


class BadInput(VerbError):
    """A file the verb was given can't be used (missing, unreadable, too big)."""


def account(user: str) -> tuple[str, str]:
    """`--user` as (platform, platform user id): "telegram:42", "discord:1234", or a terminal user."""
    platform, colon, rest = user.partition(":")
    if colon and platform in PLATFORMS and rest:
        return platform, rest
    return PLATFORM, user


async def _known_user(store: Store, user: str) -> User | None:
    return await store.find_user(*account(user))


def _read(path: Path) -> Photo:
    """A photo file as sent (not yet checked as a picture), never reading past the upload limit."""
    from storage.images import BadImage, read_photo_file

    if not path.is_file():
        raise BadInput(f"no such file: {path}")
    try:
        return Photo(read_photo_file(path), path.name)  # the chat uploads' limit: a 2 GB file is never read
    except BadImage as reason:
        raise BadInput(f"{path}: {reason}") from None
    except OSError as error:  # unreadable (permissions) or gone since the check above
        raise BadInput(f"can't read {path}: {error.strerror or error}") from None


async def teach(assistant: Assistant, user: str, name: str, photos: list[Path]) -> dict[str, Any]:
    """Teach NAME from the photos and wait for its training, wherever it runs: this process
    trains this concept (and nothing else), and a bot on the same data folder may take it first."""
    readable: list[tuple[Path, Photo]] = []
    left_out: list[dict[str, str]] = []
    for path in photos:  # a file that can't be read is left out like a photo the assistant refuses
        try:
            readable.append((path, _read(path)))
        except VerbError as reason:
            left_out.append({"photo": str(path), "reason": str(reason)})
    platform, user_id = account(user)
    message = Message(platform, user_id, user_id, text=f"/teach {name}", photos=tuple(p for _, p in readable))
    channel = ConsoleChannel(assistant.services.settings.yo_data_dir / "console-out")
    turn = await assistant._turn(message, channel)
    services = assistant.services
    report = await teaching.teach(services, turn, name) if readable else None
    left_out += [{"photo": str(readable[p.number - 1][0]), "reason": p.reason} for p in (report.left_out if report else [])]
    concept = await assistant.store.find_concept(turn.user.id, normalize_name(name))
    if concept is None or concept.status == "collecting":
        said = " ".join(r.text for r in channel.replies).strip()
        if concept is not None and concept.status == "collecting":
            await assistant.store.delete_concept(concept.id)  # a one-shot teach leaves nothing half done
        reasons = "; ".join(f"{p['photo']}: {p['reason']}" for p in left_out)
        raise VerbError(said or reasons or f"could not teach {name}")
    await services.queue.start(only_concept=concept.id)
    job = await assistant.store.latest_job_for_concept(concept.id)
    while job is not None and job.state in ("queued", "running"):
        await asyncio.sleep(POLL_SECONDS)
        job = await assistant.store.get_job(job.id)
    final = await assistant.store.get_concept(concept.id)
    if final is None:
        raise VerbError(f"{name} was forgotten while it trained")
    result: dict[str, Any] = {"name": final.display_name, "status": final.status}
    if job is not None and job.state != "done":
        result["error"] = job.error or job.state
    if left_out:
        result["left_out"] = left_out
    return result


async def ask(assistant: Assistant, user: str, text: str, image: Path | None) -> dict[str, Any]:
    """Answer a question (about a photo, with `image`) as the chat would; stores nothing.
    `recognition`: each concept looked for in the photo — those the question names, else all of
    the user's — by learned tokens, or by the quick look (`quick_look`) where not trained yet."""
    services = assistant.services
    photo = await asking.sanitized(_read(image)) if image else None
    known = await _known_user(assistant.store, user)
    visible = [] if known is None else await services.store.visible_concepts(known.id, None)
    concepts, segments = asking.named_in(visible, text)
    kind = parse(text, has_photo=photo is not None).kind
    if photo is None:
        answer = await services.models.answer(segments, [await services.concept_ref(c) for c in concepts])
        return {"answer": services.labelled(answer)}
    everyone = kind is Kind.WHO
    found = await asking.look(services, photo, concepts if concepts and not everyone else visible, everyone=everyone)
    if kind is Kind.RECOGNISE and not concepts:
        answer = asking.WHOM_UNCLEAR
    elif kind in (Kind.RECOGNISE, Kind.WHO):  # what the chat says to "is Bo in this?" / "who is in this?"
        said = asking.replies(found, text, everyone=everyone, key=None, label=services.labelled)
        answer = "\n".join(reply.text for reply in said)
    else:
        refs = [await services.concept_ref(c) for c in concepts]
        answer = services.labelled(await services.models.answer(segments, refs, photo))
    return {"answer": answer, "recognition": {c.display_name: {"present": r.present, "probability": r.probability,
                                                               "quick_look": not c.tokens_file}
                                              for c, r in found.answers}}


async def draw(assistant: Assistant, user: str, text: str, out: Path, n: int = 1,
               seed: int | None = None) -> dict[str, Any]:
    """Draw n images; the first goes to OUT, the others beside it (OUT-2.png, …). Stores nothing."""
    services = assistant.services
    known = await _known_user(assistant.store, user)
    visible = [] if known is None else await services.store.visible_concepts(known.id, None)
    concepts, segments = asking.named_in(visible, text)
    refs = [await services.concept_ref(c) for c in concepts]
    images = await services.models.draw(segments, refs, n=n, seed=seed)
    paths = [out] + [out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(2, len(images) + 1)]
    for path, image in zip(paths, images):
        path.write_bytes(image)
    return {"images": [str(p) for p in paths], "concepts": [c.display_name for c in concepts]}


async def concepts(store: Store, user: str) -> list[dict[str, str]]:
    known = await _known_user(store, user)
    return [] if known is None else [{"name": c.display_name, "status": c.status}
                                     for c in await store.list_concepts(known.id)]


async def _own_concept(store: Store, user: str, name: str) -> Concept:
    known = await _known_user(store, user)
    concept = None if known is None else await store.find_concept(known.id, normalize_name(name))
    if concept is None:
        raise VerbError(f"no concept called {name}")
    return concept


async def forget(store: Store, user: str, name: str) -> dict[str, Any]:
    """Delete a concept: rows, photos, tokens. A job waiting for it is cancelled; one training it
    in another process finds it gone when it ends and keeps nothing."""
    concept = await _own_concept(store, user, name)
    job = await store.active_job_for_concept(concept.id)
    if job is not None and job.state == "queued":
        await store.cancel_job(job.id)
    await store.delete_concept(concept.id)
    return {"name": concept.display_name, "forgotten": True}


async def export(store: Store, user: str, out: Path) -> dict[str, Any]:
    """Everything kept about the user, as a zip: rows as JSON, photos and token files."""
    known = await _known_user(store, user)
    if known is None:
        raise VerbError(f"I keep nothing about {user}")
    data = await store.export_user(known.id)
    out.write_bytes(data)
    return {"file": str(out), "bytes": len(data)}
