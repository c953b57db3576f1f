"""Questions: about concepts, about photos ("is Bo in this?", "who is in this?"), drawings,
and the ✅ / ❌ corrections that turn answers into training examples."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Callable

from serving.protocol import ModelUnavailable, Recognition
from storage.images import BadImage, sanitize_image
from storage.models import Concept

from .context import Services, Turn
from .messages import Button, Channel, Photo, Reply, SentMessage
from .names import find_mentions, to_segments
from .instant import prefilter, quick_ref, update_prototype
from .intents import TOGETHER
from .refresh import maybe_refresh


async def visible(services: Services, turn: Turn) -> list[Concept]:
    """The concepts this user may use here: their own, and those shared into this chat."""
    return await services.store.visible_concepts(turn.user.id, turn.chat.id)


async def mentioned(services: Services, turn: Turn, text: str) -> tuple[list[Concept], list[str | int]]:
    """Concepts this user may use here that `text` names, and the text as protocol segments."""
    return named_in(await visible(services, turn), text)


def named_in(concepts: list[Concept], text: str) -> tuple[list[Concept], list[str | int]]:
    """The concepts `text` names, each once in the order first named, and the text as protocol
    segments. Own concepts come first in `concepts`: on a clash of names they win over shared ones
    (find_mentions keeps the first of one key)."""
    by_id = {c.id: c for c in concepts}
    mentions = find_mentions(text, [(c.display_name, c.id) for c in concepts])
    order = list(dict.fromkeys(m.item for m in mentions))
    index_of = {cid: i for i, cid in enumerate(order)}
    return [by_id[cid] for cid in order], to_segments(text, mentions, index_of)


async def the_photo(turn: Turn) -> bytes | None:
    """The photo a question is about: attached, or in the message it replies to.
    Raises BadImage for anything that isn't a usable still photo."""
    photos = turn.message.photos or turn.message.reply_photos
    return await sanitized(photos[0]) if photos else None


async def sanitized(photo: Photo) -> bytes:
    """The photo safe to keep and to show a model (BadImage if it is not one)."""
    return await asyncio.to_thread(sanitize_image, photo.data)  # CPU work: off the event loop


# After an answer's text while the model is still writing it; the last edit drops it.
WRITING = " …"


class Writer:
    """Shows an answer as the model writes it: one message, sent with the first text and edited
    as the text grows. Edits are paced by the channel (Telegram's and Discord's edit throttles keep
    only the newest of those waiting); the last edit is exactly the answer."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.message: SentMessage | None = None
        self.latest = ""  # the answer so far, as the model last said
        self.shown = ""  # what the message says now
        self._showing: asyncio.Task[None] | None = None

    def update(self, text: str) -> None:
        """The model's text so far (a TextCallback: called on the event loop, must not wait)."""
        if not text.strip():
            return
        self.latest = text
        if self._showing is None or self._showing.done():
            self._showing = asyncio.create_task(self._show())

    async def _show(self) -> None:
        # One send or edit at a time; text that arrives meanwhile waits, and only its newest is shown.
        while self.shown != self.latest + WRITING:
            text = self.latest + WRITING
            if self.message is None:
                self.message = await self.channel.send(Reply(text))
            else:
                await self.message.edit(Reply(text))
            self.shown = text

    async def finish(self, answer: str) -> None:
        """Show the whole answer: the streamed message's last edit, or one message if none was sent."""
        if self._showing is not None:
            await self._showing
        if self.message is None:
            self.message = await self.channel.send(Reply(answer))
        elif self.shown != answer:
            await self.message.edit(Reply(answer))
        self.shown = answer

    def abandon(self) -> None:
        """The answer failed: stop showing the text so far."""
        if self._showing is not None:
            self._showing.cancel()


async def ask(services: Services, turn: Turn, text: str) -> None:
    """Answer a question about concepts (and a photo), shown as the model writes it."""
    photo = await the_photo(turn)
    concepts, segments = await mentioned(services, turn, text)
    refs = [await services.concept_ref(c) for c in concepts]
    await turn.channel.show_activity("typing")  # until the first words arrive
    writer = Writer(turn.channel)
    try:
        answer = await services.models.answer(segments, refs, photo, on_text=writer.update)
    except BaseException:
        writer.abandon()
        raise
    await writer.finish(services.labelled(answer or "I don't know."))


WHOM_UNCLEAR = "I couldn't tell whom you mean. /concepts lists who I know."


async def recognise(services: Services, turn: Turn, text: str, *, everyone: bool = False) -> None:
    """"Is Bo in this?" (the concepts `text` names) or, with `everyone`, "who is in this?"."""
    photo = await the_photo(turn)
    if photo is None:
        await turn.say("Send the photo with your question (or reply to a photo with it).")
        return
    concepts = await visible(services, turn) if everyone else (await mentioned(services, turn, text))[0]
    if not everyone and not concepts:
        await turn.say(WHOM_UNCLEAR)
        return
    await turn.channel.show_activity("typing")
    found = await look(services, photo, concepts, everyone=everyone)
    key = services.recent_photos.keep(photo) if found.answers else None
    for reply in replies(found, text, everyone=everyone, key=key, label=services.labelled):
        await turn.channel.send(reply)


@dataclass(frozen=True)
class Look:
    """What a look at a photo found, before anything is said about it."""

    answers: list[tuple[Concept, Recognition]]  # learned tokens' answers, then quick looks of the untrained
    second: dict[int, Recognition]  # by concept id: the quick look's second opinion on a trained concept
    waiting: list[str]  # the names of those that can't be looked for yet (learning on this model)
    looked: bool = True  # False: none of the concepts could be looked for


async def look(services: Services, photo: bytes, concepts: list[Concept], *, everyone: bool = False) -> Look:
    """Look for the concepts in the photo: those with learned tokens through the model (each also by
    its prototype, a second opinion), those not trained yet by their prototype alone. In one request.
    `everyone` ("who is in this?"): of many trained concepts only those the prototypes point at are asked,
    and without second opinions."""
    here = [c for c in concepts if services.learned_here(c)]
    trained = [c for c in here if c.tokens_file]
    quick = [c for c in here if not c.tokens_file and c.prototype is not None]
    waiting = [c.display_name for c in concepts if c not in trained and c not in quick]
    if not trained and not quick:
        return Look([], {}, waiting, looked=False)
    if everyone:
        trained = await prefilter(services, photo, trained)
    seconds = [c for c in trained if c.prototype is not None and not everyone]
    refs = ([await services.concept_ref(c) for c in trained] + [quick_ref(c) for c in seconds]
            + [quick_ref(c) for c in quick])
    results = await services.models.recognise(photo, refs)
    by_model = results[: len(trained)]
    second = dict(zip([c.id for c in seconds], results[len(trained): len(trained) + len(seconds)]))
    answers = list(zip(trained, by_model)) + list(zip(quick, results[len(trained) + len(seconds):]))
    return Look(answers, second, waiting)


def replies(found: Look, text: str, *, everyone: bool, key: str | None,
            label: Callable[[str], str] = str) -> list[Reply]:
    """What the assistant says about a look: one line for "who is in this?", else a line per concept
    (after one for all of them when `text` asks whether they are together). With `key` (the photo's in
    services.recent_photos), each answer carries ✅ / ❌ buttons that keep the photo as an example.
    `label` (Services.labelled) marks the last line of what the model answered."""
    if not found.looked:
        if not found.waiting:
            return [Reply("You haven't taught me anyone yet. Try /teach Bo.")]
        return [Reply(f"I'm still learning {', '.join(found.waiting)}; ask me again when I say it's ready.")]
    if everyone:
        present = [(c, r) for c, r in found.answers if r.present]
        if present:
            names = ", ".join(f"{c.display_name} ({round(100 * r.probability)}%"
                              + (", quick look" if not c.tokens_file else "") + ")" for c, r in present)
            line = f"I see {names}."
        else:
            line = ("I don't see any of " + ", ".join(c.display_name for c, _ in found.answers) + " here."
                    if found.answers else "I don't see any of your concepts here.")
        if found.waiting:
            line += f" (Still learning {', '.join(found.waiting)}.)"
        buttons = [[Button(f"✅ {c.display_name}"[:30], f"fb:p:{c.id}:{key}"), Button("❌", f"fb:n:{c.id}:{key}")]
                   for c, _ in present] if key else []
        return [Reply(label(line), buttons=buttons)]
    said = []
    if len(found.answers) > 1 and not found.waiting and TOGETHER.search(text):
        said.append(Reply(together(found.answers)))  # "is Bo next to Kiwi?": the answer first, then each one's
    for concept, result in found.answers:
        right, wrong = ("p", "n") if result.present else ("n", "p")
        buttons = [[Button("✅ Right", f"fb:{right}:{concept.id}:{key}"),
                    Button("❌ Wrong", f"fb:{wrong}:{concept.id}:{key}")]] if key else []
        said.append(Reply(answer_line(concept, result, found.second.get(concept.id)), buttons=buttons))
    said[-1] = replace(said[-1], text=label(said[-1].text))
    return said


def answer_line(concept: Concept, result: Recognition, second: Recognition | None) -> str:
    """"Yes, Bo is in this photo (87% sure).", with what the answer rests on where it is not Bo's tokens."""
    sure = round(100 * (result.probability if result.present else 1 - result.probability))
    if result.present:
        line = f"Yes, {concept.display_name} is in this photo ({sure}% sure)."
    else:
        line = f"No, I don't think {concept.display_name} is in this photo ({sure}% sure)."
    if concept.status == "collecting":
        line += (f" That's a quick look from the photos so far; send /done and I'll learn "
                 f"{concept.display_name} properly.")
    elif not concept.tokens_file:
        line += f" That's a quick look: I'm still learning {concept.display_name}."
    elif second is not None and second.present != result.present:
        line += " (My quick look at your photos says otherwise, so I'm less sure.)"
    return line


def together(answers: list[tuple[Concept, Recognition]]) -> str:
    """One line for "is Bo next to Kiwi?": whether all of them are in the photo, and who is missing."""
    seen = [c.display_name for c, r in answers if r.present]
    missing = [c.display_name for c, r in answers if not r.present]
    if not missing:
        return f"Yes, {listed(seen, 'and')} are {'both' if len(seen) == 2 else 'all'} here."
    if not seen:
        return f"No, I don't see {listed(missing, 'or')} here."
    return f"No: I see {listed(seen, 'and')}, but not {listed(missing, 'or')}."


def listed(names: list[str], last: str) -> str:
    """["Bo", "Kiwi", "Mắm"] → "Bo, Kiwi and Mắm" (or "or")."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}"


async def not_this(services: Services, turn: Turn, text: str) -> None:
    """"That's not Bo" about a photo: keep it as a negative example of Bo."""
    photo = await the_photo(turn)
    own = [c for c in (await mentioned(services, turn, text))[0] if c.owner_id == turn.user.id]
    if photo is None or not own:
        await ask(services, turn, text)
        return
    for concept in own:
        await services.store.add_photo(concept.id, photo, "negative", "correction")
    names = ", ".join(c.display_name for c in own)
    await turn.say(f"Got it: that's not {names}. I'll use it next time I train.")
    for concept in own:
        await update_prototype(services, concept)
        await maybe_refresh(services, concept.id, turn.channel, turn.message.platform, turn.message.chat_id)


async def feedback(services: Services, turn: Turn, role_code: str, concept_id: int, key: str) -> str | None:
    """A ✅ / ❌ press: keep the photo as a positive or negative example of the concept."""
    concept = await services.store.get_concept(concept_id)
    if concept is None or concept.owner_id != turn.user.id:
        return "Only the owner of that concept can correct me."
    photo = services.recent_photos.get(key)
    if photo is None:
        return "That photo is too old to use now; send it again with “that's not …” or “this is …”."
    role = "positive" if role_code == "p" else "negative"
    try:
        await services.store.add_photo(concept.id, photo, role, "correction")
    except BadImage as reason:
        return str(reason)
    thanks = (f"Thanks! I'll remember this is {concept.display_name}." if role == "positive"
              else f"Thanks! I'll remember this isn't {concept.display_name}.")
    await turn.say(thanks)
    await update_prototype(services, concept)
    await maybe_refresh(services, concept.id, turn.channel, turn.message.platform, turn.message.chat_id)
    return None


async def draw(services: Services, turn: Turn, subject: str, n: int = 1, seed: int | None = None) -> None:
    """Draw `n` pictures of `subject` (which may name concepts); the same seed, the same pictures."""
    if not subject:
        await turn.say("What should I draw? Try /draw Bo on a beach (or /draw 3 Bo on a beach seed 7).")
        return
    concepts, segments = await mentioned(services, turn, subject)
    refs = [await services.concept_ref(c) for c in concepts]
    waiting = [c.display_name for c in concepts if not (c.tokens_file and services.learned_here(c))]
    note = f" (I'm still learning {', '.join(waiting)}, so this is from my description.)" if waiting else ""
    progress = await turn.say(f"Drawing {n} picture{'s' if n > 1 else ''} of {subject}…{note}")
    await turn.channel.show_activity("upload_photo")
    try:
        images = await services.models.draw(segments, refs, n=n, seed=seed)
    except ModelUnavailable as reason:  # a model that does not draw, or none at hand: say so there
        await progress.edit(Reply(str(reason)))
        return
    await progress.edit(Reply(f"Drew {subject}.{note}"))
    await turn.say(f"Here you go: {subject}", images=list(images))
