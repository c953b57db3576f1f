"""Better with every correction: enough new evidence about a trained concept queues a refresh.

New photos, ✅ / ❌ presses and "that's not Bo" all become photos of the concept. Once
`yo_refresh_after` of them arrived since the last training, a refresh is queued: warm-started
from the current tokens, so it is shorter than a first training.
"""

from __future__ import annotations

from storage.models import Concept

from .context import Services
from .messages import Channel


async def new_evidence(services: Services, concept: Concept) -> int:
    """Photos (positive or negative) added since the concept was last trained."""
    since = await services.store.last_trained_at(concept.id) or 0.0
    return sum(p.created_at > since for p in await services.store.list_photos(concept.id))


async def maybe_refresh(services: Services, concept_id: int, channel: Channel, platform: str, chat_id: str) -> bool:
    concept = await services.store.get_concept(concept_id)
    if concept is None or concept.tokens_file is None or concept.status != "ready":
        return False
    if await services.store.active_job_for_concept(concept.id) is not None:
        return False
    fresh = await new_evidence(services, concept)
    if fresh < services.settings.yo_refresh_after:
        return False
    job = await services.queue.submit(concept, notify_platform=platform, notify_chat_id=chat_id, warm_start=True)
    await services.tracker.track(job, channel, concept.display_name, await services.queue.position(job),
                                 reason=f"{fresh} new examples of {concept.display_name}: refreshing")
    return True
