"""What the toy-world pretraining needs to know of each model family it can build a stand-in of.

The pretraining (pretrain.py, vision.py) is the same for every family: a vision stage that ties
image tokens to the attribute words, then the whole model on the task mix. What differs is how a
photo reaches the model and which modules are the vision side:

- LLaVA: a CLIP tower read at layer -2 without its class token, then the projector; the quick
  look reads the class token after the tower's last norm.
- Qwen-VL: the tower takes a photo as a row of flattened patches with its grid, and its merger
  turns every 2 x 2 patches into one token; there is no class token, so the quick look reads the
  mean of the photo's tokens (as personalization/backends/qwen.py does).

Both stand-ins see a 64-px toy as 16 tokens of 16 x 16 px each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

PHOTO_SIZE = 64  # px: the toy world's photos
# Widths and depths both stand-ins share (keys of build_tiny_model's sizes). LLaVA reads its tower's layer -2,
# so it has two working vision layers; Qwen reads the last.
WIDTHS: dict[str, Any] = {"vision_hidden": 96, "vision_layers": 3, "vision_heads": 4,
                          "text_hidden": 128, "text_layers": 2, "text_heads": 4, "text_kv_heads": 4}


class LlavaStandIn:
    name = "llava"
    image_token = "<image>"
    # Sizes handed to build_tiny_model (keys of lab.tiny's DEFAULTS).
    sizes: dict[str, Any] = {
        **WIDTHS, "image_size": PHOTO_SIZE, "patch_size": 16,  # 16 image tokens; a toy spans 2×2 to 3×3 patches
    }

    def image_tokens(self) -> int:
        return (PHOTO_SIZE // self.sizes["patch_size"]) ** 2

    def load(self, folder: Path) -> tuple[Any, Any]:
        """The processor and the model, loaded as the engine loads them."""
        from personalization.backends.llava import LlavaBackend

        return LlavaBackend.load_processor(str(folder)), LlavaBackend.model_class().from_pretrained(folder)

    def image_inputs(self, pixels: torch.Tensor, image_positions: torch.Tensor) -> dict[str, torch.Tensor]:
        """The model's image arguments for normalised photos (B, 3, H, W) placed where `image_positions` is true."""
        return {"pixel_values": pixels}

    def vision_modules(self, model: Any) -> list[torch.nn.Module]:
        return [model.model.vision_tower, model.model.multi_modal_projector]

    def fresh_modules(self, model: Any) -> list[torch.nn.Module]:
        """What starts at fan-in scale (pretrain.reinitialise_for_width): all but the CLIP tower."""
        return [model.model.language_model, model.model.multi_modal_projector, model.lm_head]

    def vision_features(self, model: Any, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, tokens, hidden): the image tokens the language model reads; (B, width): the quick look's vector."""
        tower = model.model.vision_tower
        out = tower(pixel_values=pixels, output_hidden_states=True)
        tokens = model.model.multi_modal_projector(out.hidden_states[model.config.vision_feature_layer][:, 1:])
        post_layernorm = getattr(tower, "vision_model", tower).post_layernorm
        return tokens, post_layernorm(out.last_hidden_state[:, 0])


class QwenStandIn:
    image_token = "<|image_pad|>"

    def __init__(self, name: str) -> None:
        self.name = name
        # Sizes handed to build_tiny_model (keys of lab.tiny_qwen's QWEN_DEFAULTS): 8-px patches merged
        # 2 × 2, so a 64-px photo is a 4 × 4 grid of tokens.
        self.sizes: dict[str, Any] = {
            **WIDTHS, "patch_size": 8, "min_pixels": 32 * 32, "max_pixels": PHOTO_SIZE * PHOTO_SIZE, "head_dim": 32,
            "mrope_section": [4, 6, 6],  # time, rows, columns: half the head's dimensions
        }

    def image_tokens(self) -> int:
        return (PHOTO_SIZE // (2 * self.sizes["patch_size"])) ** 2

    def load(self, folder: Path) -> tuple[Any, Any]:
        from personalization.backends.qwen import QwenVLBackend

        return QwenVLBackend.load_processor(str(folder)), QwenVLBackend.model_class().from_pretrained(folder)

    def image_inputs(self, pixels: torch.Tensor, image_positions: torch.Tensor) -> dict[str, torch.Tensor]:
        """Which tokens are an image's (M-RoPE gives them their grid positions) and the photos as Qwen's image
        processor lays them out: each repeated over the temporal patch, cut into patches, every 2 × 2 of them
        adjacent in the row, with its grid."""
        return {**self.patches(pixels), "mm_token_type_ids": image_positions.int()}

    def patches(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        b, c, h, w = pixels.shape
        patch, temporal, merge = self.sizes["patch_size"], 2, 2
        rows, cols = h // patch, w // patch
        x = pixels[:, None].expand(b, temporal, c, h, w)
        x = x.reshape(b, temporal, c, rows // merge, merge, patch, cols // merge, merge, patch)
        x = x.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)  # b, merged row, merged col, row, col, channel, time, y, x
        grid = torch.tensor([[1, rows, cols]] * b)
        return {"pixel_values": x.reshape(b * rows * cols, c * temporal * patch * patch), "image_grid_thw": grid}

    def vision_modules(self, model: Any) -> list[torch.nn.Module]:
        return [model.model.visual]

    def fresh_modules(self, model: Any) -> list[torch.nn.Module]:
        """The language side, the head and the mergers (Qwen's projector) start at fan-in scale."""
        visual = model.model.visual
        mergers = [visual.merger, *getattr(visual, "deepstack_merger_list", [])]
        return [model.model.language_model, *mergers, model.lm_head]

    def vision_features(self, model: Any, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = self.patches(pixels)
        grid = inputs["image_grid_thw"]
        tokens = model.model.visual(inputs["pixel_values"], grid_thw=grid, return_dict=True).pooler_output
        tokens = tokens.view(len(grid), -1, tokens.shape[-1])
        return tokens, tokens.mean(1)


# Qwen2.5-VL would go the same way as Qwen3-VL (the same patches and merger); it is left out until measured.
STAND_INS: dict[str, Any] = {"llava": LlavaStandIn(), "qwen3_vl": QwenStandIn("qwen3_vl")}
