"""Pick the backend for a checkpoint by its config's model_type."""

from __future__ import annotations

from .base import Backend, DrawingBackend, ImageEncoding

# LLaVA-1.5 is tested; NeXT and OneVision share its calls (any-resolution images go one at a time).
LLAVA_TYPES = ("llava", "llava_next", "llava_onevision")
JANUS_TYPES = ("janus",)  # Janus-Pro 1B / 7B: understands and draws
# Qwen2.5-VL and Qwen3-VL are tested; Qwen2-VL and the Qwen3-VL MoE models go through the same calls.
QWEN_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe")
# Why not these: most of their layers are linear attention (Gated DeltaNet), which carries a running
# state instead of attending to the tokens before, so several questions cannot branch off one cached
# photo, and the engine's attention masks do not apply.
REFUSED = {"qwen3_5": "Qwen3.5", "qwen3_5_moe": "Qwen3.5 MoE", "qwen3_next": "Qwen3-Next"}


def load_backend(model_id: str, device: str | None = None, load_in_4bit: bool = False,
                 n_slots: int = 8, k: int = 16) -> Backend:
    from transformers import AutoConfig

    model_type = AutoConfig.from_pretrained(model_id).model_type
    if model_type in LLAVA_TYPES:
        from .llava import LlavaBackend

        return LlavaBackend.load(model_id, device=device, load_in_4bit=load_in_4bit, n_slots=n_slots, k=k)
    if model_type in QWEN_TYPES:
        from .qwen import QwenVLBackend

        return QwenVLBackend.load(model_id, device=device, load_in_4bit=load_in_4bit, n_slots=n_slots, k=k)
    if model_type in REFUSED:
        raise ValueError(f"{model_id} is a {REFUSED[model_type]} model: most of its layers are linear attention, "
                         "which keeps a running state instead of attending to earlier tokens, so Yo cannot ask "
                         "several questions of one cached photo; use Qwen3-VL or Qwen2.5-VL")
    if model_type in JANUS_TYPES:
        from .janus import JanusBackend

        return JanusBackend.load(model_id, device=device, load_in_4bit=load_in_4bit, n_slots=n_slots, k=k)
    known = ", ".join(LLAVA_TYPES + QWEN_TYPES + JANUS_TYPES)
    raise ValueError(f"{model_id} is a {model_type!r} model; Yo runs {known} models")


__all__ = ["Backend", "DrawingBackend", "ImageEncoding", "load_backend"]
