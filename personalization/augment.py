"""More views of the subject from the few photos a user sends: crops and small rotations.

Five photos show the subject in five poses; a concept trained on those alone learns them too
well and turns away new photos of its own subject. Each extra view shows the same subject
slightly closer, shifted and turned, as textual inversion's random crops do. Never colour: a
colour is part of what the subject is (the red hat is what tells Bo from his look-alike).
"""

from __future__ import annotations

import random

from PIL import Image

SMALLEST_CROP = 0.7  # of each side: the subject, near the middle of a user's photo, stays in view
MAX_DEGREES = 20.0


def view(photo: Image.Image, rng: random.Random) -> Image.Image:
    """A random crop (70-100% of each side, anywhere in the photo) at the photo's size, turned a little."""
    width, height = photo.size
    scale = rng.uniform(SMALLEST_CROP, 1.0)
    crop_w, crop_h = max(1, round(width * scale)), max(1, round(height * scale))
    left, top = rng.randint(0, width - crop_w), rng.randint(0, height - crop_h)
    cropped = photo.crop((left, top, left + crop_w, top + crop_h)).resize((width, height), Image.BICUBIC)
    corner = cropped.getpixel((0, 0))  # the corners a rotation uncovers take the background's colour
    return cropped.rotate(rng.uniform(-MAX_DEGREES, MAX_DEGREES), resample=Image.BICUBIC, fillcolor=corner)


def views(photos: list[Image.Image], per_photo: int, rng: random.Random) -> list[Image.Image]:
    """`per_photo` views of every photo, photo by photo."""
    return [view(photo.convert("RGB"), rng) for photo in photos for _ in range(per_photo)]
