"""A concept's examples as the models take them, read from the store: its photos, and one
policy for what counts as "not Bo", shared by training (queue.py) and the quick look
(bot/assistant/instant.py).

The negatives are the photos marked "not Bo" first, then the owner's other subjects: the
natural look-alikes (docs/method.md §7), taken one photo of each in turn so that every other
subject is represented before any one of them twice.
"""

from __future__ import annotations

from itertools import zip_longest

from storage import Store
from storage.models import Concept

MAX_NEGATIVES = 60


async def positives_of(store: Store, concept: Concept) -> list[bytes]:
    return [await store.read_photo(p) for p in await store.list_photos(concept.id, "positive")]


async def negatives_of(store: Store, concept: Concept) -> list[bytes]:
    """At most MAX_NEGATIVES photos that are not `concept`, in the order of the policy above."""
    chosen = list(await store.list_photos(concept.id, "negative"))[:MAX_NEGATIVES]
    others = [await store.list_photos(other.id, "positive")
              for other in await store.list_concepts(concept.owner_id) if other.id != concept.id]
    for turn in zip_longest(*others):
        chosen += [photo for photo in turn if photo is not None]
        if len(chosen) >= MAX_NEGATIVES:
            break
    return [await store.read_photo(p) for p in chosen[:MAX_NEGATIVES]]
