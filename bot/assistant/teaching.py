"""Teaching: /teach NAME, photos, /done (or /cancel), and the training run that follows."""

from __future__ import annotations

import base64
import logging
import re
from dataclasses import dataclass, field

from storage.errors import ConceptExists
from storage.images import BadImage
from storage.models import Concept, TeachingSession

from .context import Services, Turn
from .instant import update_prototype
from .messages import Photo
from .names import InvalidName, clean_name, normalize_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeftOut:
    """A photo that was sent but not kept, and why."""

    number: int  # 1-based, in the order sent
    filename: str | None
    reason: str

    def label(self) -> str:
        return f"{self.number}" + (f" ({self.filename})" if self.filename else "")


@dataclass
class PhotosAdded:
    """What became of the photos of one message: how many were kept, and every one that was not."""

    added: int = 0
    left_out: list[LeftOut] = field(default_factory=list)

    def lines(self, alone: bool) -> list[str]:
        """One line per reason, naming its photos ("Photos 11 (a.jpg), 12: …")."""
        by_reason: dict[str, list[LeftOut]] = {}
        for photo in self.left_out:
            by_reason.setdefault(photo.reason, []).append(photo)
        if alone and len(self.left_out) == 1:
            return [f"That photo: {self.left_out[0].reason}"]
        return [f"Photo{'s' if len(photos) > 1 else ''} {', '.join(p.label() for p in photos)}: {reason}"
                for reason, photos in by_reason.items()]


def deep_link_payload(name: str) -> str:
    """A /start payload for "teach NAME" (Telegram allows [A-Za-z0-9_-], 64 chars)."""
    if name.isascii() and name.replace("_", "").isalnum():
        return f"teach_{name}"
    return "teachb64_" + base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def name_from_payload(payload: str) -> str | None:
    if not payload:
        return None
    if payload.startswith("teach_"):
        return payload[len("teach_"):]
    if payload.startswith("teachb64_"):
        raw = payload[len("teachb64_"):]
        try:
            return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            return None
    return None


async def active_session(services: Services, turn: Turn) -> TeachingSession | None:
    """The teaching session of this user in this chat (kept in the store: a restart forgets none).
    In a private chat a concept still collecting photos, wherever its teaching began, counts as one."""
    store = services.store
    session = await store.teaching_session(turn.user.id, turn.chat.id)
    if session is not None or turn.chat.is_group:
        return session
    collecting = [c for c in await store.list_concepts(turn.user.id) if c.status == "collecting"]
    if not collecting:
        return None
    latest = max(collecting, key=lambda c: c.updated_at)
    return await store.start_teaching(turn.user.id, turn.chat.id, latest.id, new_concept=True)


async def teach(services: Services, turn: Turn, raw_name: str) -> PhotosAdded | None:
    """Start (or go back to) teaching a concept; photos that came with the command are added,
    and what became of them returned."""
    try:
        name = clean_name(raw_name)
    except InvalidName as reason:
        await turn.say(str(reason))
        return
    store = services.store
    concept = await store.find_concept(turn.user.id, normalize_name(name))
    created = False
    if concept is None:
        if len(await store.list_concepts(turn.user.id)) >= services.settings.yo_max_concepts_per_user:
            await turn.say(f"You already have {services.settings.yo_max_concepts_per_user} concepts, "
                           "the most I keep. /forget one first.")
            return
        try:
            concept = await store.create_concept(turn.user.id, name, normalize_name(name), services.models.model_id)
        except ConceptExists:  # the same user, twice at once
            concept = await store.find_concept(turn.user.id, normalize_name(name))
            assert concept is not None
        else:
            created = True
    session = await store.start_teaching(turn.user.id, turn.chat.id, concept.id,
                                         new_concept=created or concept.status == "collecting")

    if turn.message.photos:
        report = await add_photos(services, turn, session, concept, turn.message.photos)
        if created and report.added == 0:
            # Nothing usable arrived with the command: leave no empty concept behind.
            await store.delete_concept(concept.id)  # its session goes with it
            return report
        if await photo_count(services, concept) >= services.settings.yo_min_photos:
            await done(services, turn)
        return report
    if created and turn.chat.is_group:
        await invite_in_group(services, turn, name)
    elif created:
        await turn.say(f"Let's meet {name}! Send me {services.settings.yo_min_photos}–"
                       f"{services.settings.yo_max_photos} photos of {name} (different places and angles help), "
                       "then /done. /cancel stops without keeping anything.")
    elif concept.status == "collecting":
        have = await photo_count(services, concept)
        await turn.say(f"Back to {concept.display_name}: I have {have} photo{'s' if have != 1 else ''} so far. "
                       "Send more, then /done.")
    else:
        await turn.say(f"You already have {concept.display_name}. Send more photos of "
                       f"{concept.display_name} and /done, and I'll refresh what I know. /cancel to stop.")
    return None


async def invite_in_group(services: Services, turn: Turn, name: str) -> None:
    """/teach NAME in a group, no photos yet: they may come here, addressed to Yo (the group sees
    them), or in a private chat (it doesn't)."""
    low, high = services.settings.yo_min_photos, services.settings.yo_max_photos
    link = turn.channel.private_link(deep_link_payload(name))
    privately = ("To keep them between us, send them in a private chat instead (the button below)." if link
                 else f"To keep them between us, message me directly instead and say /teach {name} there.")
    await turn.say(f"Let's meet {name}! Send me {low}–{high} photos of {name} here — mention me or reply to me "
                   f"with them, so I see them — then /done. {privately} /cancel stops without keeping anything.",
                   link=link)


async def photo_count(services: Services, concept: Concept) -> int:
    return len(await services.store.list_photos(concept.id, "positive"))


async def add_photos(services: Services, turn: Turn, session: TeachingSession, concept: Concept,
                     photos: tuple[Photo, ...]) -> PhotosAdded:
    """Store the photos that are good; tell the user about every other one, by number (and file
    name where it has one) and reason."""
    store, limit = services.store, services.settings.yo_max_photos
    have = await photo_count(services, concept)
    report = PhotosAdded()
    for number, photo in enumerate(photos, start=1):
        if have >= limit:
            report.left_out.append(LeftOut(number, photo.filename, f"{concept.display_name} already has "
                                           f"{limit} photos, the most I use, so I left this out."))
            continue
        try:
            record = await store.add_photo(concept.id, photo.data, "positive", "teach")
        except BadImage as reason:
            report.left_out.append(LeftOut(number, photo.filename, str(reason)))
            continue
        now = await photo_count(services, concept)
        if now == have:  # the same photo again: the store keeps one copy
            report.left_out.append(LeftOut(number, photo.filename, "I already have this photo."))
            continue
        await store.add_teaching_photo(session.user_id, session.chat_id, record.id)
        have = now
        report.added += 1
    lines = []
    if report.added:
        need = services.settings.yo_min_photos - have
        more = f" {need} more, then /done." if need > 0 else " Send /done when you're ready, or more photos."
        lines.append(f"Got {report.added} photo{'s' if report.added != 1 else ''} of {concept.display_name} "
                     f"({have} in all).{more}")
    lines.extend(report.lines(alone=len(photos) == 1))
    await turn.say("\n".join(lines))
    if report.added and have >= services.settings.yo_min_photos:
        await quick_look(services, turn, concept)
    return report


async def quick_look(services: Services, turn: Turn, concept: Concept) -> None:
    """Useful from the photos, not from /done: as soon as there are enough photos, and again as
    more arrive, the prototype is rebuilt from them, and the first time a description written,
    so "is Bo in this?" gets a quick look before training has even been asked for."""
    await update_prototype(services, concept)
    current = await services.store.get_concept(concept.id)
    if current is not None and not current.description:
        await describe_from_photos(services, turn, current)


async def photos_in_session(services: Services, turn: Turn, session: TeachingSession) -> None:
    concept = await services.store.get_concept(session.concept_id)
    assert concept is not None
    await add_photos(services, turn, session, concept, turn.message.photos)


async def done(services: Services, turn: Turn) -> None:
    session = await active_session(services, turn)
    if session is None:
        await turn.say("We aren't teaching anything right now. Start with /teach NAME.")
        return
    concept = await services.store.get_concept(session.concept_id)
    assert concept is not None
    have = await photo_count(services, concept)
    if have < services.settings.yo_min_photos:
        await turn.say(f"I need at least {services.settings.yo_min_photos} photos of {concept.display_name}; "
                       f"I have {have}. Send {services.settings.yo_min_photos - have} more.")
        return
    active = await services.store.count_active_jobs(turn.user.id)
    if active >= services.settings.yo_max_queued_jobs_per_user:
        await turn.say(f"You have {active} training runs waiting already; I'll take this one when one finishes. "
                       "Send /done again then.")
        return
    await services.store.end_teaching(turn.user.id, turn.chat.id)
    job = await services.queue.submit(concept, notify_platform=turn.message.platform,
                                      notify_chat_id=turn.message.chat_id,
                                      warm_start=concept.tokens_file is not None)
    position = await services.queue.position(job)
    await services.tracker.track(job, turn.channel, concept.display_name, position, in_group=turn.chat.is_group)
    if not concept.description:  # the quick look could not write one while the photos came
        await describe_from_photos(services, turn, concept)


async def describe_from_photos(services: Services, turn: Turn, concept: Concept) -> None:
    """The base model describes the subject from the photos; the description answers for it
    until the learned tokens exist, and the user can correct it."""
    photos = [await services.store.read_photo(p) for p in await services.store.list_photos(concept.id, "positive")]
    try:
        description = (await services.models.describe(photos[:5])).strip()
    except Exception:  # a nicety: training goes on without it
        log.exception("describing concept %s failed", concept.id)
        return
    if not description:
        return
    await services.store.set_description(concept.id, description[:300])
    await turn.say(services.labelled(
        f"In your photos of {concept.display_name}, here's what I see: “{description[:300]}”\n"
        f"If that's off, correct me: /describe {concept.display_name} a small tan corgi with a red collar"))
    if not concept.category:
        await name_the_kind(services, concept, photos[0])


# Asked of the base model about the first photo when a subject is taught in a chat (`yo eval` takes the
# category from its dataset instead).
KIND_QUESTION = "What kind of thing is the main subject of this photo? Answer in one or two words, like: dog."


async def name_the_kind(services: Services, concept: Concept, photo: bytes) -> None:
    """The base model names what kind of thing the subject is ("dog", "woman"): the concept's category,
    which its training's attribute questions are about (a person gets the questions for people) and
    of which a model that draws draws look-alikes (docs/method.md §7, §11)."""
    try:
        answer = await services.models.answer([KIND_QUESTION], [], photo)
    except Exception:  # a nicety, like the description: training goes on without it
        log.exception("naming the kind of concept %s failed", concept.id)
        return
    if kind := kind_of(answer):
        await services.store.set_category(concept.id, kind)


def kind_of(answer: str) -> str:
    """The kind in the model's answer, one word: the last of its first phrase ("A small brown dog with
    a red collar." → "dog"); "" for none."""
    phrase = re.split(r"[,.;:!?\n]|\b(?:with|in|on|of|and|that|wearing|holding)\b", answer.strip().lower())[0]
    words = re.findall(r"[^\W\d_]+", phrase)
    return words[-1][:30] if words else ""


async def cancel(services: Services, turn: Turn) -> None:
    """Undo the teaching session: a new concept disappears, added photos are removed."""
    session = await active_session(services, turn)
    if session is None:
        await turn.say("Nothing to cancel.")
        return
    await services.store.end_teaching(turn.user.id, turn.chat.id)
    concept = await services.store.get_concept(session.concept_id)
    if concept is None:
        return
    if session.new_concept and concept.tokens_file is None:
        await services.store.delete_concept(concept.id)
        await turn.say(f"Stopped. I didn't keep anything of {concept.display_name}.")
        return
    for photo_id in session.added_photo_ids:
        await services.store.remove_photo(photo_id)
    if session.added_photo_ids:
        await update_prototype(services, concept)  # the quick look built from them, undone
    await turn.say(f"Stopped. {concept.display_name} stays as it was.")
