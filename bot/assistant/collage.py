"""A small contact sheet of a concept's photos, sent when it is ready."""

from __future__ import annotations

import io
import math
from typing import Sequence

from PIL import Image, ImageOps

TILE = 160


def make_collage(photos: Sequence[bytes], *, tile: int = TILE, max_photos: int = 10) -> bytes:
    images = [Image.open(io.BytesIO(p)).convert("RGB") for p in photos[:max_photos]]
    if not images:
        raise ValueError("no photos for a collage")
    columns = min(len(images), 5)
    rows = math.ceil(len(images) / columns)
    sheet = Image.new("RGB", (columns * tile, rows * tile), "white")
    for i, image in enumerate(images):
        thumb = ImageOps.fit(image, (tile, tile))
        sheet.paste(thumb, ((i % columns) * tile, (i // columns) * tile))
    out = io.BytesIO()
    sheet.save(out, format="JPEG", quality=85)
    return out.getvalue()
