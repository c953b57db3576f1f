"""Text -> token ids, the same way for training and for answering.

Text travels as pieces: a `str` is text that may come from a user (tokenized with
`split_special_tokens=True`, so "<image>" or "</s>" typed by a user stays plain text), and
a `tuple[int, ...]` is trusted token ids (slot tokens, template tokens).

The chat layout comes from the model's own chat template, rendered once with sentinels:
`user_start` (with or without an image), `assistant_start` (the generation prompt) and
what ends an answer. So the same code serves LLaVA-1.5's "USER: <image>\\n... ASSISTANT:"
and other templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

Piece = str | tuple[int, ...]

_U, _A = "\ue000YOUSER\ue000", "\ue000YOANSWER\ue000"


@dataclass(frozen=True)
class ChatFormat:
    user_start_image: str  # e.g. "USER: <image>\n"
    user_start_text: str  # e.g. "USER: "
    assistant_start: str  # e.g. " ASSISTANT:"
    answer_lead: str  # what the template puts between the generation prompt and the answer, e.g. " "
    answer_end: str  # e.g. "" (then the tokenizer's eos ends an answer)

    @classmethod
    def from_processor(cls, processor: Any) -> "ChatFormat":
        def render(messages: list[dict[str, Any]], generation: bool) -> str:
            return processor.apply_chat_template(messages, add_generation_prompt=generation, tokenize=False)

        def user(image: bool) -> dict[str, Any]:
            content = ([{"type": "image"}] if image else []) + [{"type": "text", "text": _U}]
            return {"role": "user", "content": content}

        answer = {"role": "assistant", "content": [{"type": "text", "text": _A}]}
        with_image = render([user(True)], True)
        text_only = render([user(False)], True)
        full = render([user(True), answer], False)
        assistant_start = with_image.split(_U, 1)[1]
        between = full.split(_U, 1)[1].split(_A, 1)[0]
        lead = between[len(assistant_start):] if between.startswith(assistant_start) else ""
        return cls(with_image.split(_U, 1)[0], text_only.split(_U, 1)[0], assistant_start, lead,
                   full.split(_A, 1)[1].strip())


class Tokens:
    """Token ids for template text, user text and answers, for one tokenizer + chat format."""

    def __init__(self, tokenizer: Any, chat: ChatFormat, image_token_id: int) -> None:
        self.tokenizer, self.chat, self.image_token_id = tokenizer, chat, image_token_id
        self._prefixes: dict[int | None, list[int]] = {}
        self.eos_id: int = tokenizer.eos_token_id
        self.pad_id: int = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id
        self.assistant_start = self.template(chat.assistant_start)
        end = self.template(chat.answer_end) if chat.answer_end else []
        self.answer_end = end or [self.eos_id]
        yes, no = self.answer(["Yes"]), self.answer(["No"])
        shared = 0
        while shared < min(len(yes), len(no)) - 1 and yes[shared] == no[shared]:
            shared += 1
        # Tokens both answers start with (e.g. a lone space) belong to the prompt; recognition
        # reads P(yes) from the logits of the first token where "Yes" and "No" differ.
        self.readout_prefix, self.yes_id, self.no_id = yes[:shared], yes[shared], no[shared]

    def template(self, text: str, bos: bool = False) -> list[int]:
        """Trusted template text: special tokens in it are special."""
        ids = self.tokenizer(text, add_special_tokens=bos).input_ids
        bos_id = self.tokenizer.bos_token_id
        if bos and bos_id is not None and len(ids) > 1 and ids[0] == ids[1] == bos_id:
            ids = ids[1:]  # the template wrote a BOS itself
        return list(ids)

    def user(self, text: str) -> list[int]:
        """User text: can never produce a special or control token."""
        return list(self.tokenizer(text, add_special_tokens=False, split_special_tokens=True).input_ids)

    def pieces(self, pieces: Sequence[Piece]) -> list[int]:
        ids: list[int] = []
        for i, piece in enumerate(pieces):
            if isinstance(piece, tuple):
                ids.extend(piece)
                continue
            if i + 1 < len(pieces) and isinstance(pieces[i + 1], tuple) and piece.endswith(" "):
                piece = piece[:-1]  # "Is <bo>": the identifier's own vector stands for the word and its space
            if piece:
                ids.extend(self.user(piece))
        return ids

    def answer(self, pieces: Sequence[Piece]) -> list[int]:
        """An answer as it follows the generation prompt (its first words tokenized in that context)."""
        pieces = list(pieces)
        if not pieces or not isinstance(pieces[0], str):
            return self.pieces(pieces)
        first = pieces[0]
        if len(pieces) > 1 and isinstance(pieces[1], tuple) and first.endswith(" "):
            first = first[:-1]
        context = self.user(self.chat.assistant_start)
        ids = self.user(self.chat.assistant_start + self.chat.answer_lead + first)
        head = ids[len(context):] if ids[: len(context)] == context else self.user(self.chat.answer_lead + first)
        return head + self.pieces(pieces[1:])

    def ask(self, question: Sequence[Piece]) -> list[int]:
        """A question to read yes/no from: the last position predicts the answer's first word."""
        return self.pieces(question) + self.question_end()

    def ask_and_answer(self, question: Sequence[Piece], answer: Sequence[Piece]) -> tuple[list[int], int]:
        """A training turn: (ids, index where the answer starts)."""
        asked = self.pieces(question) + self.assistant_start
        return asked + self.answer(answer) + self.answer_end, len(asked)

    def prefix(self, image_tokens: int | None) -> list[int]:
        """The start of the user turn, with `image_tokens` placeholders where the image goes."""
        if image_tokens not in self._prefixes:
            if image_tokens is None:
                ids = self.template(self.chat.user_start_text, bos=True)
            else:
                ids = self.template(self.chat.user_start_image, bos=True)
                at = ids.index(self.image_token_id)
                ids = ids[:at] + [self.image_token_id] * image_tokens + ids[at + 1:]
            self._prefixes[image_tokens] = ids
        return list(self._prefixes[image_tokens])

    def question_end(self) -> list[int]:
        """After the question: the generation prompt, plus the tokens every answer shares."""
        return self.assistant_start + self.readout_prefix

    def decode(self, ids: Sequence[int], names: dict[int, str]) -> str:
        """Generated ids -> text; identifier ids become the names in `names`."""
        out: list[str] = []
        run: list[int] = []
        special = set(self.tokenizer.all_special_ids)

        def flush() -> None:
            if run:
                out.append(self.tokenizer.decode(run, skip_special_tokens=True))
                run.clear()

        for token in ids:
            if token in names:
                flush()
                out.append(names[token])
            elif token not in special:
                run.append(token)
        flush()
        text = ""
        for part in out:  # some decoders drop a run's leading space: put it back between words
            if text and part and text[-1].isalnum() and part[0].isalnum():
                text += " "
            text += part
        return text.strip()


# -- building turns -----------------------------------------------------------------------------


def merge(pieces: Sequence[Piece]) -> list[Piece]:
    """Join neighbouring texts (so a name written as text tokenizes as in a sentence)."""
    out: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, str) and out and isinstance(out[-1], str):
            out[-1] += piece
        elif piece != "":
            out.append(piece)
    return out


def fill(template: str, who: Piece) -> list[Piece]:
    """"Is {sks} here?" -> ["Is ", who, " here?"]."""
    parts = template.split("{sks}")
    pieces: list[Piece] = [parts[0]]
    for part in parts[1:]:
        pieces += [who, part]
    return merge(pieces)


def concept_prompt(identifier: int, latents: tuple[int, ...]) -> list[Piece]:
    """"<bo> is <t0>...<t15>." (RECIPE §1)."""
    return [(identifier,), " is ", latents, "."]


def continue_turn(part: Sequence[Piece]) -> list[Piece]:
    """A part of the user turn as it follows an earlier part: one space in between."""
    part = merge(part)
    if not part:
        return []
    return [" " + part[0], *part[1:]] if isinstance(part[0], str) else [" ", *part]


def join_turn(parts: Sequence[Sequence[Piece]], question: Sequence[Piece]) -> list[Piece]:
    """The user turn: concept prompts (and facts) first, then the question.

    Parts are never merged across their borders, so a part tokenizes the same whether it sits
    in a shared prefix (training) or in one sequence with the question (answering).
    """
    pieces: list[Piece] = []
    for part in [*parts, question]:
        pieces += continue_turn(part) if pieces else merge(part)
    return pieces
