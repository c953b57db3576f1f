"""The assistant's verbs without a chat: `yo teach / ask / draw / concepts / forget`.

Each runs the same assistant over the same store as the chat bots, for one local user,
and returns plain data that the command line prints (as text, or as JSON with --json).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from personalization.protocol import ModelUnavailable

from .assistant import Assistant, Message, Photo
from .assistant import asking, library
from .assistant.context import Turn
from .assistant.names import normalize_name
from .console import ConsoleChannel

PLATFORM = "console"


class VerbError(Exception):
    """The verb could not be done; str() is the one-line reason."""


async def _turn(assistant: Assistant, user_id: str, text: str = "", photos: tuple[Photo, ...] = ()) -> Turn:
    message = Message(PLATFORM, user_id, user_id, text=text, photos=photos)
    channel = ConsoleChannel(assistant.services.settings.yo_data_dir / "console-out")
    return await assistant._turn(message, channel)


def _photos(paths: list[Path]) -> tuple[Photo, ...]:
    from storage.images import BadImage, read_photo_file

    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise VerbError(f"no such file: {missing[0]}")
    photos = []
    for p in paths:
        try:
            data = read_photo_file(p)  # the chat uploads' byte limit, so a 2 GB file is never read
        except BadImage as reason:
            raise VerbError(f"{p}: {reason}") from None
        except OSError as error:  # unreadable (permissions) or gone since the check above
            raise VerbError(f"can't read {p}: {error.strerror or error}") from None
        photos.append(Photo(data, p.name))
    return tuple(photos)


async def teach(assistant: Assistant, user_id: str, name: str, photos: list[Path]) -> dict[str, Any]:
    """Teach NAME from the photos and wait for training to end."""
    turn = await _turn(assistant, user_id, f"/teach {name}", _photos(photos))
    channel = turn.channel
    assert isinstance(channel, ConsoleChannel)
    finished = asyncio.Event()
    outcome: dict[str, str] = {}

    async def listen(event: Any) -> None:
        if event.concept.owner_id == turn.user.id and event.kind in ("done", "failed", "cancelled"):
            outcome["error"] = event.error or ""
            finished.set()

    assistant.services.queue.subscribe(listen)
    await assistant.handle(turn.message, channel)
    concept = await assistant.store.find_concept(turn.user.id, normalize_name(name))
    if concept is None or concept.status == "collecting":
        said = " ".join(r.text for r in channel.replies).strip()
        if concept is not None and concept.status == "collecting":
            await assistant.store.delete_concept(concept.id)  # a one-shot teach leaves nothing half done
        raise VerbError(said or f"could not teach {name}")
    await finished.wait()
    concept = await assistant.store.get_concept(concept.id)
    assert concept is not None
    result = {"name": concept.display_name, "status": concept.status}
    if outcome.get("error"):
        result["error"] = outcome["error"]
    return result


async def ask(assistant: Assistant, user_id: str, text: str, image: Path | None) -> dict[str, Any]:
    photos = _photos([image]) if image else ()
    turn = await _turn(assistant, user_id, text, photos)
    services = assistant.services
    photo = await asking.the_photo(turn)
    concepts, segments = await asking.mentioned(services, turn, text)
    refs = [await services.concept_ref(c) for c in concepts]
    result: dict[str, Any] = {"answer": await services.models.answer(segments, refs, photo)}
    if photo is not None:
        candidates = [c for c in (concepts or await asking.visible(services, turn)) if c.tokens_file]
        trained = [await services.concept_ref(c) for c in candidates]
        found = await services.models.recognise(photo, trained) if trained else []
        result["recognition"] = {c.display_name: {"present": r.present, "probability": r.probability}
                                 for c, r in zip(candidates, found)}
    return result


async def draw(assistant: Assistant, user_id: str, text: str, out: Path, n: int = 1,
               seed: int | None = None) -> dict[str, Any]:
    """Draw n images; the first goes to OUT, the others beside it (OUT-2.png, …)."""
    turn = await _turn(assistant, user_id, text)
    drawer = getattr(assistant.services.models, "draw", None)
    if drawer is None:
        raise ModelUnavailable(f"the model {assistant.services.models.model_id} cannot draw")
    concepts, segments = await asking.mentioned(assistant.services, turn, text)
    refs = [await assistant.services.concept_ref(c) for c in concepts]
    images = await drawer(segments, refs, n=n, seed=seed)
    paths = [out] + [out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(2, len(images) + 1)]
    for path, image in zip(paths, images):
        path.write_bytes(image)
    return {"images": [str(p) for p in paths], "concepts": [c.display_name for c in concepts]}


async def concepts(assistant: Assistant, user_id: str) -> list[dict[str, str]]:
    user = await assistant.store.get_or_create_user(PLATFORM, user_id)
    return [{"name": c.display_name, "status": c.status} for c in await assistant.store.list_concepts(user.id)]


async def forget(assistant: Assistant, user_id: str, name: str) -> dict[str, Any]:
    turn = await _turn(assistant, user_id)
    concept = await assistant.store.find_concept(turn.user.id, normalize_name(name))
    if concept is None:
        raise VerbError(f"no concept called {name}")
    await library.confirm_forget(assistant.services, turn, concept.id)
    return {"name": concept.display_name, "forgotten": True}


async def export(assistant: Assistant, user_id: str, out: Path) -> dict[str, Any]:
    """Everything kept about the user, as a zip: rows as JSON, photos and token files."""
    user = await assistant.store.get_or_create_user(PLATFORM, user_id)
    data = await assistant.store.export_user(user.id)
    out.write_bytes(data)
    return {"file": str(out), "bytes": len(data)}
