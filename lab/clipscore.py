"""CLIP-I (docs/method.md §5): how much drawn images look like the subject, by CLIP's image features.

    clip = ClipImages("openai/clip-vit-large-patch14")   # any CLIPModel id or folder
    clip.clip_i(drawn_pngs, real_photos)                  # cosine to the real photos' mean feature

The papers' measure of generation: the mean, over generated images, of the cosine between each
one's CLIP image embedding and the (normalised) mean embedding of the subject's real photos.
CLIP is a separate model from the one that draws, so a model cannot score itself well by
drawing what its own vision tower likes.
"""

from __future__ import annotations

import io
from typing import Any, Sequence

import torch
from PIL import Image


def _image(data: bytes | Image.Image) -> Image.Image:
    return data.convert("RGB") if isinstance(data, Image.Image) else Image.open(io.BytesIO(data)).convert("RGB")


class ClipImages:
    def __init__(self, model_id: str, device: str | None = None, batch_size: int = 32) -> None:
        from transformers import AutoProcessor, CLIPModel

        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model: Any = CLIPModel.from_pretrained(model_id).to(self.device).eval()  # type: ignore[arg-type]
        processor = AutoProcessor.from_pretrained(model_id)
        self.images: Any = getattr(processor, "image_processor", processor)  # a CLIPProcessor, or its image part
        self.model_id, self.batch_size = model_id, batch_size

    @torch.no_grad()
    def features(self, images: Sequence[bytes | Image.Image]) -> torch.Tensor:
        """L2-normalised CLIP image embeddings [n, d]."""
        out = []
        for start in range(0, len(images), self.batch_size):
            chunk = [_image(i) for i in images[start:start + self.batch_size]]
            pixels = self.images(images=chunk, return_tensors="pt")["pixel_values"].to(self.device)
            embedded = self.model.get_image_features(pixel_values=pixels)
            if not isinstance(embedded, torch.Tensor):  # transformers 5 returns the output, projection pooled
                embedded = embedded.pooler_output
            out.append(torch.nn.functional.normalize(embedded.float(), dim=-1).cpu())
        return torch.cat(out) if out else torch.zeros(0, 0)

    def clip_i(self, drawn: Sequence[bytes | Image.Image], real: Sequence[bytes | Image.Image]) -> float:
        if not drawn or not real:
            raise ValueError("CLIP-I needs drawn images and real photos")
        centre = torch.nn.functional.normalize(self.features(real).mean(0), dim=-1)
        return float((self.features(drawn) @ centre).mean())
