"""A tiny random LLaVA with its processor, built offline, loadable like a real checkpoint.

`build_tiny_model(dir)` writes what `llava-hf/llava-1.5-7b-hf` has on the Hub, at toy size:
config + safetensors weights (CLIP vision tower, projector, Llama text model), a byte-level
BPE tokenizer trained here on a small built-in English corpus (special tokens <s>, </s>,
<unk>, <pad>, <image>), a CLIP image processor and the LLaVA-1.5 chat template. Then

    AutoProcessor.from_pretrained(dir); LlavaForConditionalGeneration.from_pretrained(dir)

load it through the same code path as the real model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .tokenizer import build_tokenizer, name_image_processor_like_the_hub

# LLaVA-1.5's chat template, verbatim as llava-hf ships it: "USER: <image>\n{text} ASSISTANT:".
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}"
    "{% endif %}{# Render all images first #}{% for content in message['content'] | selectattr('type', "
    "'equalto', 'image') %}{{ '<image>\\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != "
    "'assistant' %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', "
    "'equalto', 'text') %}{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

QWEN_KINDS = ("qwen2_5_vl", "qwen3_vl")
KINDS = ("llava", "janus", *QWEN_KINDS)

DEFAULTS: dict[str, Any] = {
    "image_size": 64, "patch_size": 8,  # 64 image tokens per photo
    "vision_hidden": 64, "vision_layers": 2, "vision_heads": 4,
    "text_hidden": 128, "text_layers": 2, "text_heads": 4, "text_kv_heads": 4,
    "vocab_size": 2000, "max_positions": 1024,
}

def build_config(tokenizer: Any, sizes: dict[str, Any]) -> Any:
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    vision = CLIPVisionConfig(
        hidden_size=sizes["vision_hidden"], intermediate_size=4 * sizes["vision_hidden"],
        num_hidden_layers=sizes["vision_layers"], num_attention_heads=sizes["vision_heads"],
        image_size=sizes["image_size"], patch_size=sizes["patch_size"], projection_dim=sizes["vision_hidden"])
    text = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=sizes["text_hidden"], intermediate_size=4 * sizes["text_hidden"],
        num_hidden_layers=sizes["text_layers"], num_attention_heads=sizes["text_heads"],
        num_key_value_heads=sizes["text_kv_heads"], max_position_embeddings=sizes["max_positions"],
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)
    n_patches = (sizes["image_size"] // sizes["patch_size"]) ** 2
    return LlavaConfig(
        vision_config=vision, text_config=text, image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=n_patches, vision_feature_layer=-2, vision_feature_select_strategy="default",
        tie_word_embeddings=False)


def build_processor(tokenizer: Any, image_size: int, patch_size: int) -> Any:
    """LLaVA-1.5's processor: CLIP preprocessing at `image_size`, the chat template, <image> expansion."""
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    crop = {"height": image_size, "width": image_size}
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": image_size}, crop_size=crop)
    return LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=patch_size,
                          vision_feature_select_strategy="default", num_additional_image_tokens=1,
                          chat_template=LLAVA_CHAT_TEMPLATE)


def build_tiny_model(out_dir: Path, kind: str = "llava", seed: int = 0, **overrides: Any) -> Path:
    """Write a tiny random model and its processor to `out_dir`; returns `out_dir`.

    `kind`: "llava" (this module), "janus" (tiny_janus.py: understands and draws), or
    "qwen2_5_vl" / "qwen3_vl" (tiny_qwen.py: multimodal rotary positions, photos at their own shape).
    `overrides` change sizes (keys of DEFAULTS) or add tokenizer text (`corpus=[lines]`).
    """
    if kind == "janus":
        from .tiny_janus import build_tiny_janus

        return build_tiny_janus(Path(out_dir), seed=seed, **overrides)
    if kind in QWEN_KINDS:
        from .tiny_qwen import build_tiny_qwen

        return build_tiny_qwen(Path(out_dir), kind=kind, seed=seed, **overrides)
    if kind != "llava":
        raise ValueError(f"unknown tiny model kind {kind!r} (known: {', '.join(KINDS)})")
    from transformers import LlavaForConditionalGeneration

    extra_corpus = overrides.pop("corpus", ())
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown tiny-model sizes: {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    sizes = {**DEFAULTS, **overrides}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(seed)
    tokenizer = build_tokenizer(sizes["vocab_size"], extra_corpus)
    config = build_config(tokenizer, sizes)
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out_dir)

    build_processor(tokenizer, sizes["image_size"], sizes["patch_size"]).save_pretrained(out_dir)
    name_image_processor_like_the_hub(out_dir)
    return out_dir


def build_tiny_clip(out_dir: Path, seed: int = 0, image_size: int = 32) -> Path:
    """A tiny random CLIP (model + processor) saved like `openai/clip-vit-*`: CLIP-I's scorer in tests."""
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tokenizer = build_tokenizer(600)
    small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = CLIPConfig(text_config={**small, "vocab_size": len(tokenizer), "max_position_embeddings": 77},
                        vision_config={**small, "image_size": image_size, "patch_size": 8}, projection_dim=32)
    CLIPModel(config).eval().save_pretrained(out_dir)
    crop = {"height": image_size, "width": image_size}
    images = CLIPImageProcessorPil(size={"shortest_edge": image_size}, crop_size=crop)
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(out_dir)
    name_image_processor_like_the_hub(out_dir)
    return out_dir
