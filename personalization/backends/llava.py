"""The LLaVA family (LLaVA-1.5 tested; LLaVA-NeXT / OneVision go through the same calls).

The model is loaded once with `from_pretrained`, frozen (`requires_grad_(False)`, eval),
and driven below the level of its `forward`: the engine builds `inputs_embeds` itself
(slot vectors + precomputed image tokens) and asks the language model for hidden states,
so images are encoded once per photo and logits are computed only where they are read.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any, Sequence

import torch
from PIL import Image

from ..concept import fingerprint
from ..prompts import ChatFormat, Tokens
from ..slots import SlotPool
from .base import Backend, ImageEncoding, ImageTokens, Placed

log = logging.getLogger(__name__)


def pick_device(device: str | None) -> torch.device:
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


LLAVA_UNQUANTISED = ("vision_tower", "multi_modal_projector", "lm_head")


def quantization_config(device: torch.device, keep: tuple[str, ...] = LLAVA_UNQUANTISED) -> object:
    if importlib.util.find_spec("bitsandbytes") is None:
        raise RuntimeError("4-bit loading needs bitsandbytes: pip install 'yo[quantization]'")
    if device.type != "cuda":
        raise RuntimeError("4-bit loading needs a CUDA GPU; on a CPU load the model without it")
    from transformers import BitsAndBytesConfig

    # The vision tower and projector are small and precision-sensitive: only the language model is quantised.
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
                              llm_int8_skip_modules=list(keep))


def runs_on_device(image_processor: Any) -> bool:
    """Whether an image processor is transformers' torchvision backend, which takes a `device`."""
    try:
        from transformers.image_processing_backends import TorchvisionBackend
    except ImportError:  # an older transformers: no such backend
        return False
    return isinstance(image_processor, TorchvisionBackend)


class LlavaBackend(Backend):
    # Kept in bf16 when the language model is loaded in 4-bit; each family names its own.
    UNQUANTISED: tuple[str, ...] = LLAVA_UNQUANTISED

    @classmethod
    def load(cls, model_id: str, device: str | None = None, load_in_4bit: bool = False,
             n_slots: int = 8, k: int = 16) -> "LlavaBackend":
        target = pick_device(device)
        kwargs: dict[str, object] = {"dtype": torch.bfloat16 if target.type == "cuda" else torch.float32}
        if load_in_4bit:
            kwargs["quantization_config"] = quantization_config(target, cls.UNQUANTISED)
            kwargs["device_map"] = {"": target.index or 0}
        model = cls.model_class().from_pretrained(model_id, **kwargs)
        if not load_in_4bit:
            model.to(target)  # type: ignore[arg-type]
        return cls.from_model(model, cls.load_processor(model_id), model_id, n_slots, k)

    @staticmethod
    def model_class() -> Any:
        from transformers import AutoModelForImageTextToText

        return AutoModelForImageTextToText

    @staticmethod
    def load_processor(model_id: str) -> Any:
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(model_id)

    @classmethod
    def from_model(cls, model: object, processor: object, model_id: str, n_slots: int = 8,
                   k: int = 16) -> "LlavaBackend":
        """Wrap a model already in memory (benchmarks build random ones at real shapes)."""
        self = cls()
        self.model_id, self.model, self.processor = model_id, model, processor
        self.device = next(self.model.parameters()).device
        self.dtype = self.model.get_input_embeddings().weight.dtype
        self.model.requires_grad_(False).eval()
        self.fingerprint = fingerprint(self.model)  # before the slot rows exist: they are ours, not the model's
        self.slots = SlotPool.install(self.model, self.processor.tokenizer, n_slots=n_slots, k=k)
        self.model.requires_grad_(False)  # the resized tables too
        self.chat = self.chat_format()
        self.tokens = Tokens(self.processor.tokenizer, self.chat, self.model.config.image_token_id)
        return self

    def chat_format(self) -> ChatFormat:
        """The chat layout, from the model's own chat template."""
        return ChatFormat.from_processor(self.processor)

    # -- vision --------------------------------------------------------------------------------

    @torch.no_grad()
    def encode_images(self, images: list[Image.Image]) -> ImageEncoding:
        image_processor = self.processor.image_processor
        # The torchvision backend (what AutoProcessor picks where torchvision is installed) resizes and
        # normalises on the model's device: on a GPU, preprocessing on the CPU no longer sets the pace.
        extra = {"device": self.device} if runs_on_device(image_processor) else {}
        inputs = image_processor(images=[im.convert("RGB") for im in images], return_tensors="pt", **extra)
        pixels = inputs["pixel_values"].to(self.device, self.model.model.vision_tower.dtype)
        if "image_sizes" not in inputs:  # LLaVA-1.5: one fixed-size crop per image, all in one batch
            return self._encode(pixels, None)
        # Any-resolution models (NeXT, OneVision) tile each image differently: one at a time.
        parts = [self._encode(pixels[i:i + 1], inputs["image_sizes"][i:i + 1]) for i in range(len(images))]
        return ImageEncoding([p.tokens[0] for p in parts], torch.cat([p.pooled for p in parts]))

    def _encode(self, pixels: torch.Tensor, sizes: torch.Tensor | None) -> ImageEncoding:
        extra = {} if sizes is None else {"image_sizes": sizes}
        out = self.model.model.get_image_features(pixel_values=pixels, return_dict=True, **extra)
        tokens = out.pooler_output
        if isinstance(tokens, torch.Tensor):  # packed any-resolution features of the one image
            tokens = [tokens.reshape(-1, tokens.shape[-1])]
        last = out.last_hidden_state
        if sizes is not None:
            last = last[:1]  # the first tile is the whole image, resized
        tower = self.model.model.vision_tower
        vision_config = self.model.config.vision_config
        post = getattr(getattr(tower, "vision_model", tower), "post_layernorm", None)
        if vision_config.model_type.startswith("clip") and post is not None:
            pooled = post(last[:, 0])  # CLIP's own image embedding: the class token
        else:
            pooled = last.mean(1)
        pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
        return ImageEncoding([ImageTokens(t.to(self.dtype)) for t in tokens], pooled)

    # -- language model -----------------------------------------------------------------------

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model.get_input_embeddings()(input_ids)

    @torch.no_grad()
    def prefill(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor,
                position_ids: torch.Tensor, placed: Placed | None = None) -> object:
        out = self.model.model.language_model(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                                              position_ids=position_ids, use_cache=True)
        return out.cache

    def hidden_states(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor,
                      position_ids: torch.Tensor, cache: object = None) -> torch.Tensor:
        out = self.model.model.language_model(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                                              position_ids=position_ids, cache=cache,
                                              use_cache=cache is not None)
        return out.last_hidden_state

    def logits(self, hidden: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return self.model.lm_head.logits(hidden, rows)

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, images: Sequence[ImageTokens],
                 max_new_tokens: int, streamer: Any = None) -> torch.Tensor:
        inputs_embeds, _ = self.embed_with_images(input_ids, images, attention_mask)
        return self.model.generate(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                                   max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, streamer=streamer,
                                   pad_token_id=self.tokens.pad_id, eos_token_id=self.tokens.stop_ids)
