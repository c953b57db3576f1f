"""Random weights at real models' shapes, built on the device (no download): what the GPU benchmarks
(bench/train.py, bench/serve.py) measure speed and memory on. `layers` cuts a model to that many
layers: a smoke run on a CPU."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from personalization import Engine  # noqa: E402
from personalization.backends.llava import LlavaBackend  # noqa: E402
from personalization.backends.qwen import ImageTextProcessor, QwenVLBackend  # noqa: E402


def llava_7b(device: torch.device, layers: int | None = None, torchvision: bool = False) -> Engine:
    """Random weights at LLaVA-1.5-7B's shapes, built on the device: CLIP ViT-L/14-336 + Llama-7B.

    `layers` cuts both towers to that many layers (every other shape stays): a smoke run on a CPU.
    `torchvision`: preprocess photos with transformers' torchvision backend, on the device, as a real
    checkpoint loads where torchvision is installed (else the PIL backend, on the CPU).
    """
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    from lab.tiny import build_processor
    from lab.tokenizer import build_tokenizer

    tokenizer = build_tokenizer(2000)
    vision = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=layers or 24,
                              num_attention_heads=16,
                              image_size=336, patch_size=14, projection_dim=768)
    text = LlamaConfig(vocab_size=32064, hidden_size=4096, intermediate_size=11008, num_hidden_layers=layers or 32,
                       num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id)
    config = LlavaConfig(vision_config=vision, text_config=text, image_seq_length=576,
                         image_token_index=tokenizer.convert_tokens_to_ids("<image>"))
    with torch.device(device):
        model = LlavaForConditionalGeneration._from_config(config, dtype=torch.bfloat16)
    processor = build_processor(tokenizer, 336, 14)
    if torchvision and importlib.util.find_spec("torchvision") is not None:
        from transformers import CLIPImageProcessor

        processor.image_processor = CLIPImageProcessor(size={"shortest_edge": 336},
                                                       crop_size={"height": 336, "width": 336})
    backend = LlavaBackend.from_model(model, processor, "random/llava-1.5-7b-shape")
    return Engine(backend)


# The language model and vision tower of each checkpoint, as its config.json gives them, and whether
# its head shares the embedding table (the small Qwen3-VLs).
QWEN3_4B_TEXT = dict(vocab_size=151936, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
                     num_attention_heads=32, num_key_value_heads=8, head_dim=128, rope_parameters={
                         "rope_type": "default", "rope_theta": 5_000_000.0, "mrope_section": [24, 20, 20],
                         "mrope_interleaved": True})
QWEN3_SMALL_VISION = dict(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16, patch_size=16,
                          num_position_embeddings=2304, deepstack_visual_indexes=[5, 11, 17])
QWEN_SHAPES: dict[str, tuple[str, dict[str, Any], dict[str, Any], bool]] = {
    "qwen3-vl-8b": ("qwen3_vl", dict(
        vocab_size=151936, hidden_size=4096, intermediate_size=12288, num_hidden_layers=36, num_attention_heads=32,
        num_key_value_heads=8, head_dim=128, rope_parameters={
            "rope_type": "default", "rope_theta": 5_000_000.0, "mrope_section": [24, 20, 20], "mrope_interleaved": True}),
        dict(depth=27, hidden_size=1152, intermediate_size=4304, num_heads=16, patch_size=16, out_hidden_size=4096,
             num_position_embeddings=2304, deepstack_visual_indexes=[8, 16, 24]), False),
    "qwen3-vl-4b": ("qwen3_vl", QWEN3_4B_TEXT, dict(QWEN3_SMALL_VISION, out_hidden_size=2560), True),
    "qwen3-vl-2b": ("qwen3_vl", dict(QWEN3_4B_TEXT, hidden_size=2048, intermediate_size=6144, num_hidden_layers=28,
                                     num_attention_heads=16),
                    dict(QWEN3_SMALL_VISION, out_hidden_size=2048), True),
    "qwen2.5-vl-7b": ("qwen2_5_vl", dict(
        vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
        num_key_value_heads=4, rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0,
                                                "mrope_section": [16, 24, 24]}),
        dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, patch_size=14, out_hidden_size=3584,
             window_size=112, fullatt_block_indexes=[7, 15, 23, 31]), False),
}


def qwen_vl(shape: str, device: torch.device, layers: int | None = None) -> Engine:
    """Random weights at a Qwen-VL checkpoint's shapes (QWEN_SHAPES), built on the device, with Qwen's
    image processor at the real patch size. `layers` cuts both towers to that many layers and the
    vocabulary to 32k rows (the recipe's side keeps Adam states and a copy of both 150k-row tables):
    a smoke run on a CPU."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen3VLConfig
    from transformers import Qwen3VLForConditionalGeneration

    from lab.tiny_qwen import (QWEN2_5_CHAT_TEMPLATE, QWEN3_CHAT_TEMPLATE, QWEN_SPECIALS, build_qwen_image_processor,
                                vision_token_ids)
    from lab.tokenizer import build_tokenizer

    kind, text, vision, tied = QWEN_SHAPES[shape]
    text, vision = dict(text, rope_parameters=dict(text["rope_parameters"])), dict(vision)
    if layers:
        text["num_hidden_layers"], vision["depth"], text["vocab_size"] = layers, layers, 32064
        for key in ("deepstack_visual_indexes", "fullatt_block_indexes"):
            if key in vision:
                vision[key] = [i for i in vision[key] if i < layers] or [layers - 1]
    tokenizer = build_tokenizer(2000, specials=QWEN_SPECIALS)
    tokenizer.chat_template = QWEN3_CHAT_TEMPLATE if kind == "qwen3_vl" else QWEN2_5_CHAT_TEMPLATE
    ids = vision_token_ids(tokenizer)
    text.update(max_position_embeddings=32768, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id)
    vision.update(spatial_merge_size=2, temporal_patch_size=2)
    configs = {"qwen3_vl": (Qwen3VLConfig, Qwen3VLForConditionalGeneration),
               "qwen2_5_vl": (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration)}
    config_class, model_class = configs[kind]
    config = config_class(text_config=text, vision_config=vision, tie_word_embeddings=tied, **ids)
    with torch.device(device):
        model = model_class._from_config(config, dtype=torch.bfloat16 if device.type == "cuda" else torch.float32)
    pixels = {"patch_size": vision["patch_size"], "min_pixels": 56 * 56, "max_pixels": 16384 * 28 * 28}
    processor = ImageTextProcessor(tokenizer, build_qwen_image_processor(pixels))
    return Engine(QwenVLBackend.from_model(model, processor, f"random/{shape}-shape"))
