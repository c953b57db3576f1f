"""Photos for tests: plain coloured ones, and every kind of bad input a user might send."""

from __future__ import annotations

import functools
import io
import random

from PIL import Image


def photo(colour: tuple[int, int, int] = (200, 120, 40), size: tuple[int, int] = (96, 96), seed: int = 0,
          fmt: str = "JPEG") -> bytes:
    """A photo of one colour with a little noise, so two seeds give two different files."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, colour)
    for _ in range(40):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        image.putpixel((x, y), tuple(min(255, max(0, c + rng.randint(-20, 20))) for c in colour))
    # A small patch at a place of the seed's choosing: survives JPEG, so seeds give different photos.
    x, y = rng.randrange(size[0] - 8), rng.randrange(size[1] - 8)
    shade = tuple(c // 2 + 60 for c in colour)
    image.paste(shade, (x, y, x + 8, y + 8))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


@functools.lru_cache(maxsize=None)
def decompression_bomb() -> bytes:
    """A 100-megapixel PNG that is only a few hundred kilobytes on disk."""
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000), 0).save(out, format="PNG", optimize=True)
    return out.getvalue()


@functools.lru_cache(maxsize=None)
def thirty_megabytes() -> bytes:
    """A real, valid PNG of random noise, about 30 MB."""
    rng = random.Random(7)
    side = 3200
    image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=0)
    return out.getvalue()


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def bad_inputs() -> dict[str, bytes]:
    """Name → bytes of every bad photo the foundation issue lists."""
    jpeg = photo()
    return {
        "zero-byte": b"",
        "truncated": jpeg[: len(jpeg) // 2],
        "corrupt": jpeg[:20] + bytes(len(jpeg) - 20),
        "text renamed .jpg": b"these are not the pixels you are looking for\n" * 20,
        "pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
        "animated gif": animated_gif(),
        "decompression bomb": decompression_bomb(),
        "30 MB photo": thirty_megabytes(),
    }


BAD_NAMES = ["", "   ", "x" * 200, "bo\x00by", "bo\nby", "../../etc/passwd", "Robert'); DROP TABLE concepts;--",
             "<image>", "</s>", "[INST]", "<|im_start|>"]
