"""What the engine needs from a base model, whatever its family.

A backend loads a frozen model with its processor, installs the concept slots, and offers
six things: vision features (pooled, for ranking photos), image tokens (for the language
model), token embeddings (through the slots), the positions the model gives a prompt, the
language model's hidden states for given embeddings, and greedy generation. Everything
above it (data, trainer, inference) is written against this class only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from PIL import Image

from ..prompts import ChatFormat, Tokens
from ..slots import SlotPool


@dataclass(frozen=True)
class ImageTokens:
    """One photo as the language model reads it: vectors for its placeholder tokens, and what else
    a model needs to place them."""

    embeds: torch.Tensor  # [n, hidden], projected into the language model's space
    # Models with multimodal rotary positions (Qwen-VL's M-RoPE) place the n tokens on a grid of
    # rows x columns (docs/architecture.md, "Positions"); None: a plain sequence of n positions.
    grid: tuple[int, int] | None = None
    # Qwen3-VL's DeepStack: [layers, n, hidden] vision features added to the outputs of the
    # language model's first layers at the image's positions.
    deepstack: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.embeds.shape[0]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "ImageTokens":
        def moved(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device, non_blocking=non_blocking)

        return ImageTokens(self.embeds.to(device, non_blocking=non_blocking), self.grid, moved(self.deepstack))

    def cpu(self) -> "ImageTokens":
        return self.to("cpu")

    def pin_memory(self) -> "ImageTokens":
        deepstack = None if self.deepstack is None else self.deepstack.pin_memory()
        return ImageTokens(self.embeds.pin_memory(), self.grid, deepstack)


@dataclass
class ImageEncoding:
    tokens: list[ImageTokens]  # per image
    pooled: torch.Tensor  # [n, d_vision], L2-normalised: for similarity between photos


@dataclass
class Placed:
    """Where images sit in a batch of token ids: placeholders `where` [B, T], filled row by row
    with `images` in order."""

    where: torch.Tensor
    images: list[ImageTokens]

    def embeds(self) -> torch.Tensor:
        return torch.cat([image.embeds for image in self.images])


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

    def embed_with_images(self, input_ids: torch.Tensor, images: Sequence[ImageTokens],
                          mask: torch.Tensor | None = None) -> tuple[torch.Tensor, Placed | None]:
        """Token embeddings with each image's vectors at its placeholders (rows in order; `mask`
        [B, T], 1 where a token is real, keeps padding that happens to be the image id out)."""
        embeds = self.embed(input_ids)
        if not images:
            return embeds, None
        where = input_ids == self.tokens.image_token_id
        if mask is not None:
            where &= mask.bool()
        placed = Placed(where, list(images))
        return embeds.masked_scatter(where[..., None], placed.embeds().to(embeds.dtype)), placed

    def positions(self, ids: Sequence[int], image: ImageTokens | None) -> torch.Tensor:
        """The positions [axes, T] the model itself gives a prompt that starts a sequence: one axis
        counting 0, 1, 2, ... for plain rotary (or learned) positions. The text after the prompt
        goes on from its largest position + 1."""
        return torch.arange(len(ids))[None]

    @abstractmethod
    def prefill(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor,
                position_ids: torch.Tensor, placed: Placed | None = None) -> Any:
        """Run a prefix (no gradients) and return its key/value cache. `placed`: its images."""

    @abstractmethod
    def hidden_states(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor,
                      position_ids: torch.Tensor, cache: Any = None) -> torch.Tensor:
        """Last hidden states [B, T, d] after `cache`; attention_mask is additive 4D [B, 1, T, cached + T]."""

    @abstractmethod
    def logits(self, hidden: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Next-token logits [N, V] for hidden states [N, d] of batch rows `rows` [N]."""

    @abstractmethod
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, images: Sequence[ImageTokens],
                 max_new_tokens: int, streamer: Any = None) -> torch.Tensor:
        """Greedy continuation ids [B, <=max_new_tokens] of left-padded prompts whose image
        placeholders `images` fill, rows in order (slot vectors must be bound). A `streamer`
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
