"""Text -> token ids, the same way for training and for answering.

Text travels as pieces: a `str` is text that may come from a user (tokenized with
`split_special_tokens=True`, so "<image>" or "</s>" typed by a user stays plain text), and
a `tuple[int, ...]` is trusted token ids (slot tokens).

A sequence is built left to right with a `Cursor` that remembers the text so far: each
piece is tokenized *in that context* (the ids `context + piece` adds to `context`), so a
sequence built piece by piece has the ids the whole string would have. That matters for
SentencePiece tokenizers (LLaVA-1.5's Llama), which tokenize " ASSISTANT:" alone
differently from the same words inside a sentence.

The chat layout comes from the model's own chat template, rendered once with sentinels:
`user_start` (with or without an image), `assistant_start` (the generation prompt) and
what ends an answer. So the same code serves LLaVA-1.5's "USER: <image>\n... ASSISTANT:"
and other templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

CONTEXT_CHARS = 200  # how much of the text before a piece is tokenized with it (see Tokens.encode)

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
        self.eos_id: int = tokenizer.eos_token_id
        self.pad_id: int = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id
        self._starts: dict[int | None, Cursor] = {}
        end = self.encode(chat.answer_end, "x", user=False) if chat.answer_end else []
        self.stop_ids: list[int] = sorted({self.eos_id, *end[:1]})  # what ends a generated answer
        asked = self.start(None).user(["Is it here?"]).assistant()
        yes, no = asked.answer(["Yes"]).after(asked), asked.answer(["No"]).after(asked)
        shared = 0
        while shared < min(len(yes), len(no)) - 1 and yes[shared] == no[shared]:
            shared += 1
        # Tokens both answers start with (e.g. a lone space) belong to the prompt; recognition
        # reads P(yes) from the logits of the first token where "Yes" and "No" differ.
        self.readout_prefix, self.yes_id, self.no_id = yes[:shared], yes[shared], no[shared]

    def encode(self, text: str, after: str = "", user: bool = True) -> list[int]:
        """Ids that `text` adds when it follows `after` in one string.

        User text never yields special tokens; template text (user=False) keeps them. Template
        text after user text is tokenized after a plain letter instead, so that nothing a user
        typed can change how the template's special tokens are read.
        """
        def ids(s: str) -> list[int]:
            return list(self.tokenizer(s, add_special_tokens=False, split_special_tokens=user).input_ids)

        after = after if user else ("x" if after else "")
        if len(after) > CONTEXT_CHARS:
            # How `text` tokenizes depends on the few words before it, not on the whole prompt: a
            # tail of them keeps the ids the same, and a question with many mentions linear, not
            # quadratic (each piece would re-tokenize everything before it). The tail starts at a
            # word, where the tokenizers split anyway.
            tail = after[-CONTEXT_CHARS:]
            space = tail.find(" ", 1)
            after = tail[space:] if space > 0 else tail
        if not after:
            return ids(text)
        context, whole = ids(after), ids(after + text)
        return whole[len(context):] if whole[: len(context)] == context else ids(text)

    def user(self, text: str, after: str = "") -> list[int]:
        """User text: can never produce a special or control token."""
        return self.encode(text, after, user=True)

    def start(self, image_tokens: int | None) -> "Cursor":
        """The start of the user turn, with `image_tokens` placeholders where the image goes."""
        if image_tokens not in self._starts:
            text = self.chat.user_start_text if image_tokens is None else self.chat.user_start_image
            ids = list(self.tokenizer(text, add_special_tokens=True).input_ids)
            bos = self.tokenizer.bos_token_id
            if bos is not None and len(ids) > 1 and ids[0] == ids[1] == bos:
                ids = ids[1:]  # the template wrote a BOS itself
            if image_tokens is not None:
                at = ids.index(self.image_token_id)
                ids = ids[:at] + [self.image_token_id] * image_tokens + ids[at + 1:]
            self._starts[image_tokens] = Cursor(self, tuple(ids), text)
        return self._starts[image_tokens]

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
        for part in out:  # a name takes the place of "<bo>" and the space before it; decoders drop some too
            if text and part and part[0].isalnum() and not text[-1].isspace() and text[-1] not in "([{\"'/-":
                text += " "
            text += part
        return text.strip()


@dataclass(frozen=True)
class Cursor:
    """A sequence being built: its ids so far and the text they stand for (the context)."""

    tokens: Tokens
    ids: tuple[int, ...]
    text: str

    def user(self, pieces: Sequence[Piece]) -> "Cursor":
        ids, text = list(self.ids), self.text
        for i, piece in enumerate(pieces):
            if isinstance(piece, tuple):
                ids += piece
                text += "".join(self.tokens.tokenizer.convert_ids_to_tokens(list(piece)))
                continue
            if i + 1 < len(pieces) and isinstance(pieces[i + 1], tuple) and piece.endswith(" "):
                piece = piece[:-1]  # "Is <bo>": the identifier's own vector stands for the word and its space
            if piece:
                ids += self.tokens.user(piece, after=text)
                text += piece
        return Cursor(self.tokens, tuple(ids), text)

    def template(self, text: str) -> "Cursor":
        return Cursor(self.tokens, self.ids + tuple(self.tokens.encode(text, self.text, user=False)), self.text + text)

    def assistant(self, forced: Sequence[int] = ()) -> "Cursor":
        """The generation prompt ("ASSISTANT:"): the assistant's turn begins.

        `forced`: token ids put at the very start of the answer, as if the model had said them
        (self-prompting, docs/method.md §4: a two-set concept's understanding tokens before an answer).
        """
        started = self.template(self.tokens.chat.assistant_start)
        return started.user([tuple(forced)]) if forced else started

    def ask(self, forced: Sequence[int] = ()) -> "Cursor":
        """The generation prompt, plus the tokens every answer shares: the last position predicts yes/no."""
        asked = self.assistant(forced)
        return Cursor(self.tokens, asked.ids + tuple(self.tokens.readout_prefix), asked.text)

    def answer(self, pieces: Sequence[Piece]) -> "Cursor":
        """An answer after the generation prompt, and what ends it (the template's end, or EOS)."""
        pieces = list(pieces)
        lead = self.tokens.chat.answer_lead
        if pieces and isinstance(pieces[0], str):
            pieces[0] = lead + pieces[0]
        elif lead:
            pieces.insert(0, lead)
        said = self.user(pieces)
        end = self.tokens.chat.answer_end
        return said.template(end) if end else Cursor(self.tokens, said.ids + (self.tokens.eos_id,), said.text)

    def after(self, earlier: "Cursor") -> list[int]:
        """The ids added since `earlier` (a cursor this one was built from)."""
        return list(self.ids[len(earlier.ids):])


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
    """"<bo> is <t0>...<t15>." (docs/method.md §1)."""
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
