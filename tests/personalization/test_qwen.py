"""The Qwen-VL backend on tiny random Qwen2.5-VL and Qwen3-VL checkpoints (lab/tiny_qwen.py).

What these models add to the engine's tricks is their positions (M-RoPE: an image's tokens sit on
a grid of its own shape) and, for Qwen3-VL, DeepStack. The checks compare the engine with the
model's own forward and generate, which compute positions themselves from the token ids and the
image grids (`get_rope_index`). The tests that hold for any backend run on these kinds too
(`any_engine` in test_engine_inference.py and test_engine_training.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest
import torch
from transformers import AutoImageProcessor, AutoModelForImageTextToText, AutoTokenizer

from lab import tiny_model
from lab.tiny import QWEN_KINDS
from personalization import Concept, ConceptMismatch, Engine
from personalization.batch import Branch, Row, hidden_states, pack
from personalization.inference import Prompt, open_photo
from serving.protocol import ConceptRef

from .conftest import TINY_TRAIN

# Photos of three shapes: grids of 4 x 5, 6 x 2 and 2 x 2 tokens (rows x columns).
SIZES = ((80, 72), (40, 96), (30, 30))


@pytest.fixture(scope="module", params=QWEN_KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def qwen(kind: str, tiny_qwen: dict[str, Path]) -> Engine:
    return Engine.load(str(tiny_qwen[kind]), device="cpu", n_slots=4, k=8, config=TINY_TRAIN)


@pytest.fixture(scope="module")
def reference(kind: str, tiny_qwen: dict[str, Path]) -> tuple[object, object]:
    """The model as transformers runs it, without the engine's slots, and its image processor."""
    folder = tiny_qwen[kind]
    return AutoModelForImageTextToText.from_pretrained(folder).eval(), AutoImageProcessor.from_pretrained(folder)


def random_concept(engine: Engine, seed: int) -> Concept:
    g = torch.Generator().manual_seed(seed)
    d = engine.backend.hidden_size
    return Concept(torch.randn(9, d, generator=g) * 0.5, torch.randn(d, generator=g), engine.model_id,
                   engine.backend.fingerprint, "Bo")


def test_positions_are_the_models_own(qwen: Engine, reference: tuple[object, object],
                                      make_photo: Callable[..., bytes]) -> None:
    model, _ = reference
    tokens = qwen.backend.tokens
    for size in SIZES:
        image = qwen.inference.image_tokens([make_photo((200, 30, 30), size=size)])[0]
        assert image.grid is not None and image.grid[0] * image.grid[1] == len(image)
        ids = list(tokens.start(len(image)).user(["What is this?"]).assistant().ids)
        t = torch.tensor([ids])
        grid = torch.tensor([[1, image.grid[0] * 2, image.grid[1] * 2]])  # in patches, as the processor gives it
        expected, _ = model.model.get_rope_index(t, (t == tokens.image_token_id).int(), image_grid_thw=grid)
        assert torch.equal(qwen.backend.positions(ids, image), expected[:, 0])
    assert {qwen.inference.image_tokens([make_photo((1, 2, 3), size=s)])[0].grid for s in SIZES} == \
        {(4, 5), (6, 2), (2, 2)}


def test_a_packed_prefix_cached_batch_computes_what_the_model_does_for_each_question_alone(
        qwen: Engine, reference: tuple[object, object], make_photo: Callable[..., bytes]) -> None:
    """Two photos of different shapes in one batch, a concept bound, two questions branching off each
    cached photo: the logits of every question equal the model's own forward of that question alone."""
    model, image_processor = reference
    backend, tokens, slots = qwen.backend, qwen.backend.tokens, qwen.backend.slots
    concept = random_concept(qwen, 1)
    ids = slots.ids(0, 8)
    prompt = [(ids.identifier,), " is ", ids.latents, "."]
    photos = [make_photo((200, 30, 30), size=SIZES[0]), make_photo((20, 30, 200), "square", size=SIZES[1])]
    questions = [[" Is ", (ids.identifier,), " here?"], [" What colour is it?"]]
    rows, alone = [], []
    for data, image in zip(photos, qwen.inference.image_tokens(photos)):
        start = tokens.start(len(image))
        prompted = start.user(prompt)
        asked = [prompted.user(q).assistant() for q in questions]
        rows.append(Row(list(prompted.ids), image, [Branch(a.after(prompted)) for a in asked]))
        alone += [(data, list(a.ids)) for a in asked]
    packed = pack(backend, rows)
    vectors = [[concept.as_slot("cpu", torch.float32)]] * len(rows)
    with torch.no_grad(), slots.bind(*slots.pack(vectors, "cpu", torch.float32)):
        hidden = hidden_states(backend, packed)
        read = torch.tensor([r for r, _ in packed.reads])
        got = backend.logits(hidden[read, torch.tensor([t for _, t in packed.reads])], read)

    table = model.get_input_embeddings().weight
    for (data, question_ids), logits in zip(alone, got):
        t = torch.tensor([question_ids])
        embeds = torch.stack([concept.inputs[i - slots.first_id] if slots.is_slot_token(i) else table[i]
                              for i in question_ids])[None]
        inputs = image_processor(images=[open_photo(data)], return_tensors="pt")
        # The model finds its image placeholders by their embedding, and its positions by its own rule.
        positions, _ = model.model.get_rope_index(t, (t == tokens.image_token_id).int(),
                                                  image_grid_thw=inputs["image_grid_thw"])
        with torch.no_grad():
            expected = model(inputs_embeds=embeds, position_ids=positions, pixel_values=inputs["pixel_values"],
                             image_grid_thw=inputs["image_grid_thw"]).logits[0, -1]
        torch.testing.assert_close(logits[: expected.shape[0]], expected, rtol=1e-4, atol=1e-4)


def test_generation_is_the_models_own_generate(qwen: Engine, reference: tuple[object, object],
                                               make_photo: Callable[..., bytes]) -> None:
    """A left-padded batch of prompts with photos of two shapes and one without, generated by the
    engine's own loop, says what `model.generate` says for each prompt alone."""
    model, image_processor = reference
    tokens = qwen.backend.tokens
    photos = [make_photo((200, 30, 30), size=SIZES[0]), None, make_photo((20, 30, 200), size=SIZES[1])]
    prompts, expected = [], []
    for data in photos:
        image = None if data is None else qwen.inference.image_tokens([data])[0]
        ids = list(tokens.start(None if image is None else len(image)).user(["Describe it."]).assistant().ids)
        prompts.append(Prompt(ids, image, [], {}))
        t = torch.tensor([ids])
        extra = {} if data is None else dict(image_processor(images=[open_photo(data)], return_tensors="pt"))
        out = model.generate(input_ids=t, mm_token_type_ids=(t == tokens.image_token_id).int(), max_new_tokens=10,
                             do_sample=False, **extra)
        expected.append(tokens.decode(out[0, len(ids):].tolist(), {}))
    assert qwen.inference.generate(prompts, max_new_tokens=10) == expected
    assert len(set(expected)) == 3  # the photos and their shapes do change what is said


def test_concepts_do_not_cross_between_base_models(qwen: Engine, engine: Engine) -> None:
    for learned_on, used_on in ((qwen, engine), (engine, qwen)):
        concept = random_concept(learned_on, 2)
        with pytest.raises(ConceptMismatch, match="teach it again"):
            used_on.inference.subjects([ConceptRef("Bo", concept.to_bytes())])


def test_the_tiny_qwen_loads_through_the_hub_calls(kind: str, tiny_qwen: dict[str, Path]) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen[kind])
    assert tokenizer.bos_token is None and tokenizer.eos_token == "<|im_end|>"
    chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Hi"}]}]
    text = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    assert text.endswith("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Hi<|im_end|>\n"
                         "<|im_start|>assistant\n")
    config = json.loads((tiny_qwen[kind] / "config.json").read_text())
    assert config["model_type"] == kind


def test_the_cli_builds_qwen_kinds_and_linear_attention_models_are_refused(tmp_path: Path) -> None:
    assert tiny_model.main([str(tmp_path / "q"), "--kind", "qwen3_vl"]) == 0
    assert Engine.load(str(tmp_path / "q"), device="cpu", n_slots=2, k=4).backend.fingerprint
    (tmp_path / "q35").mkdir()
    (tmp_path / "q35" / "config.json").write_text('{"model_type": "qwen3_5"}')
    with pytest.raises(ValueError, match="Qwen3.5 model: most of its layers are linear attention"):
        Engine.load(str(tmp_path / "q35"), device="cpu")


def test_a_big_photo_is_read_at_most_at_the_pixel_cap(qwen: Engine, make_photo: Callable[..., bytes],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Tokens grow with a photo's pixels on these models: Yo caps them (PHOTO_PIXELS), keeping the shape."""
    from personalization.backends import qwen as qwen_backend

    big = make_photo((1, 2, 3), size=(1280, 960))
    before = qwen.inference.image_tokens([big])[0]
    monkeypatch.setattr(qwen_backend, "PHOTO_PIXELS", 48 * 48)
    after = qwen.inference.image_tokens([big])[0]
    side = 16  # pixels per token along each side: 8-px patches, 2 x 2 of them a token
    assert after.grid is not None and len(after) * side * side <= 48 * 48 < len(before) * side * side
    rows, cols = after.grid
    assert cols > rows  # still a landscape photo


async def test_the_worker_process_serves_a_qwen_model(kind: str, tiny_qwen: dict[str, Path], qwen: Engine,
                                                      make_photo: Callable[..., bytes]) -> None:
    """Through the real worker process: concurrent questions share one pass and say what the engine
    says alone, and an answer streams to its caller ending as the answer."""
    import asyncio

    from serving.client import WorkerProcessService

    bo, kiwi = (ConceptRef(name, tokens=random_concept(qwen, seed).to_bytes())
                for name, seed in (("Bo", 3), ("Kiwi", 4)))
    photos = [make_photo((200, 30, 30), size=SIZES[0]), make_photo((20, 30, 200), size=SIZES[1])]
    alone = [qwen.recognise(p, [r])[0].probability for p, r in zip(photos, (bo, kiwi))]
    pieces: list[str] = []
    models = WorkerProcessService(str(tiny_qwen[kind]), device="cpu")
    await models.start()
    try:
        together = await asyncio.gather(*[models.recognise(p, [r]) for p, r in zip(photos, (bo, kiwi))])
        answer = await models.answer(["What colour is ", 0, "?"], [bo], photos[0], on_text=pieces.append)
    finally:
        await models.close()
    assert [r[0].probability for r in together] == pytest.approx(alone, abs=1e-5)
    assert pieces and pieces[-1] == answer
