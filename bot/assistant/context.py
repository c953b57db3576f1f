"""What every handler of the assistant works with: the services, and the current turn."""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from serving.protocol import ConceptRef, ModelService
from bot.training.queue import TrainingQueue
from storage import Store
from storage.models import Chat, Concept, User

from ..settings import Settings
from .messages import Channel, Message, Reply, SentMessage

if TYPE_CHECKING:
    from .tracking import JobTracker

T = TypeVar("T")


class RecentPhotos:
    """Photos the assistant answered about, kept briefly so a ✅ / ❌ press can store them."""

    def __init__(self, capacity: int = 256) -> None:
        self._photos: OrderedDict[str, bytes] = OrderedDict()
        self._capacity = capacity

    def keep(self, photo: bytes) -> str:
        key = secrets.token_urlsafe(6)
        self._photos[key] = photo
        while len(self._photos) > self._capacity:
            self._photos.popitem(last=False)
        return key

    def get(self, key: str) -> bytes | None:
        return self._photos.get(key)


class Accounts:
    """Users and chats by platform id, remembered so that a message costs no write to find them."""

    def __init__(self, store: Store, capacity: int = 10_000) -> None:
        self._store = store
        self._users: OrderedDict[tuple[str, str], User] = OrderedDict()
        self._chats: OrderedDict[tuple[str, str], Chat] = OrderedDict()
        self._capacity = capacity

    async def user(self, platform: str, user_id: str, name: str | None) -> User:
        key = (platform, user_id)
        known = self._users.get(key)
        if known is None or (name and name != known.display_name):
            known = await self._store.get_or_create_user(platform, user_id, name)
        return self._remember(self._users, key, known)

    async def chat(self, platform: str, chat_id: str, is_group: bool, title: str | None) -> Chat:
        key = (platform, chat_id)
        known = self._chats.get(key)
        if known is None or (title and title != known.title):
            known = await self._store.get_or_create_chat(platform, chat_id, is_group, title)
        return self._remember(self._chats, key, known)

    def forget(self, user: User) -> None:
        self._users.pop((user.platform, user.platform_user_id), None)

    def _remember(self, cache: OrderedDict, key: tuple[str, str], value: T) -> T:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > self._capacity:
            cache.popitem(last=False)
        return value


@dataclass
class Services:
    store: Store
    models: ModelService
    queue: TrainingQueue
    settings: Settings
    tracker: "JobTracker"
    accounts: Accounts
    recent_photos: RecentPhotos = field(default_factory=RecentPhotos)

    def labelled(self, text: str) -> str:
        """`text` (resting on the model's output) with the model's label after it, if it has one."""
        return f"{text}\n\n[{self.models.label}]" if self.models.label else text

    def learned_here(self, concept: Concept) -> bool:
        """Whether the concept's tokens and prototype are this model's: a one-shot verb may run another
        model than the one that learned them (`yo run` learns them again, relearn.py)."""
        return concept.base_model == self.models.model_id

    async def concept_ref(self, concept: Concept) -> ConceptRef:
        """A concept as a model request carries it: tokens when trained (on this model), else its description."""
        facts = tuple(f.text for f in await self.store.list_facts(concept.id))
        here = self.learned_here(concept)
        tokens = await self.store.read_tokens(concept) if concept.tokens_file and here else None
        return ConceptRef(name=concept.display_name, tokens=tokens, facts=facts,
                          description=concept.description, prototype=concept.prototype if here else None)


@dataclass
class Turn:
    """One incoming message, with the user and chat it came from."""

    message: Message
    channel: Channel
    user: User
    chat: Chat

    async def say(self, text: str = "", **fields: object) -> SentMessage:
        return await self.channel.send(Reply(text, **fields))  # type: ignore[arg-type]
