"""The assistant: one transport-free brain behind every chat.

`handle` takes a `Message` and answers through the `Channel` it came with; `press`
does the same for button presses. First `Access` decides whether the sender may use Yo
at all (nothing is stored for someone turned away), then `Limits` whether they have asked
too much lately (admins have no limits). Which handler runs is decided by the message's
wording (`intents.parse`), or by the typed intent an adapter hands over with it (a Discord
slash command), and by whether the user is in the middle of teaching.
Every failure ends as one friendly line in the chat, never a traceback.
"""

from __future__ import annotations

import logging
import time
from typing import Awaitable, Callable

from serving.protocol import ModelService, ModelUnavailable
from bot.training.queue import TrainingQueue
from storage import Store
from storage.images import BadImage

from ..operations import Operations
from ..settings import Settings
from . import admin, asking, library, teaching
from .access import Access, Who
from .context import Accounts, Services, Turn
from .intents import ADMIN_KINDS, MAX_QUESTION_CHARS, Intent, Kind, parse
from .limits import Limits, slow_down
from .messages import ButtonPress, Channel, Message, Reply
from .texts import ADMIN_HELP, ADMINS_ONLY, HELP, WELCOME, too_long
from .tracking import JobTracker

log = logging.getLogger(__name__)


class Assistant:
    def __init__(self, store: Store, models: ModelService, settings: Settings,
                 queue: TrainingQueue | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        """`clock` times the per-user limits and refusals (tests pass one they move)."""
        queue = queue or TrainingQueue(store, models, negatives_dir=settings.yo_negatives_dir,
                                       epochs=settings.yo_train_epochs)
        self.services = Services(store=store, models=models, queue=queue, settings=settings,
                                 tracker=JobTracker(store, queue), accounts=Accounts(store))
        self.access = Access.from_settings(store, settings.yo_allowed_users, settings.yo_admins, clock)
        self.limits = Limits(settings.yo_questions_per_minute, settings.yo_drawings_per_hour,
                             settings.yo_trainings_per_day, clock=clock)
        # The operator's view: counted here, served by `yo run` as /metrics and /healthz (bot/operations.py).
        self.operations = Operations()
        self.operations.watch(queue, models)
        self.metrics = self.operations.metrics

    @property
    def store(self) -> Store:
        return self.services.store

    async def start(self) -> None:
        self.access.log_who()
        await self.services.queue.start()

    async def stop(self) -> None:
        await self.services.queue.stop()

    async def close(self) -> None:
        """Stop training and release the models and the store."""
        await self.stop()
        await self.services.models.close()
        await self.services.store.close()

    def register_notifier(self, platform: str, open_channel: Callable[[str], Awaitable[Channel]]) -> None:
        """Let the assistant write to a chat of `platform` later, e.g. "Bo is ready" after a restart."""
        self.services.tracker.register_notifier(platform, open_channel)

    async def handle(self, message: Message, channel: Channel, intent: Intent | None = None) -> None:
        """Answer `message` in `channel`. `intent`: what it asks for when the adapter already
        knows, typed (a slash command's options); else its text is parsed."""
        self.metrics.updates.labels(message.platform).inc()
        if message.is_group and not message.addressed:
            return  # in groups Yo speaks only when spoken to
        try:
            # Before anything else, so that nothing of someone turned away is stored.
            who = Who.of(message)
            if not await self._admitted(who, channel):
                return
            is_admin = self.access.is_admin(who)
            length = len(intent.argument if intent is not None else message.text)
            if length > MAX_QUESTION_CHARS:  # here, so that every transport has the bound
                await channel.send(Reply(too_long(length, MAX_QUESTION_CHARS)))
                return
            if intent is None:
                intent = parse(message.text, has_photo=bool(message.photos or message.reply_photos))
            if intent.kind is Kind.HELP or (intent.kind is Kind.START and not intent.argument):
                # Needs nobody's data: answer at once, without touching the store.
                text = HELP if intent.kind is Kind.HELP else WELCOME
                await channel.send(Reply(text + ("\n\n" + ADMIN_HELP if is_admin else "")))
                return
            if intent.kind in ADMIN_KINDS and not is_admin:
                await channel.send(Reply(ADMINS_ONLY))
                return
            turn = await self._turn(message, channel)
            if intent.kind in ADMIN_KINDS:
                await self._admin(turn, intent)
                return
            if not is_admin and (wait := await self._limit_wait(turn, intent)):
                await turn.say(slow_down(wait))
                return
            await self._dispatch(turn, intent)
        except (BadImage, ModelUnavailable) as reason:
            await channel.send(Reply(str(reason)))
        except Exception:
            self.metrics.errors.labels(message.platform).inc()
            log.exception("failed to handle %s message %s from %s in %s", message.platform,
                          message.message_id, message.user_id, message.chat_id)
            await channel.send(Reply("Sorry, something went wrong on my side. Please try again in a moment."))

    async def own_names(self, who: Who) -> list[str]:
        """The names of this person's concepts, for an adapter to offer as they type one (Discord's
        autocomplete). Read only: someone unknown or not admitted gets none and nothing is stored."""
        if not await self.access.admits(who):
            return []
        user = await self.store.find_user(who.platform, who.user_id)
        if user is None:
            return []
        return [c.display_name for c in await self.store.list_concepts(user.id)]

    async def press(self, press: ButtonPress, channel: Channel) -> None:
        message = Message(platform=press.platform, user_id=press.user_id, chat_id=press.chat_id,
                          is_group=press.is_group, user_name=press.user_name, user_handle=press.user_handle,
                          roles=press.roles)
        self.metrics.updates.labels(press.platform).inc()
        try:
            if not await self._admitted(Who.of(press), channel):
                return
            turn = await self._turn(message, channel)
            answer = await self._pressed(turn, press.data)
        except Exception:
            self.metrics.errors.labels(press.platform).inc()
            log.exception("failed to handle button %r from %s", press.data, press.user_id)
            answer = "Sorry, something went wrong on my side."
        if answer:
            await channel.send(Reply(answer))

    # -- who may, and how often ---------------------------------------------------------------

    async def _admitted(self, who: Who, channel: Channel) -> bool:
        """Whether this person may use Yo; if not, they hear so (once an hour) and nothing is kept."""
        if await self.access.admits(who):
            return True
        if (refusal := self.access.refusal(who)) is not None:
            await channel.send(Reply(refusal))
        log.info("refused %s user %s", who.platform, who.user_id)
        return False

    async def _limit_wait(self, turn: Turn, intent: Intent) -> float:
        """Seconds this request has to wait under the user's limits; 0: go ahead. Only what
        costs the model work counts: questions, drawings, trainings."""
        message = turn.message
        if intent.kind is Kind.DRAW:
            return self.limits.wait("drawing", message.platform, message.user_id)
        if intent.kind is Kind.DONE or (intent.kind is Kind.TEACH and message.photos):
            return await self.limits.training_wait(self.store, turn.user.id)
        if intent.kind in (Kind.ASK, Kind.RECOGNISE, Kind.WHO):
            if not message.text.strip() and not message.photos and not message.reply_photos:
                return 0.0  # nothing to answer
            if (message.photos and intent.kind is not Kind.RECOGNISE  # as _dispatch decides
                    and await teaching.active_session(self.services, turn) is not None):
                return 0.0  # photos for the concept being taught, not a question
            return self.limits.wait("question", message.platform, message.user_id)
        return 0.0

    async def _admin(self, turn: Turn, intent: Intent) -> None:
        match intent.kind:
            case Kind.STATUS:
                await admin.status(self.services, turn)
            case Kind.PAUSE:
                await admin.pause(self.services, turn)
            case Kind.RESUME:
                await admin.resume(self.services, turn)
            case Kind.BLOCK | Kind.UNBLOCK:
                await admin.block(self.services, turn, self.access, intent.argument, undo=intent.kind is Kind.UNBLOCK)

    async def _turn(self, message: Message, channel: Channel) -> Turn:
        accounts = self.services.accounts
        user = await accounts.user(message.platform, message.user_id, message.user_name)
        chat = await accounts.chat(message.platform, message.chat_id, message.is_group, message.chat_title)
        return Turn(message, channel, user, chat)

    async def _dispatch(self, turn: Turn, intent: Intent) -> None:
        services, message = self.services, turn.message
        typed = {name: str(value) for name, value in intent.values.items()}  # a slash command's texts
        # Photos (with no command of their own) while teaching belong to that concept.
        if message.photos and intent.kind in (Kind.WHO, Kind.ASK, Kind.DONE):
            session = await teaching.active_session(services, turn)
            if session is not None:
                await teaching.photos_in_session(services, turn, session)
                if intent.kind is Kind.DONE:
                    await teaching.done(services, turn)
                return
        match intent.kind:
            case Kind.START:
                name = teaching.name_from_payload(intent.argument)
                if name:
                    await teaching.teach(services, turn, name)
                else:
                    await turn.say(WELCOME)
            case Kind.TEACH:
                await teaching.teach(services, turn, intent.argument)
            case Kind.DONE:
                await teaching.done(services, turn)
            case Kind.CANCEL:
                await teaching.cancel(services, turn)
            case Kind.CONCEPTS:
                await library.list_concepts(services, turn)
            case Kind.FORGET:
                await library.forget(services, turn, intent.argument)
            case Kind.FORGET_ME:
                await library.forget_me(services, turn)
            case Kind.DESCRIBE:
                await library.describe(services, turn, intent.argument, typed.get("name"), typed.get("text"))
            case Kind.RENAME:
                await library.rename(services, turn, intent.argument, typed.get("name"), typed.get("new"))
            case Kind.SHARE | Kind.UNSHARE:
                await library.share(services, turn, intent.argument, undo=intent.kind is Kind.UNSHARE)
            case Kind.REMEMBER:
                await library.remember(services, turn, intent.argument)
            case Kind.STOP:
                await library.stop(services, turn)
            case Kind.DRAW:
                await asking.draw(services, turn, str(intent.values.get("text", "")), int(intent.values.get("count", 1)),
                                  int(seed) if (seed := intent.values.get("seed")) is not None else None)
            case Kind.NOT_THIS:
                await asking.not_this(services, turn, intent.argument)
            case Kind.RECOGNISE:
                with self.metrics.recognition_seconds.time():
                    await asking.recognise(services, turn, intent.argument)
            case Kind.WHO:
                if turn.chat.is_group and not message.text and not message.addressed:
                    return
                with self.metrics.recognition_seconds.time():
                    await asking.recognise(services, turn, intent.argument, everyone=True)
            case Kind.ASK:
                if not message.text.strip() and not message.photos:
                    return
                with self.metrics.answer_seconds.time():
                    await asking.ask(services, turn, intent.argument)
            case Kind.UNKNOWN_COMMAND:
                await turn.say(f"I don't know /{intent.command}. /help shows what I can do.")

    async def _pressed(self, turn: Turn, data: str) -> str | None:
        kind, _, rest = data.partition(":")
        try:
            match kind:
                case "forget":
                    return await library.confirm_forget(self.services, turn, int(rest))
                case "forgetme":
                    return await library.confirm_forget_me(self.services, turn, int(rest))
                case "keep":
                    return "Kept."
                case "stop":
                    return await library.stop_job(self.services, turn, int(rest))
                case "share":
                    return await library.confirm_share(self.services, turn, int(rest))
                case "fb":
                    role, concept_id, key = rest.split(":", 2)
                    return await asking.feedback(self.services, turn, role, int(concept_id), key)
        except ValueError:
            pass
        log.warning("unknown button data %r", data)
        return "That button has expired."
