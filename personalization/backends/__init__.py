"""Pick the backend for a checkpoint by its config's model_type."""

from __future__ import annotations

from .base import Backend, DrawingBackend, ImageEncoding

# LLaVA-1.5 is tested; NeXT and OneVision share its calls (any-resolution images go one at a time).
LLAVA_TYPES = ("llava", "llava_next", "llava_onevision")
JANUS_TYPES = ("janus",)  # Janus-Pro 1B / 7B: understands and draws


def load_backend(model_id: str, device: str | None = None, load_in_4bit: bool = False,
                 n_slots: int = 8, k: int = 16) -> Backend:
    from transformers import AutoConfig

    model_type = AutoConfig.from_pretrained(model_id).model_type
    if model_type in LLAVA_TYPES:
        from .llava import LlavaBackend

        return LlavaBackend.load(model_id, device=device, load_in_4bit=load_in_4bit, n_slots=n_slots, k=k)
    if model_type in JANUS_TYPES:
        from .janus import JanusBackend

        return JanusBackend.load(model_id, device=device, load_in_4bit=load_in_4bit, n_slots=n_slots, k=k)
    raise ValueError(f"{model_id} is a {model_type!r} model; Yo runs {', '.join(LLAVA_TYPES + JANUS_TYPES)} models")


__all__ = ["Backend", "DrawingBackend", "ImageEncoding", "load_backend"]
