"""The Qwen-VL family: Qwen2-VL, Qwen2.5-VL, Qwen3-VL (dense and MoE).

The same method and the same engine as LLaVA (the backend is LLaVA's, with three differences):

- **Positions.** These models give their tokens multimodal rotary positions (M-RoPE): three
  numbers per token (time, row, column). Text counts up on all three alike; an image's tokens sit
  on its grid (rows x columns of 2 x 2 merged patches), all starting where the text before it
  stopped, and the text after it goes on from there + max(rows, columns), not + the number of
  image tokens. `positions` computes exactly what the model's own `get_rope_index` does, so a
  cached prefix with several questions branching off it computes what the model computes for
  each question alone (tests/personalization/test_qwen.py checks the logits).
- **Photos keep their shape.** The image processor resizes a photo to a multiple of the patch
  grid at about its own aspect ratio, so photos give different numbers of tokens: each photo's
  tokens carry their grid (`ImageTokens.grid`).
- **DeepStack (Qwen3-VL).** Features from a few vision layers are added to the outputs of the
  language model's first layers at the image's positions; they travel with the photo's tokens
  and are handed to the language model when the prefix holding the image runs.

Generation is the engine's own greedy loop (with a key/value cache), not `model.generate`,
which cannot be given 3-axis positions for prompts that arrive as embeddings.

The processor is loaded as its two parts, each with `from_pretrained`: the tokenizer (which
carries the chat template) and the image processor. `AutoProcessor` would also load the video
processor, which needs torchvision, for videos Yo never reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from PIL import Image

from .base import ImageEncoding, ImageTokens, Placed
from .llava import LlavaBackend

# Kept in full precision under 4-bit: the vision tower with its merger, and the head.
QWEN_UNQUANTISED = ("visual", "lm_head")
# Photos arrive at up to 1280 px a side (Telegram's size); under the processors' own ceiling (16 M pixels
# for Qwen3-VL) one would be ~1,200 tokens, and training and memory scale with it. Yo reads a photo at
# up to this many pixels: at most 400 tokens on Qwen3-VL (32 px a token), 522 on Qwen2.5-VL (28 px),
# about LLaVA-1.5's 576.
PHOTO_PIXELS = 640 * 640


@dataclass
class ImageTextProcessor:
    """What Yo uses of a Qwen-VL processor: the tokenizer (with the chat template) and the image processor."""

    tokenizer: Any
    image_processor: Any

    @classmethod
    def from_pretrained(cls, model_id: str) -> "ImageTextProcessor":
        from transformers import AutoImageProcessor, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_id)
        if tokenizer.chat_template is None:
            raise ValueError(f"{model_id} has no chat template with its tokenizer; Yo needs one to lay out a chat")
        return cls(tokenizer, AutoImageProcessor.from_pretrained(model_id))

    def apply_chat_template(self, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
        return self.tokenizer.apply_chat_template(messages, **kwargs)


class QwenVLBackend(LlavaBackend):
    UNQUANTISED = QWEN_UNQUANTISED

    @staticmethod
    def load_processor(model_id: str) -> Any:
        return ImageTextProcessor.from_pretrained(model_id)

    @property
    def merge(self) -> int:
        """Patches per image token along each side (2: every 2 x 2 patches become one token)."""
        return int(self.model.config.vision_config.spatial_merge_size)

    # -- vision --------------------------------------------------------------------------------

    @torch.no_grad()
    def encode_images(self, images: list[Image.Image]) -> ImageEncoding:
        image_processor = self.processor.image_processor
        most = min(image_processor.size.longest_edge, PHOTO_PIXELS)
        size = {"shortest_edge": min(image_processor.size.shortest_edge, most), "longest_edge": most}
        inputs = image_processor(images=[im.convert("RGB") for im in images], return_tensors="pt", size=size)
        visual = self.model.model.visual
        grids = inputs["image_grid_thw"].to(self.device)
        out = self.model.model.get_image_features(pixel_values=inputs["pixel_values"].to(self.device, visual.dtype),
                                                  image_grid_thw=grids, return_dict=True)
        stacks = getattr(out, "deepstack_features", None)  # Qwen3-VL: per layer, per image
        tokens = []
        for i, (embeds, (_, rows, cols)) in enumerate(zip(out.pooler_output, grids.tolist())):
            deepstack = None if not stacks else torch.stack([layer[i] for layer in stacks]).to(self.dtype)
            tokens.append(ImageTokens(embeds.to(self.dtype), (rows // self.merge, cols // self.merge), deepstack))
        # No class token: a photo's vector is the mean of its tokens, as the language model reads them.
        pooled = torch.stack([t.embeds.float().mean(0) for t in tokens])
        return ImageEncoding(tokens, torch.nn.functional.normalize(pooled, dim=-1))

    # -- positions -----------------------------------------------------------------------------

    def positions(self, ids: Sequence[int], image: ImageTokens | None) -> torch.Tensor:
        """[3, T]: time, row and column of every token, as the model's `get_rope_index` gives them."""
        out = torch.empty(3, len(ids), dtype=torch.long)
        image_id, at, next_position = self.tokens.image_token_id, 0, 0
        while at < len(ids):
            if ids[at] == image_id and image is not None and image.grid is not None:
                rows, cols = image.grid
                out[0, at:at + rows * cols] = next_position
                out[1, at:at + rows * cols] = next_position + torch.arange(rows).repeat_interleave(cols)
                out[2, at:at + rows * cols] = next_position + torch.arange(cols).repeat(rows)
                at, next_position = at + rows * cols, next_position + max(rows, cols)
            else:
                out[:, at] = next_position
                at, next_position = at + 1, next_position + 1
        return out

    # -- language model -----------------------------------------------------------------------

    def deepstack(self, placed: Placed | None) -> dict[str, Any]:
        """The language model's DeepStack arguments for the images in `placed` (Qwen3-VL), else none."""
        if placed is None or placed.images[0].deepstack is None:
            return {}
        layers = torch.cat([image.deepstack for image in placed.images if image.deepstack is not None], dim=1)
        return {"visual_pos_masks": placed.where, "deepstack_visual_embeds": list(layers)}

    @torch.no_grad()
    def prefill(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor,
                position_ids: torch.Tensor, placed: Placed | None = None) -> object:
        out = self.model.model.language_model(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                                              position_ids=position_ids, use_cache=True, **self.deepstack(placed))
        return out.cache

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, images: Sequence[ImageTokens],
                 max_new_tokens: int, streamer: Any = None) -> torch.Tensor:
        language_model, batch = self.model.model.language_model, input_ids.shape[0]
        embeds, placed = self.embed_with_images(input_ids, images, attention_mask)
        positions = torch.zeros(3, *input_ids.shape, dtype=torch.long)  # left padding: masked, any position
        pictures = iter(images)
        for row, real in enumerate(attention_mask.bool().cpu()):
            ids = input_ids[row][real].tolist()
            positions[:, row, real] = self.positions(ids, next(pictures) if self.tokens.image_token_id in ids else None)
        positions = positions.to(self.device)
        following = positions.amax(dim=(0, 2)) + 1  # [B]: where each row's answer starts
        out = language_model(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=positions,
                             use_cache=True, **self.deepstack(placed))
        hidden, cache, mask = out.last_hidden_state[:, -1], out.cache, attention_mask
        rows, stop = torch.arange(batch, device=self.device), torch.tensor(self.tokens.stop_ids, device=self.device)
        done = torch.zeros(batch, dtype=torch.bool, device=self.device)
        said: list[torch.Tensor] = []
        for _ in range(max_new_tokens):
            token = self.logits(hidden, rows).argmax(-1).masked_fill(done, self.tokens.pad_id)
            said.append(token)
            if streamer is not None:
                streamer.put(token.cpu())
            done |= torch.isin(token, stop)
            if bool(done.all()):
                break
            mask = torch.cat([mask, mask.new_ones(batch, 1)], dim=1)
            out = language_model(inputs_embeds=self.embed(token[:, None]), attention_mask=mask,
                                 position_ids=following[None, :, None].expand(3, -1, 1), cache=cache,
                                 use_cache=True)
            hidden, cache, following = out.last_hidden_state[:, -1], out.cache, following + 1
        if streamer is not None:
            streamer.end()
        return torch.stack(said, dim=1) if said else input_ids.new_zeros(batch, 0)
