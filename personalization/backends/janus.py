"""Janus-Pro: one model that understands photos and draws (docs/method.md §4, §11 on the model that stands in
for the papers' Anole, which transformers cannot make draw).

Understanding goes through the same calls as LLaVA: the language model is a Llama, and a photo's
tokens come from the SigLIP tower + aligner, placed at `<image_placeholder>` positions between
`<begin_of_image>` and `<end_of_image>`. Drawing goes through the model's own
`generate(generation_mode="image")`: it embeds the prompt with the input embeddings — the
`SlotEmbedding`, so concept vectors enter there (image generation refuses `inputs_embeds`) —
then writes VQ tokens one by one through its image head and image-generation embeddings. The
classifier-free guidance and the sampling are done by a logits processor of ours (drawing.py),
which sees the conditional and unconditional logits side by side and samples each row with its
own seeded generator: one batch can serve several requests, each reproducible by its seed.

Each slot holds 2k latents: k generation tokens, then k understanding tokens (concept.py).
"""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image, ImageOps

from ..prompts import ChatFormat
from .base import DrawingBackend, ImageEncoding, ImageTokens
from .llava import LlavaBackend

# Small, precision-sensitive parts kept in bf16 when the language model is loaded in 4-bit.
JANUS_UNQUANTISED = ("vision_model", "aligner", "vqmodel", "generation_embeddings", "generation_aligner",
                     "generation_head", "lm_head")


class JanusBackend(LlavaBackend, DrawingBackend):
    UNQUANTISED = JANUS_UNQUANTISED

    @staticmethod
    def model_class() -> Any:
        from transformers import JanusForConditionalGeneration

        return JanusForConditionalGeneration

    @classmethod
    def from_model(cls, model: Any, processor: Any, model_id: str, n_slots: int = 8,
                   k: int = 16) -> "JanusBackend":
        """`k` per token set: every slot holds k generation and k understanding tokens."""
        self = super().from_model(model, processor, model_id, n_slots, 2 * k)
        assert isinstance(self, JanusBackend)
        tokenizer = processor.tokenizer
        self.boi_id = tokenizer.convert_tokens_to_ids(tokenizer.boi_token)
        self.image_tokens = model.config.vision_config.num_image_tokens
        generation = model.generation_config
        # transformers 5 reads generation_config.json without its `generation_kwargs`, where the
        # checkpoints keep the image-start id that image generation needs: put it back.
        extra = dict(getattr(generation, "generation_kwargs", None) or {})
        extra.setdefault("boi_token_id", self.boi_id)
        generation.generation_kwargs = extra
        if generation.pad_token_id is None:
            generation.pad_token_id = tokenizer.pad_token_id
        if generation.bos_token_id is None:
            generation.bos_token_id = tokenizer.bos_token_id
        return self

    def chat_format(self) -> ChatFormat:
        """The template writes one `<image_placeholder>`; the processor wraps it in the image's start
        and end tokens before expanding it: so does the chat format (Tokens.start expands it)."""
        chat = super().chat_format()
        tokenizer = self.processor.tokenizer
        wrapped = tokenizer.boi_token + tokenizer.image_token + tokenizer.eoi_token
        return ChatFormat(chat.user_start_image.replace(tokenizer.image_token, wrapped), chat.user_start_text,
                          chat.assistant_start, chat.answer_lead, chat.answer_end)

    # -- understanding --------------------------------------------------------------------------

    def pixels(self, images: list[Image.Image], dtype: torch.dtype) -> torch.Tensor:
        """Resized, padded to a square, scaled to [-1, 1]: what both the vision tower and the VQ encoder read."""
        inputs = self.processor.image_processor(images=[im.convert("RGB") for im in images], return_tensors="pt")
        return inputs["pixel_values"].to(self.device, dtype)

    @torch.no_grad()
    def encode_images(self, images: list[Image.Image]) -> ImageEncoding:
        janus = self.model.model
        out = janus.get_image_features(pixel_values=self.pixels(images, janus.vision_model.dtype), return_dict=True)
        # SigLIP has no class token (Janus drops its attention-pool head): the mean patch feature.
        pooled = torch.nn.functional.normalize(out.last_hidden_state.mean(1).float(), dim=-1)
        return ImageEncoding([ImageTokens(t.to(self.dtype)) for t in out.pooler_output], pooled)

    # -- drawing ----------------------------------------------------------------------------------

    @property
    def image_size(self) -> int:
        return int(self.model.config.vision_config.image_size)

    @torch.no_grad()
    def vq_encode(self, images: list[Image.Image]) -> torch.Tensor:
        # A centre crop, not the understanding path's padding: a drawing should never learn grey bars.
        side = self.image_size
        squares = [ImageOps.fit(im.convert("RGB"), (side, side), Image.Resampling.BICUBIC) for im in images]
        vq = self.model.model.vqmodel
        return vq.encode(self.pixels(squares, vq.dtype)).image_tokens.view(len(images), -1)

    def vq_embed(self, codes: torch.Tensor) -> torch.Tensor:
        return self.model.prepare_embeddings_for_image_generation(codes).to(self.dtype)

    def vq_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.model.model.generation_head(hidden)

    @torch.no_grad()
    def draw_codes(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, sampler: Any) -> torch.Tensor:
        from transformers import LogitsProcessorList

        # guidance_scale=1 keeps the library's own guidance out: the sampler does it, per row.
        return self.model.generate(input_ids, attention_mask=attention_mask, generation_mode="image",
                                   do_sample=False, guidance_scale=1.0, logits_processor=LogitsProcessorList([sampler]))

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> list[Image.Image]:
        pixels = self.model.decode_image_tokens(codes)  # [n, H, W, 3] in [-1, 1]
        arrays = ((pixels.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()
        return [Image.fromarray(a) for a in arrays]
