"""After YO_MODEL changes: every concept is learned again on the new model, from what is kept.

A concept's tokens and its prototype live in the spaces of the model that learned them; another
model cannot read them (docs/architecture.md, "A concept file's way to an answer"). Its photos,
description and facts are the user's and stay. So when the bot starts on a new model, each concept
learned on another one loses its tokens and prototype, gets a prototype from the new model (the
quick look answers at once) and is queued for training; until that is done it is a concept still
being learned, as after /teach, and when it is, its owner hears so where they last heard of it (the
chat its last training told). Only `yo run` does this: a one-shot verb run with another model must
not change what the running bot has learned.
"""

from __future__ import annotations

import logging

from .context import Services
from .instant import update_prototype

log = logging.getLogger(__name__)


async def relearn_on_this_model(services: Services) -> int:
    """Queue every concept learned on another base model for learning on this one; how many."""
    model_id = services.models.model_id
    stale = await services.store.learned_on_other_models(model_id)
    for concept in stale:
        told = await services.store.latest_job_for_concept(concept.id)
        fresh = await services.store.unlearn(concept.id, model_id)
        if fresh is None:
            continue
        await update_prototype(services, fresh)
        await services.queue.submit(fresh, notify_platform=told.notify_platform if told else None,
                                    notify_chat_id=told.notify_chat_id if told else None, relearn=True)
    if stale:
        log.warning("%d concept(s) learned on another model are queued to be learned again on %s",
                    len(stale), model_id)
    return len(stale)
