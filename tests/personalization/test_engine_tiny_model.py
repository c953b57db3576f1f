"""The tiny model loads through the same calls as a real checkpoint, and the CLI writes it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import AutoProcessor, LlavaForConditionalGeneration

from lab import tiny, tiny_model


def test_loads_like_a_hub_checkpoint_and_generates(tiny_model: Path) -> None:
    processor = AutoProcessor.from_pretrained(tiny_model)
    model = LlavaForConditionalGeneration.from_pretrained(tiny_model).eval()
    conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What color is it?"}]}]
    prompt = processor.apply_chat_template(conversation, add_generation_prompt=True)
    assert prompt == "USER: <image>\nWhat color is it? ASSISTANT:"
    inputs = processor(images=Image.new("RGB", (90, 70), "red"), text=prompt, return_tensors="pt")
    n_image_tokens = int((inputs["input_ids"] == model.config.image_token_id).sum())
    assert n_image_tokens == model.config.image_seq_length == 64
    out = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 4
    tokenizer = processor.tokenizer
    assert [tokenizer.bos_token, tokenizer.eos_token, tokenizer.unk_token, tokenizer.pad_token] == \
        ["<s>", "</s>", "<unk>", "<pad>"]
    # Byte-level BPE: any text encodes without <unk>.
    assert tokenizer.unk_token_id not in tokenizer("Zoë's café ☕", add_special_tokens=False).input_ids


def test_sizes_are_overridable_and_seeded(tmp_path: Path) -> None:
    a = tiny.build_tiny_model(tmp_path / "a", seed=3, text_hidden=64, image_size=32, patch_size=8)
    b = tiny.build_tiny_model(tmp_path / "b", seed=3, text_hidden=64, image_size=32, patch_size=8)
    model_a = LlavaForConditionalGeneration.from_pretrained(a)
    model_b = LlavaForConditionalGeneration.from_pretrained(b)
    assert model_a.config.text_config.hidden_size == 64 and model_a.config.image_seq_length == 16
    for (name, p), (_, q) in zip(model_a.named_parameters(), model_b.named_parameters()):
        assert torch.equal(p, q), name
    with pytest.raises(ValueError, match="unknown tiny-model sizes"):
        tiny.build_tiny_model(tmp_path / "c", hidden=3)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tiny_model.main([str(tmp_path / "m"), "--seed", "2", "--kind", "llava"]) == 0
    assert (tmp_path / "m" / "config.json").exists() and (tmp_path / "m" / "tokenizer.json").exists()
    # `--kind janus` builds one (test_janus.py); toy-world pretraining is written for LLaVA and Qwen-VL.
    assert tiny_model.main([str(tmp_path / "j"), "--kind", "janus", "--pretrain", "toyworld"]) == 2
    assert "written for llava, qwen3_vl, not 'janus'" in capsys.readouterr().err
