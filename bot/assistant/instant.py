"""The instant path (personalization/instant.py) as the assistant uses it.

A concept's prototype is (re)computed whenever its photos change: as they arrive while teaching
(from the minimum number on), after /cancel takes some back, and after corrections. Until
tokens exist it recognises on its own; afterwards it pre-filters "who is in this photo?" across
many concepts and gives a second opinion. Its negatives are training's: the user's
(bot/training/examples.py) and the everyday photos most like the subject (YO_NEGATIVES_DIR).
"""

from __future__ import annotations

import logging

from serving.protocol import ConceptRef
from storage.models import Concept

from ..training.examples import negatives_of, positives_of
from .context import Services

log = logging.getLogger(__name__)

# "Who is in this photo?" asks the model about at most this many concepts; the prototype picks them.
MAX_ASKED = 8
PREFILTER_FLOOR = 0.1


async def update_prototype(services: Services, concept: Concept) -> None:
    positives = await positives_of(services.store, concept)
    if not positives:
        return
    try:
        everyday = services.settings.yo_negatives_dir
        data = await services.models.prototype(positives, await negatives_of(services.store, concept),
                                               str(everyday) if everyday else None)
    except Exception:  # the instant path is a bonus: training and answers go on without it
        log.exception("could not compute the prototype of concept %s", concept.id)
        return
    await services.store.set_prototype(concept.id, data)


def quick_ref(concept: Concept) -> ConceptRef:
    """The concept as only its prototype: recognised by the instant path."""
    return ConceptRef(name=concept.display_name, prototype=concept.prototype)


async def prefilter(services: Services, photo: bytes, concepts: list[Concept]) -> list[Concept]:
    """Of many trained concepts, the few whose prototype says they may be in the photo."""
    with_prototype = [c for c in concepts if c.prototype is not None]
    if len(concepts) <= MAX_ASKED or len(with_prototype) < len(concepts):
        return concepts
    scores = await services.models.recognise(photo, [quick_ref(c) for c in with_prototype])
    ranked = sorted(zip(with_prototype, scores), key=lambda pair: -pair[1].probability)
    return [c for c, score in ranked[:MAX_ASKED] if score.probability >= PREFILTER_FLOOR]
