"""Recognise, answer and describe with any mix of concepts, many requests per forward pass.

Each concept of a request takes slot i (its position in the request's list) in that
request's batch row; a concept still without tokens falls back to its description as
plain text. Photos are decoded and encoded once per distinct photo. An answer can be
streamed: each request of a batch may have its own callback, given its own text so far.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from PIL import Image

from .types import ConceptRef, Recognition, Segments, TextCallback
from . import phrasings
from .backends.base import Backend, ImageTokens
from .batch import Branch, Row, answer_logprobs, hidden_states, pack, pooled, yes_probability
from .concept import Concept
from .prompts import Cursor, Piece, concept_prompt, fill, join_turn, merge

Vectors = tuple[torch.Tensor, torch.Tensor]


def open_photo(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def answering(subjects: Sequence["Subject"]) -> tuple[int, ...]:
    """The understanding tokens of every two-set concept of a request, forced before the answer."""
    return tuple(token for subject in subjects for token in subject.answering)


@dataclass
class Subject:
    name: str
    who: Piece  # how the subject is written: its identifier token, or its name as text
    prompt: list[Piece]  # "<bo> is <t0>...<t15>." / "Bo is a small brown dog." / nothing
    vectors: Vectors | None
    # A two-set concept (docs/method.md §4): the token set forced right after the user turn, per task.
    answering: tuple[int, ...] = ()  # understanding tokens, before an answer
    drawing: tuple[int, ...] = ()  # generation tokens, before an image


@dataclass
class Prompt:
    """One generation request: ids up to the generation prompt, its image and its concepts."""

    ids: list[int]
    image: ImageTokens | None
    vectors: list[Vectors | None]
    names: dict[int, str]


class Writing:
    """A streamer for `Backend.generate`: hands each row of a batch its own answer so far.

    Every step the row's ids so far are decoded with the same decode as the final answer (identifier
    ids become names). A row's text is shown up to its last space, so words arrive whole; a word
    still unfinished after `every` tokens (text without spaces) is shown as it is, unless it ends in
    half a UTF-8 character. A row is shown whole when it stops, and `finish` shows the final text,
    so a row's last call is always exactly its answer.
    """

    def __init__(self, decode: Callable[[list[int], dict[int, str]], str], prompts: Sequence[Prompt],
                 callbacks: Sequence[TextCallback | None], stop_ids: Sequence[int], every: int = 8) -> None:
        self.decode, self.prompts, self.callbacks = decode, prompts, callbacks
        self.stop_ids, self.every = set(stop_ids), every
        self.ids: list[list[int]] = [[] for _ in prompts]
        self.shown = ["" for _ in prompts]
        self.waited = [0 for _ in prompts]  # tokens since the row was last shown
        self.stopped = [callback is None for callback in callbacks]

    def put(self, value: torch.Tensor) -> None:
        if value.dim() != 1:
            return  # transformers hands the prompt over first: not part of the answer
        for row, token in enumerate(value.tolist()):
            if self.stopped[row]:
                continue
            if token in self.stop_ids:
                self.stopped[row] = True
                self.show(row, self.decode(self.ids[row], self.prompts[row].names))
                continue
            self.ids[row].append(token)
            self.waited[row] += 1
            text = self.decode(self.ids[row], self.prompts[row].names)
            words = text[:max(text.rfind(" "), text.rfind("\n"), 0)].rstrip()
            if len(words) > len(self.shown[row]):
                self.show(row, words)
            elif self.waited[row] >= self.every and not text.endswith("\ufffd"):
                self.show(row, text)

    def end(self) -> None:
        """transformers' end of generation: `finish` shows the final texts."""

    def show(self, row: int, text: str) -> None:
        callback = self.callbacks[row]
        if callback is None or not text or text == self.shown[row]:
            return
        self.shown[row], self.waited[row] = text, 0
        callback(text)

    def finish(self, texts: Sequence[str]) -> None:
        for row, text in enumerate(texts):
            self.show(row, text)


class Inference:
    def __init__(self, backend: Backend, batch_size: int = 16, max_new_tokens: int = 96) -> None:
        self.backend, self.batch_size, self.max_new_tokens = backend, batch_size, max_new_tokens
        self._questions: dict[tuple[str, tuple[Piece, ...]], list[int]] = {}

    # -- concepts ----------------------------------------------------------------------------

    def subjects(self, concepts: Sequence[ConceptRef]) -> list[Subject]:
        backend, out = self.backend, []
        for slot, ref in enumerate(concepts):
            if ref.tokens is not None:
                concept = Concept.from_bytes(ref.tokens, backend.fingerprint, backend.model_id)
                ids = backend.slots.ids(slot, concept.k)
                out.append(Subject(ref.name, (ids.identifier,), concept_prompt(ids.identifier, ids.latents),
                                   concept.as_slot(backend.device, backend.dtype),
                                   ids.latents[concept.generation:] if concept.generation else (),
                                   ids.latents[:concept.generation]))
            else:
                prompt = fill(phrasings.DESCRIPTION_PROMPT.replace("{description}", ref.description.rstrip(".")),
                              ref.name) if ref.description else []
                out.append(Subject(ref.name, ref.name, prompt, None))
        return out

    @staticmethod
    def facts(subject: Subject, facts: Sequence[str]) -> list[Piece]:
        """The user's sentences about a subject, its name written as its identifier."""
        pattern = re.compile(rf"(?<!\w){re.escape(subject.name)}(?!\w)", re.IGNORECASE) if subject.name else None
        pieces: list[Piece] = []
        for fact in facts:
            fact = fact.strip()
            if not fact:
                continue
            fact = fact if fact[-1] in ".!?" else fact + "."
            parts = pattern.split(fact) if pattern else [fact]
            sentence: list[Piece] = [parts[0]]
            for part in parts[1:]:
                sentence += [subject.who, part]
            pieces += ([" "] if pieces else []) + sentence
        return merge(pieces)

    @staticmethod
    def question(segments: Segments, subjects: Sequence[Subject]) -> list[Piece]:
        """Segments -> pieces: text stays text, an index becomes that subject's identifier (or name)."""
        pieces: list[Piece] = []
        for segment in segments:
            if isinstance(segment, int):
                if not 0 <= segment < len(subjects):
                    raise ValueError(f"the question names concept {segment}, but only {len(subjects)} were given")
                pieces.append(subjects[segment].who)
            else:
                pieces.append(segment)
        return merge(pieces)

    # -- photos ------------------------------------------------------------------------------

    def image_tokens(self, photos: Sequence[bytes]) -> list[ImageTokens]:
        """Language-model image tokens per photo; each distinct photo is encoded once."""
        distinct = list(dict.fromkeys(photos))
        encoded: dict[bytes, ImageTokens] = {}
        for i in range(0, len(distinct), self.batch_size):
            chunk = distinct[i:i + self.batch_size]
            encoding = self.backend.encode_images([open_photo(p) for p in chunk])
            encoded.update(zip(chunk, encoding.tokens))
        return [encoded[p] for p in photos]

    # -- recognition -------------------------------------------------------------------------

    @torch.no_grad()
    def recognise_batch(self, requests: Sequence[tuple[bytes, Sequence[ConceptRef]]]) -> list[list[Recognition]]:
        tokens, asked = self.backend.tokens, phrasings.RECOGNITION_ASKED
        images = self.image_tokens([photo for photo, _ in requests])
        rows: list[Row] = []
        vectors: list[list[Vectors | None]] = []
        for (_, concepts), image in zip(requests, images):
            subjects = self.subjects(concepts)
            if not subjects:
                continue
            start = tokens.start(len(image))
            # each concept asked every one of the recogniser's phrasings: one P(yes) from their mean log-odds
            branches = [Branch(self.recognition_question(start, s, q)) for s in subjects for q in asked]
            rows.append(Row(list(start.ids), image, branches))
            vectors.append([s.vectors for s in subjects])
        probabilities = iter(pooled(self.yes_probabilities(rows, vectors), len(asked)).tolist())
        return [[Recognition(present=p >= 0.5, probability=p) for p in (next(probabilities) for _ in concepts)]
                for _, concepts in requests]

    def recognition_question(self, start: Cursor, subject: Subject,
                             question: str = phrasings.RECOGNITION_ASKED[0]) -> list[int]:
        """"<bo> is <t0>...<t15>. Is <bo> in this photo? ASSISTANT:" after the image; the same for every
        photo and every concept in the same slot, so tokenized once."""
        pieces = tuple(join_turn([subject.prompt], fill(question, subject.who)))
        key = (start.text, pieces + (subject.answering,))
        if key not in self._questions:
            if len(self._questions) > 4096:
                self._questions.clear()
            self._questions[key] = start.user(pieces).ask(subject.answering).after(start)
        return self._questions[key]

    def yes_probabilities(self, rows: list[Row], vectors: list[list[Vectors | None]]) -> torch.Tensor:
        """P(yes) of every branch of every row, `batch_size` rows per forward pass."""
        backend, out = self.backend, []
        for i in range(0, len(rows), self.batch_size):
            chunk = rows[i:i + self.batch_size]
            packed = pack(backend, chunk)
            with backend.slots.bind(*backend.slots.pack(vectors[i:i + self.batch_size], backend.device,
                                                        backend.dtype)):
                out.append(yes_probability(backend, packed, hidden_states(backend, packed)).cpu())
        return torch.cat(out) if out else torch.zeros(0)

    # -- multiple choice (evaluation) ------------------------------------------------------------

    @torch.no_grad()
    def choose(self, question: Segments, options: Sequence[str], concepts: Sequence[ConceptRef],
               photo: bytes | None = None) -> int:
        """The option the model finds most likely as the answer (log-likelihood, no string matching)."""
        backend, tokens = self.backend, self.backend.tokens
        subjects = self.subjects(concepts)
        image = self.image_tokens([photo])[0] if photo is not None else None
        asked = join_turn([s.prompt for s in subjects], self.question(question, subjects))
        start = tokens.start(None if image is None else len(image))
        question_end = start.user(asked).assistant(answering(subjects))
        branches = [Branch(question_end.answer([option]).after(start), len(question_end.after(start)))
                    for option in options]
        row = Row(list(start.ids), image, branches)
        packed = pack(backend, [row])
        with backend.slots.bind(*backend.slots.pack([[s.vectors for s in subjects]], backend.device, backend.dtype)):
            scores = answer_logprobs(backend, packed, hidden_states(backend, packed))
        return int(scores.argmax())

    # -- answers -----------------------------------------------------------------------------

    def answer_batch(self, requests: Sequence[tuple[Segments, Sequence[ConceptRef], bytes | None]],
                     on_text: Sequence[TextCallback | None] | None = None) -> list[str]:
        """Greedy answers, one per request; `on_text[i]` (if any) gets request i's answer so far."""
        tokens = self.backend.tokens
        photos = [photo for _, _, photo in requests if photo is not None]
        images = iter(self.image_tokens(photos))
        prompts: list[Prompt] = []
        for question, concepts, photo in requests:
            subjects = self.subjects(concepts)
            context = [part for s, ref in zip(subjects, concepts) for part in (s.prompt, self.facts(s, ref.facts))]
            asked = self.question(question, subjects)
            image = next(images) if photo is not None else None
            start = tokens.start(None if image is None else len(image))
            ids = list(start.user(join_turn(context, asked)).assistant(answering(subjects)).ids)
            names = {s.who[0]: s.name for s in subjects if isinstance(s.who, tuple)}
            prompts.append(Prompt(ids, image, [s.vectors for s in subjects], names))
        return self.generate(prompts, on_text=on_text) if on_text else self.generate(prompts)

    @torch.no_grad()
    def generate(self, prompts: Sequence[Prompt], max_new_tokens: int | None = None,
                 on_text: Sequence[TextCallback | None] | None = None) -> list[str]:
        """Greedy answers, `batch_size` prompts at a time, left-padded, concepts bound per row;
        `on_text[i]` (if any) is called with prompt i's text so far as it is generated."""
        backend, tokens, out = self.backend, self.backend.tokens, []
        for i in range(0, len(prompts), self.batch_size):
            chunk = prompts[i:i + self.batch_size]
            callbacks = list(on_text[i:i + self.batch_size]) if on_text else []
            writing = Writing(tokens.decode, chunk, callbacks, tokens.stop_ids) if any(callbacks) else None
            width = max(len(p.ids) for p in chunk)
            ids = torch.tensor([[tokens.pad_id] * (width - len(p.ids)) + p.ids for p in chunk], device=backend.device)
            mask = torch.tensor([[0] * (width - len(p.ids)) + [1] * len(p.ids) for p in chunk], device=backend.device)
            images = [p.image for p in chunk if p.image is not None]
            with backend.slots.bind(*backend.slots.pack([p.vectors for p in chunk], backend.device, backend.dtype)):
                generated = backend.generate(ids, mask, images, max_new_tokens or self.max_new_tokens, writing)
            texts = [tokens.decode(row.tolist(), p.names) for row, p in zip(generated, chunk)]
            if writing is not None:
                writing.finish(texts)
            out += texts
        return out

    def describe(self, photos: Sequence[bytes]) -> str:
        """One short sentence about the subject of the most typical photo."""
        if not photos:
            return ""
        features = self.backend.image_features([open_photo(p) for p in photos])
        typical = int((features @ features.mean(0)).argmax())
        image = self.image_tokens([photos[typical]])[0]
        tokens = self.backend.tokens
        ids = list(tokens.start(len(image)).user([phrasings.DESCRIBE_QUESTION]).assistant().ids)
        text = self.generate([Prompt(ids, image, [], {})], max_new_tokens=48)[0]
        return text.split("\n")[0].strip()
