"""The personalization engine: a frozen multimodal model plus concepts learned as a few tokens.

    engine = Engine.load("llava-hf/llava-1.5-7b-hf")          # or a folder from `yo tiny-model`
    result = engine.train(TrainRequest(name="Bo", positives=[...]))
    bo = ConceptRef(name="Bo", tokens=result.tokens)
    engine.recognise(photo, [bo])                              # -> [Recognition(present, probability)]
    engine.answer(["What colour is ", 0, "?"], [bo])          # -> "Bo is brown."
    engine.answer([...], [bo], on_text=print)                  # prints "Bo is", then "Bo is brown."
    engine.draw([0, " on a beach"], [bo], n=2, seed=7)         # -> [PNG bytes, PNG bytes] (Janus-Pro)

A model that draws (Janus-Pro) trains concepts with two token sets (drawtrainer.py).
Synchronous PyTorch; the model worker calls it from one thread at a time. This package is a
library: it imports nothing of the bot, the store, the model service or the lab
(tests/test_layers.py holds it to that), and this module and types.py are its public face.
"""

from __future__ import annotations

import hashlib
import io
from collections import OrderedDict
from typing import Sequence

import torch

from .types import (CancelToken, ConceptRef, Pause, ProgressCallback, Recognition, Segments, TextCallback,
                    TrainingCancelled, TrainProgress, TrainRequest, TrainResult)
from .backends import Backend, DrawingBackend, load_backend
from .concept import Concept, ConceptMismatch
from .drawing import DrawRequest, Drawing
from .inference import Inference, open_photo
from .instant import Prototype, fit_prototype, part_boxes, parts
from .negatives import NegativePool, nearest
from .trainer import TrainConfig, train_concept

__all__ = ["CancelToken", "Concept", "ConceptMismatch", "ConceptRef", "Engine", "Pause", "ProgressCallback", "Recognition",
           "Segments", "TextCallback", "TrainConfig", "TrainingCancelled", "TrainProgress", "TrainRequest",
           "TrainResult"]

# Photos whose looks (whole and parts, instant.py) are kept: a prototype is fitted again as each photo
# of a teaching arrives, against the same negatives, fifty views each (a look of LLaVA's vision tower:
# 200 kB).
LOOKS_KEPT = 256
# Everyday photos (a negatives folder) most like a subject that its prototype is fitted against too: look-alikes
# the user never named, which a prototype fitted on the user's own negatives alone accepts (docs/method.md §10).
EVERYDAY_NEGATIVES = 30


class Engine:
    def __init__(self, backend: Backend, config: TrainConfig | None = None) -> None:
        self.backend = backend
        self.config = config or TrainConfig()
        self.inference = Inference(backend)
        self.drawing = Drawing(backend, self.inference) if isinstance(backend, DrawingBackend) else None
        self.negative_pool = NegativePool(backend)  # everyday photos' features, computed once per folder
        self.everyday_negatives = EVERYDAY_NEGATIVES  # bench/learning.py --no-everyday sets 0, to compare
        self._looked: OrderedDict[bytes, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()  # by photo digest

    @classmethod
    def load(cls, model_id_or_path: str, device: str | None = None, load_in_4bit: bool = False,
             n_slots: int = 8, k: int = 16, config: TrainConfig | None = None) -> "Engine":
        backend = load_backend(str(model_id_or_path), device=device, load_in_4bit=load_in_4bit,
                               n_slots=n_slots, k=k)
        return cls(backend, config)

    @property
    def model_id(self) -> str:
        return self.backend.model_id

    @property
    def can_draw(self) -> bool:
        return self.drawing is not None

    def train(self, request: TrainRequest, progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None, between: Pause | None = None) -> TrainResult:
        """Learn the concept. `between` is called at every point where training may pause — after
        each chunk of its preparation (mining, encoding, attribute questions, drawn look-alikes) and
        each step — so the caller can use the model meanwhile; `cancel` is checked at the same points."""
        if self.can_draw:  # concepts it can also draw: generation tokens too
            from .drawtrainer import train_drawing_concept

            return train_drawing_concept(self, request, progress=progress, cancel=cancel, between=between)
        return train_concept(self, request, progress=progress, cancel=cancel, between=between)

    def recognise(self, photo: bytes, concepts: Sequence[ConceptRef]) -> list[Recognition]:
        return self.recognise_batch([(photo, concepts)])[0]

    def recognise_batch(self, requests: Sequence[tuple[bytes, Sequence[ConceptRef]]]) -> list[list[Recognition]]:
        """Concepts with tokens are asked through the model; concepts that only have a prototype so
        far (not trained yet) are recognised by the instant path. Where a concept's prototype finds
        it in a part of the photo (instant.py), the model is asked about that part as well, and the
        surer of its two answers counts: a subject small among others is seen up close."""
        photos = list(dict.fromkeys(photo for photo, concepts in requests if any(c.prototype for c in concepts)))
        looked = dict(zip(photos, self.looks(photos)))
        seen = [{i: Prototype.from_bytes(c.prototype).look(*looked[photo]) for i, c in enumerate(concepts)
                 if c.prototype is not None} for photo, concepts in requests]
        by_model = [[c for c in concepts if not _instant_only(c)] for _, concepts in requests]
        closer = [{i: s.part for i, s in where.items() if s.part is not None and not _instant_only(concepts[i])}
                  for (_, concepts), where in zip(requests, seen)]  # per request: concept -> the part to ask about
        asked: list[tuple[bytes, list[ConceptRef]]] = []  # per request: the whole photo, then each part
        for (photo, concepts), whole, parts_to_ask in zip(requests, by_model, closer):
            if whole:
                asked.append((photo, whole))
            asked += [(part_photo(photo, part), [concepts[i]]) for i, part in parts_to_ask.items()]
        answers = iter(self.inference.recognise_batch(asked))
        results = []
        for (_, concepts), whole, where, parts_to_ask in zip(requests, by_model, seen, closer):
            on_whole = iter(next(answers)) if whole else iter(())
            row = []
            for i, concept in enumerate(concepts):
                if _instant_only(concept):
                    row.append(Recognition(present=where[i].probability >= 0.5, probability=where[i].probability))
                elif i in parts_to_ask:
                    row.append(max(next(on_whole), next(answers)[0], key=lambda r: r.probability))
                else:
                    row.append(next(on_whole))
            results.append(row)
        return results

    def prototype(self, positives: Sequence[bytes], negatives: Sequence[bytes],
                  negatives_dir: str | None = None) -> bytes:
        """The instant recogniser of a concept (see instant.py), as bytes for a ConceptRef. Its negatives
        are the user's and the `everyday_negatives` photos of `negatives_dir` (as training mines them) most
        like the positives; they are looked at part by part too: how close their parts come sets the
        parts' bar."""
        own = self.image_features(positives)
        everyday = nearest(self.negative_pool, own, positives, negatives_dir, self.everyday_negatives)
        looked = self.looks(list(negatives) + everyday)
        wholes = torch.stack([whole for whole, _ in looked]) if looked else torch.zeros(0, 0)
        pieces = torch.cat([pieces for _, pieces in looked]) if looked else None
        return fit_prototype(own, wholes, pieces).to_bytes()

    def answer(self, question: Segments, concepts: Sequence[ConceptRef], photo: bytes | None = None,
               on_text: TextCallback | None = None) -> str:
        """The greedy answer; `on_text` (if given) is called with the answer so far as it is written."""
        return self.answer_batch([(question, concepts, photo)], [on_text] if on_text else None)[0]

    def answer_batch(self, requests: Sequence[tuple[Segments, Sequence[ConceptRef], bytes | None]],
                     on_text: Sequence[TextCallback | None] | None = None) -> list[str]:
        """One pass for many users' questions; `on_text[i]` (if any) gets only request i's text so far."""
        return self.inference.answer_batch(requests, on_text)

    def draw(self, segments: Segments, concepts: Sequence[ConceptRef], n: int = 1,
             seed: int | None = None) -> list[bytes]:
        """n PNG images of the text, concepts named by index as in questions; the same seed, the same images."""
        return self.draw_batch([(segments, concepts, n, seed)])[0]

    def draw_batch(self, requests: Sequence[DrawRequest]) -> list[list[bytes]]:
        if self.drawing is None:
            raise ValueError(f"{self.model_id} cannot draw; drawing needs a model that makes images, such as Janus-Pro")
        return self.drawing.draw_batch(requests)

    def describe(self, photos: Sequence[bytes]) -> str:
        return self.inference.describe(photos)

    def looks(self, photos: Sequence[bytes]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per photo, what the quick look compares: the whole photo's features [d] and its parts' [k, d].
        The last LOOKS_KEPT photos' looks are kept, so a photo seen again costs no pass."""
        keys = [hashlib.sha256(photo).digest() for photo in photos]
        new = {key: photo for key, photo in zip(keys, photos) if key not in self._looked}
        views = [[whole] + parts(whole) for whole in map(open_photo, new.values())]
        if views:
            features = self.backend.image_features([view for photo in views for view in photo]).cpu()
            for key, row in zip(new, features.split([len(v) for v in views])):
                self._looked[key] = (row[0], row[1:])
        looked = [self._looked[key] for key in keys]
        for key in keys:
            self._looked.move_to_end(key)
        while len(self._looked) > LOOKS_KEPT:
            self._looked.popitem(last=False)
        return looked

    def image_features(self, photos: Sequence[bytes]) -> torch.Tensor:
        """Pooled, L2-normalised vision features [n, d] of the base model's own vision tower."""
        return self.backend.image_features([open_photo(p) for p in photos])

    def load_concept(self, data: bytes) -> Concept:
        """A concept file, checked against this base model (raises ConceptMismatch)."""
        return Concept.from_bytes(data, self.backend.fingerprint, self.model_id)


def part_photo(photo: bytes, part: int) -> bytes:
    """One of the parts the quick look looks at (instant.parts), as a PNG to ask the model about."""
    whole, out = open_photo(photo), io.BytesIO()
    whole.crop(part_boxes(*whole.size)[part]).save(out, format="PNG")
    return out.getvalue()


def _instant_only(concept: ConceptRef) -> bool:
    return concept.tokens is None and concept.prototype is not None


__all__ = ["Engine", "TrainConfig", "Concept", "ConceptMismatch"]
