"""A tiny random Qwen2.5-VL or Qwen3-VL with its tokenizer and image processor, built offline,
loadable like a real checkpoint.

`build_tiny_qwen(dir, kind)` writes what `Qwen/Qwen2.5-VL-7B-Instruct` (kind "qwen2_5_vl") or
`Qwen/Qwen3-VL-8B-Instruct` ("qwen3_vl") have on the Hub, at toy size: config + safetensors
weights, a byte-level BPE tokenizer with Qwen's special tokens and chat template (no BOS; answers
end with <|im_end|>), and Qwen's image processor, which keeps a photo's aspect ratio: a photo
becomes a grid of patches, every 2 x 2 of them one language-model token. Then

    AutoTokenizer.from_pretrained(dir); AutoImageProcessor.from_pretrained(dir)
    Qwen2_5_VLForConditionalGeneration.from_pretrained(dir)  # or Qwen3VLForConditionalGeneration

load it through the same code path as the real model (the Qwen backend loads exactly these;
personalization/backends/qwen.py says why not AutoProcessor).

Sizes keep the real models' structure: Qwen2.5-VL's windowed vision attention with a full-attention
block, Qwen3-VL's learned vision position grid and DeepStack, and both models' M-RoPE with its
three sections (time, rows, columns) over a small head. Photos are 32-96 px: 4 to 36 tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .tokenizer import Specials, build_tokenizer, name_image_processor_like_the_hub

KINDS = ("qwen2_5_vl", "qwen3_vl")

# Qwen2-VL / Qwen2.5-VL's chat template as the Instruct checkpoints ship it (a default system prompt).
QWEN2_5_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Qwen3-VL's template, trimmed to plain user / assistant turns (no tools, no thinking): no system prompt.
QWEN3_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

QWEN_SPECIALS = Specials(
    bos=None, eos="<|im_end|>", unk="<unk>", pad="<|endoftext|>",
    named=(("image_token", "<|image_pad|>"), ("video_token", "<|video_pad|>"),
           ("vision_start_token", "<|vision_start|>"), ("vision_end_token", "<|vision_end|>"),
           ("im_start_token", "<|im_start|>")))

QWEN_DEFAULTS: dict[str, Any] = {
    "patch_size": 8, "min_pixels": 32 * 32, "max_pixels": 96 * 96,  # 4 to 36 tokens a photo
    "vision_hidden": 32, "vision_layers": 2, "vision_heads": 2,
    "text_hidden": 64, "text_layers": 2, "text_heads": 4, "text_kv_heads": 2, "head_dim": 16,
    "mrope_section": [2, 3, 3],  # time, rows, columns: half the head's dimensions
    "vocab_size": 2000, "max_positions": 2048,
}

_QWEN_LINES = ("<|im_start|>user\nIs Bo in this photo?<|im_end|>\n<|im_start|>assistant\nYes, Bo is here.",
               "You are a helpful assistant.", "Picture 1: a photo of Bo.")


def vision_token_ids(tokenizer: Any) -> dict[str, int]:
    """The config's ids of Qwen's image, video and vision start / end tokens in `tokenizer`."""
    return {name: tokenizer.convert_tokens_to_ids(token) for name, token in (
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"))}


def build_qwen_config(kind: str, tokenizer: Any, sizes: dict[str, Any]) -> Any:
    ids = vision_token_ids(tokenizer)
    text = dict(
        vocab_size=len(tokenizer), hidden_size=sizes["text_hidden"], intermediate_size=4 * sizes["text_hidden"],
        num_hidden_layers=sizes["text_layers"], num_attention_heads=sizes["text_heads"],
        num_key_value_heads=sizes["text_kv_heads"], max_position_embeddings=sizes["max_positions"],
        bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": sizes["mrope_section"]})
    vision = dict(depth=sizes["vision_layers"], hidden_size=sizes["vision_hidden"], num_heads=sizes["vision_heads"],
                  intermediate_size=2 * sizes["vision_hidden"], patch_size=sizes["patch_size"], spatial_merge_size=2,
                  temporal_patch_size=2, out_hidden_size=sizes["text_hidden"])
    if kind == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig

        # Windowed attention over 2 x 2 merged tokens, the last block attending fully, as Qwen2.5-VL's do.
        vision.update(window_size=4 * sizes["patch_size"], fullatt_block_indexes=[sizes["vision_layers"] - 1])
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **ids)
    from transformers import Qwen3VLConfig

    text.update(head_dim=sizes["head_dim"])
    text["rope_parameters"]["mrope_interleaved"] = True
    # A learned 8 x 8 grid of position embeddings (interpolated to each photo), and DeepStack from the first block.
    vision.update(num_position_embeddings=64, deepstack_visual_indexes=[0])
    return Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **ids)


def build_qwen_image_processor(sizes: dict[str, Any]) -> Any:
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil(patch_size=sizes["patch_size"], temporal_patch_size=2, merge_size=2,
                                    size={"shortest_edge": sizes["min_pixels"], "longest_edge": sizes["max_pixels"]})


def build_tiny_qwen(out_dir: Path, kind: str = "qwen3_vl", seed: int = 0, **overrides: Any) -> Path:
    """Write a tiny random Qwen-VL of `kind` and its tokenizer and image processor to `out_dir`."""
    if kind not in KINDS:
        raise ValueError(f"unknown Qwen kind {kind!r} (known: {', '.join(KINDS)})")
    extra_corpus = list(overrides.pop("corpus", ()))
    unknown = set(overrides) - set(QWEN_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown tiny-model sizes: {sorted(unknown)}; known: {sorted(QWEN_DEFAULTS)}")
    sizes = {**QWEN_DEFAULTS, **overrides}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(seed)
    tokenizer = build_tokenizer(sizes["vocab_size"], [*_QWEN_LINES, *extra_corpus], QWEN_SPECIALS)
    tokenizer.chat_template = QWEN2_5_CHAT_TEMPLATE if kind == "qwen2_5_vl" else QWEN3_CHAT_TEMPLATE
    config = build_qwen_config(kind, tokenizer, sizes)
    if kind == "qwen2_5_vl":
        from transformers import Qwen2_5_VLForConditionalGeneration as Model
    else:
        from transformers import Qwen3VLForConditionalGeneration as Model
    model = Model(config).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    build_qwen_image_processor(sizes).save_pretrained(out_dir)
    name_image_processor_like_the_hub(out_dir)
    return out_dir
