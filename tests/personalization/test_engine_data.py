"""The training conversations (docs/method.md §7) and how text becomes tokens."""

from __future__ import annotations

import pytest

import random

from personalization import data, phrasings
from personalization.prompts import continue_turn, fill, join_turn
from tests.timing import cpu_seconds


def test_phrasings() -> None:
    assert len(set(phrasings.RECOGNITION_QUESTIONS)) >= 30
    assert all("{sks}" in q for q in phrasings.RECOGNITION_QUESTIONS)
    assert len(phrasings.YES_ANSWERS) >= 3 and len(phrasings.NO_ANSWERS) >= 3
    assert all(a.startswith("Yes,") and "{sks}" in a for a in phrasings.YES_ANSWERS)
    assert all(a.startswith("No,") and "{sks}" in a for a in phrasings.NO_ANSWERS)
    people, things = phrasings.attribute_questions("person"), phrasings.attribute_questions("dog")
    assert len(people) >= 10 and len(things) >= 10 and set(people).isdisjoint(things)
    assert all("{sks}" in train and "{sks}" not in asked for asked, train in people + things)
    assert any("dog" in asked for asked, _ in things)


def test_epoch_labels_balance_and_flips() -> None:
    qa = [(data.Turn("What color is {sks}?", "{sks} is red."),)] * 3
    plan = data.Plan.balanced(n_positives=3, n_negatives=60, qa=qa, flip_positives=True)
    assert plan.positive_turns == 20  # as many "yes" as "no" answers
    examples = plan.epoch(random.Random(0))
    positives = [e for e in examples if e.label is True]
    negatives = [e for e in examples if e.label is False]
    text = [e for e in examples if e.label is None]
    assert len(positives) == 3 and len(negatives) == 60 and len(text) == 3
    assert all(e.image is not None and e.image < 3 for e in positives)
    assert all(e.image is not None and e.image >= 3 and not e.flip for e in negatives)
    assert all(t.answer.startswith("Yes") for e in positives for t in e.turns)
    assert all(t.answer.startswith("No") for e in negatives for t in e.turns)
    assert all(e.image is None for e in text)
    assert len({t.question for e in positives for t in e.turns}) > 20  # phrasings vary
    flips = [e.flip for _ in range(10) for e in plan.epoch(random.Random(_)) if e.label is True]
    assert any(flips) and not all(flips)
    assert data.Plan.balanced(5, 1000, []).positive_turns == len(phrasings.RECOGNITION_QUESTIONS)


def test_attribute_answers_are_rewritten_about_the_identifier() -> None:
    assert data.as_subject("The dog is brown with white paws.", "dog") == "{sks} is brown with white paws."
    assert data.as_subject("This person wears glasses.", "") == "{sks} wears glasses."
    assert data.as_subject("It is red.", "cup") == "It is red."
    pairs = data.attribute_turns("cup", 2)
    turns = data.qa_turns(pairs, ["The cup is red.", ""], "cup")
    assert turns == (data.Turn("What color is {sks}?", "{sks} is red."),)


def test_pieces() -> None:
    who = (7,)
    assert fill("Is {sks} in this photo?", who) == ["Is ", (7,), " in this photo?"]
    assert fill("Is {sks} here?", "Bo") == ["Is Bo here?"]
    assert continue_turn(["Is ", (7,)]) == [" Is ", (7,)]
    assert continue_turn([(7,), " is"]) == [" ", (7,), " is"]
    assert join_turn([[(7,), " is ", (8, 9), "."], []], ["Why?"]) == [(7,), " is ", (8, 9), ".", " Why?"]


def llama_style_tokenizer() -> object:
    """A SentencePiece-style tokenizer like LLaVA-1.5's (Metaspace, "▁" first only, byte fallback)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from lab.tokenizer import corpus

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    alphabet = [f"<0x{i:02X}>" for i in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=1200, special_tokens=["<unk>", "<s>", "</s>", "<pad>", "<image>",
                                                                   *alphabet], show_progress=False)
    tok.train_from_iterator(corpus(), trainer=trainer)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                      pad_token="<pad>", extra_special_tokens={"image_token": "<image>"})
    wrapped.add_tokens(["<yo_c0>", "<yo_c0_t0>"], special_tokens=True)
    return wrapped


def test_a_sequence_built_piece_by_piece_has_the_whole_strings_ids() -> None:
    from personalization.prompts import ChatFormat, Tokens
    from lab.tiny import build_processor
    from lab.tokenizer import build_tokenizer

    for tokenizer in (build_tokenizer(2000), llama_style_tokenizer()):
        if "<yo_c0>" not in tokenizer.get_vocab():
            tokenizer.add_tokens(["<yo_c0>", "<yo_c0_t0>"], special_tokens=True)
        processor = build_processor(tokenizer, 64, 8)
        chat = ChatFormat.from_processor(processor)
        assert chat.user_start_image == "USER: <image>\n" and chat.assistant_start == " ASSISTANT:"
        assert chat.answer_lead == " " and chat.answer_end == ""
        tokens = Tokens(tokenizer, chat, tokenizer.convert_tokens_to_ids("<image>"))
        start = tokens.start(1)
        said = start.user(["What color is the dog?"]).assistant().answer(["The dog is red."])
        whole = tokenizer("USER: <image>\nWhat color is the dog? ASSISTANT: The dog is red.").input_ids
        assert list(said.ids) == whole + [tokenizer.eos_token_id]
        # Slot tokens inside: the same ids as the whole string, bar the lone space before an identifier.
        bo, t0 = tokenizer.convert_tokens_to_ids(["<yo_c0>", "<yo_c0_t0>"])
        built = start.user([(bo,), " is ", (t0,), ".", " Is ", (bo,), " here?"]).ask()
        whole = tokenizer("USER: <image>\n<yo_c0> is<yo_c0_t0>. Is<yo_c0> here? ASSISTANT:").input_ids
        assert list(built.ids) == whole + tokens.readout_prefix
        assert tokenizer.convert_ids_to_tokens([tokens.yes_id, tokens.no_id])[0].lstrip("▁Ġ") == "Yes"


def test_a_long_question_with_many_mentions_tokenizes_as_one_string_in_linear_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 22 (8): each piece used to re-tokenize the whole prompt before it (quadratic in the mentions:
    a 120,000-character question naming Bo 6,667 times took 689 s). A tail of context gives the same ids."""
    from personalization import prompts
    from personalization.prompts import ChatFormat, Tokens
    from lab.tiny import build_processor
    from lab.tokenizer import build_tokenizer

    sentence = "what colour is the red dog with a hat, and where does he sleep at night?"
    for tokenizer in (build_tokenizer(2000), llama_style_tokenizer()):
        if "<yo_c0>" not in tokenizer.get_vocab():
            tokenizer.add_tokens(["<yo_c0>", "<yo_c0_t0>"], special_tokens=True)
        tokens = Tokens(tokenizer, ChatFormat.from_processor(build_processor(tokenizer, 64, 8)),
                        tokenizer.convert_tokens_to_ids("<image>"))
        bo = tokenizer.convert_tokens_to_ids("<yo_c0>")
        pieces: list[str | tuple[int, ...]] = []
        for i in range(40):  # 3,000 characters: past the context tail many times
            pieces += [("Is " if i == 0 else " and is ") + sentence[:20 + i], (bo,), " here? " + sentence]

        def built() -> list[int]:
            return list(tokens.start(1).user(pieces).ask().ids)

        bounded = built()
        with monkeypatch.context() as whole_context:
            whole_context.setattr(prompts, "CONTEXT_CHARS", 10**9)
            assert bounded == built()

    def seconds(mentions: int) -> float:
        many: list[str | tuple[int, ...]] = []
        for _ in range(mentions):
            many += ["is ", (bo,), " here, "]
        return cpu_seconds(lambda: tokens.start(None).user(many))

    small, large = seconds(300), seconds(1200)
    assert large < 8 * small, (small, large)  # 4x the mentions: linear is ~4x, quadratic ~16x
