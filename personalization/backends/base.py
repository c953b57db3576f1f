"""What the engine needs from a base model, whatever its family.

A backend loads a frozen model with its processor, installs the concept slots, and offers
five things: vision features (pooled, for ranking photos), image tokens (for the language
model), token embeddings (through the slots), the language model's hidden states for
given embeddings, and greedy generation. Everything above it (data, trainer, inference)
is written against this class only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from ..prompts import ChatFormat, Tokens
from ..slots import SlotPool


@dataclass
class ImageEncoding:
    tokens: list[torch.Tensor]  # per image: [n_tokens, hidden] projected into the language model's space
    pooled: torch.Tensor  # [n, d_vision], L2-normalised: for similarity between photos


class Backend(ABC):
    model_id: str
    model: Any
    processor: Any
    device: torch.device
    dtype: torch.dtype  # the dtype the language model computes in
    fingerprint: str
    slots: SlotPool
    tokens: Tokens
    chat: ChatFormat

    @classmethod
    @abstractmethod
    def load(cls, model_id: str, device: str | None = None, load_in_4bit: bool = False,
             n_slots: int = 8, k: int = 16) -> "Backend": ...

    @property
    def hidden_size(self) -> int:
        return self.slots.hidden_size

    @abstractmethod
    def encode_images(self, images: list[Image.Image]) -> ImageEncoding: ...

    def image_features(self, images: list[Image.Image], batch_size: int = 32) -> torch.Tensor:
        """Pooled, L2-normalised vision features [n, d] of the model's own vision tower."""
        if not images:
            return torch.zeros(0, 0)
        return torch.cat([self.encode_images(images[i:i + batch_size]).pooled
                          for i in range(0, len(images), batch_size)])

    @abstractmethod
    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token embeddings, slot tokens taken from the bound concepts."""

    @abstractmethod
    def prefill(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor,
                position_ids: torch.Tensor) -> Any:
        """Run a prefix (no gradients) and return its key/value cache."""

    @abstractmethod
    def hidden_states(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor,
                      position_ids: torch.Tensor, cache: Any = None) -> torch.Tensor:
        """Last hidden states [B, T, d] after `cache`; attention_mask is additive 4D [B, 1, T, cached + T]."""

    @abstractmethod
    def logits(self, hidden: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Next-token logits [N, V] for hidden states [N, d] of batch rows `rows` [N]."""

    @abstractmethod
    def generate(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor,
                 max_new_tokens: int, streamer: Any = None) -> torch.Tensor:
        """Greedy continuation ids [B, <=max_new_tokens] of left-padded embeddings. A `streamer`
        (transformers' `put(ids)` / `end()`) is handed each step's new ids [B] as they are made."""

    def autocast(self) -> Any:
        """bf16 autocast on GPU (the trainable vectors stay fp32); nothing on CPU."""
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)


class DrawingBackend(Backend):
    """A backend whose model also writes images as discrete VQ tokens (Janus-Pro; Chameleon-style).

    Drawing runs the language model over text and then image tokens: an image token is read in
    through the model's image-generation embeddings and predicted by its image head, and the VQ
    decoder turns a full grid of tokens into pixels.
    """

    boi_id: int  # the token that starts an image
    image_tokens: int  # VQ tokens per drawn image (Janus-Pro: 24 x 24 = 576)

    @abstractmethod
    def vq_encode(self, images: list[Image.Image]) -> torch.Tensor:
        """VQ token ids [n, image_tokens] of photos (reconstruction targets)."""

    @abstractmethod
    def vq_embed(self, codes: torch.Tensor) -> torch.Tensor:
        """Language-model input vectors [..., hidden] of VQ token ids [...]."""

    @abstractmethod
    def vq_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Next-image-token logits [..., codebook] of hidden states [..., hidden]."""

    @abstractmethod
    def draw_codes(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, sampler: Any) -> torch.Tensor:
        """VQ token ids [B, image_tokens] continuing left-padded prompts that end with `boi_id`.

        `sampler` is a logits processor given the [2B, codebook] logits of the prompt (first B
        rows) and its unconditional twin (last B rows); it returns [B, codebook] scores whose
        argmax is the next token (classifier-free guidance and sampling are its job).
        """

    @abstractmethod
    def decode(self, codes: torch.Tensor) -> list[Image.Image]:
        """Pixels of VQ token grids [n, image_tokens]."""
