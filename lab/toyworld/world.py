"""The toy world: small toys with four attributes, drawn with PIL.

A subject is a toy with a body shape, a body colour, an accessory and the accessory's
colour. Few attributes with few values, drawn big and clear, so that a tiny model can
learn to see them in a few minutes on a CPU; a photo varies in everything else (place,
size, tilt, mirror image, background, clutter), so that a concept has to be recognised
by what the subject *is*, not by where or how it was photographed.

Body colours and accessory colours use different words on purpose: every attribute value
is then one word of its own ("a red round toy with a black hat"), and "What color is
the hat?" never has a body colour for an answer. Look-alikes differ in exactly one
attribute (`lookalikes`), which makes them the hard negatives of a concept.
"""

from __future__ import annotations

import colorsys
import math
import random
from dataclasses import asdict, dataclass
from typing import Iterator, Sequence

from PIL import Image, ImageDraw

SHAPES: tuple[str, ...] = ("round", "square", "triangle", "star")
COLOURS: tuple[str, ...] = ("red", "green", "blue", "yellow", "purple")
ACCESSORIES: tuple[str, ...] = ("hat", "scarf", "bag")
ACCESSORY_COLOURS: tuple[str, ...] = ("black", "white", "orange", "pink", "brown")

# attribute name -> its values, in the order of the Subject fields
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "shape": SHAPES,
    "colour": COLOURS,
    "accessory": ACCESSORIES,
    "accessory_colour": ACCESSORY_COLOURS,
}

RGB: dict[str, tuple[int, int, int]] = {
    "red": (214, 34, 34),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (244, 214, 40),
    "purple": (140, 50, 190),
    "black": (20, 20, 20),
    "white": (248, 248, 248),
    "orange": (255, 136, 0),
    "pink": (255, 130, 200),
    "brown": (120, 70, 30),
}

OUTLINE = (30, 30, 30)
SUPERSAMPLE = 2  # drawn at twice the size, then scaled down: smooth edges
BODY_RADIUS = (0.2, 0.27)  # of the photo's side: the toy spans about half the photo
TILT = 10.0  # degrees, either way
SHIFT = 0.3  # how far from the centre the toy may stand, as a share of the room it has


@dataclass(frozen=True, order=True)
class Subject:
    """One toy of the world; its four attributes are all that tells toys apart."""

    shape: str
    colour: str
    accessory: str
    accessory_colour: str

    def __post_init__(self) -> None:
        for name, values in ATTRIBUTES.items():
            if getattr(self, name) not in values:
                raise ValueError(f"{name}={getattr(self, name)!r} is not one of {values}")

    def description(self) -> str:
        """The canonical description, e.g. "a red round toy with a black hat"."""
        article = "an" if self.accessory_colour[0] in "aeiou" else "a"
        return f"a {self.colour} {self.shape} toy with {article} {self.accessory_colour} {self.accessory}"

    def attributes(self) -> dict[str, str]:
        return asdict(self)

    def replace(self, attribute: str, value: str) -> Subject:
        values = self.attributes()
        values[attribute] = value
        return Subject(**values)

    def differences(self, other: Subject) -> list[str]:
        """The attributes in which two subjects differ."""
        return [name for name in ATTRIBUTES if getattr(self, name) != getattr(other, name)]


def all_subjects() -> list[Subject]:
    """Every subject of the world (4 × 5 × 3 × 5 = 300), in a fixed order."""
    return [Subject(s, c, a, ac) for s in SHAPES for c in COLOURS for a in ACCESSORIES for ac in ACCESSORY_COLOURS]


Crowd = tuple[Subject, ...]  # the toys of one crowded photo (render_crowd)


def random_subject(rng: random.Random) -> Subject:
    return Subject(*(rng.choice(values) for values in ATTRIBUTES.values()))


def lookalikes(subject: Subject) -> list[Subject]:
    """Every subject that differs from `subject` in exactly one attribute (3 + 4 + 2 + 4 = 13)."""
    return [subject.replace(name, value)
            for name, values in ATTRIBUTES.items() for value in values if value != getattr(subject, name)]


def random_lookalike(subject: Subject, rng: random.Random, attribute: str | None = None) -> Subject:
    """A look-alike differing in `attribute` (a random one when None)."""
    name = attribute or rng.choice(list(ATTRIBUTES))
    value = rng.choice([v for v in ATTRIBUTES[name] if v != getattr(subject, name)])
    return subject.replace(name, value)


# ---------------------------------------------------------------- drawing


def _muted(rng: random.Random, lo: float, hi: float) -> tuple[int, int, int]:
    """A low-saturation colour of value in [lo, hi]: backgrounds and clutter, never a toy's colour."""
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.05, 0.25), rng.uniform(lo, hi))
    return int(r * 255), int(g * 255), int(b * 255)


def _star(cx: float, cy: float, r: float, points: int = 5, inner: float = 0.5) -> list[tuple[float, float]]:
    out = []
    for i in range(points * 2):
        radius = r if i % 2 == 0 else r * inner
        angle = -math.pi / 2 + i * math.pi / points
        out.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return out


def _background(rng: random.Random, size: int) -> Image.Image:
    """A muted two-tone scene (wall and floor) with a few small, dull things lying about."""
    image = Image.new("RGB", (size, size), _muted(rng, 0.5, 0.8))
    draw = ImageDraw.Draw(image)
    horizon = rng.uniform(0.55, 0.85) * size
    draw.rectangle((0, horizon, size, size), fill=_muted(rng, 0.4, 0.7))
    for _ in range(rng.randint(0, 3)):  # clutter: small and dull, so never mistaken for a toy
        x, y, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(0.03, 0.08) * size
        fill = _muted(rng, 0.35, 0.85)
        if rng.random() < 0.5:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
        else:
            draw.rectangle((x - r, y - r * 0.6, x + r, y + r * 0.6), fill=fill)
    return image


def _draw_toy(subject: Subject, size: int, r: float) -> Image.Image:
    """The toy on a transparent square layer, centred, body radius r."""
    layer = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    c = size / 2
    width = max(1, round(r * 0.08))
    body, acc = RGB[subject.colour], RGB[subject.accessory_colour]

    if subject.shape == "round":
        draw.ellipse((c - r, c - r, c + r, c + r), fill=body, outline=OUTLINE, width=width)
    elif subject.shape == "square":
        draw.rounded_rectangle((c - r * 0.9, c - r * 0.9, c + r * 0.9, c + r * 0.9), radius=r * 0.15,
                               fill=body, outline=OUTLINE, width=width)
    elif subject.shape == "triangle":
        draw.polygon([(c, c - r * 1.05), (c + r * 1.05, c + r * 0.85), (c - r * 1.05, c + r * 0.85)],
                     fill=body, outline=OUTLINE, width=width)
    else:
        draw.polygon(_star(c, c + r * 0.05, r * 1.15), fill=body, outline=OUTLINE, width=width)

    # eyes: every toy has a face
    for dx in (-0.3, 0.3):
        ex, ey, er = c + dx * r, c - r * 0.05, r * 0.14
        draw.ellipse((ex - er, ey - er, ex + er, ey + er), fill=(255, 255, 255), outline=OUTLINE, width=1)
        draw.ellipse((ex - er * 0.5, ey - er * 0.3, ex + er * 0.5, ey + er * 0.7), fill=(0, 0, 0))

    if subject.accessory == "hat":  # a top hat sitting on the head
        top = c - r * (0.95 if subject.shape != "star" else 1.05)
        draw.rectangle((c - r * 0.7, top - r * 0.18, c + r * 0.7, top + r * 0.08), fill=acc, outline=OUTLINE,
                       width=width)
        draw.rectangle((c - r * 0.45, top - r * 0.85, c + r * 0.45, top - r * 0.18), fill=acc, outline=OUTLINE,
                       width=width)
    elif subject.accessory == "scarf":  # a thick band under the face with a hanging end
        y = c + r * 0.35
        draw.rectangle((c - r * 0.85, y - r * 0.2, c + r * 0.85, y + r * 0.2), fill=acc, outline=OUTLINE,
                       width=width)
        draw.rectangle((c + r * 0.2, y, c + r * 0.55, y + r * 0.8), fill=acc, outline=OUTLINE, width=width)
    else:  # a bag hanging at the side on a strap
        bx, by, bs = c + r * 1.0, c + r * 0.45, r * 0.6
        draw.line((c + r * 0.1, c - r * 0.6, bx, by - bs * 0.5), fill=OUTLINE, width=width * 2)
        draw.rounded_rectangle((bx - bs * 0.55, by - bs * 0.5, bx + bs * 0.55, by + bs * 0.55), radius=bs * 0.2,
                               fill=acc, outline=OUTLINE, width=width)
    return layer


def render(subject: Subject, rng: random.Random, size: int = 64) -> Image.Image:
    """One photo of `subject`: random place, size, tilt, mirror image, background and clutter."""
    big = size * SUPERSAMPLE
    image = _background(rng, big)
    r = rng.uniform(*BODY_RADIUS) * big
    layer = _draw_toy(subject, big, r)
    layer = layer.rotate(rng.uniform(-TILT, TILT), resample=Image.Resampling.BICUBIC)
    if rng.random() < 0.5:
        layer = layer.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    margin = big / 2 - r * 1.5  # keep the toy (with its hat or bag) inside the photo
    dx, dy = (rng.uniform(-margin, margin) * SHIFT for _ in range(2))
    image.paste(layer, (round(dx), round(dy)), layer)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def render_crowd(subjects: Sequence[Subject], rng: random.Random, size: int = 64) -> Image.Image:
    """One photo of two to four toys, each half the size `render` draws one toy at, anywhere in the
    photo without overlapping (no fixed grid that a crop could line up with)."""
    if not 2 <= len(subjects) <= 4:
        raise ValueError("a crowded photo holds two to four toys")
    big = size * SUPERSAMPLE
    image = _background(rng, big)
    side = big // 2  # each toy on a layer half the photo's side, as `render` draws one on the whole
    radii = [rng.uniform(*BODY_RADIUS) * side for _ in subjects]
    spots = _apart(radii, big, rng)
    for subject, r, (x, y) in zip(subjects, radii, spots):
        layer = _draw_toy(subject, side, r).rotate(rng.uniform(-TILT, TILT), resample=Image.Resampling.BICUBIC)
        if rng.random() < 0.5:
            layer = layer.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        image.paste(layer, (round(x - side / 2), round(y - side / 2)), layer)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def _apart(radii: list[float], side: float, rng: random.Random, tries: int = 200) -> list[tuple[float, float]]:
    """Centres for toys of body radius `radii` inside a photo of `side`, none overlapping another:
    a toy with its hat or bag reaches about 1.8 r from its centre. Toys are placed one by one, each
    with `tries` random spots; where one finds no room, the layout starts again. (Drawing whole
    layouts until one fitted took about a second for four toys; this, about 10 ms.)"""
    reach = [1.8 * r for r in radii]
    while True:
        spots: list[tuple[float, float]] = []
        for r in reach:
            for _ in range(tries):
                spot = (rng.uniform(r, side - r), rng.uniform(r, side - r))
                if all(math.dist(spot, other) >= r + reach[j] for j, other in enumerate(spots)):
                    spots.append(spot)
                    break
            else:
                break
        if len(spots) == len(radii):
            return spots


def random_crowd(rng: random.Random) -> Crowd:
    """Two to four different toys for a crowded photo, look-alikes of each other half the time."""
    toys = [random_subject(rng)]
    size = rng.randint(2, 4)
    while len(toys) < size:
        other = random_lookalike(rng.choice(toys), rng) if rng.random() < 0.5 else random_subject(rng)
        if other not in toys:
            toys.append(other)
    return tuple(toys)


def render_scene(rng: random.Random, size: int = 64) -> Image.Image:
    """An everyday photo with no toy in it: background and clutter only."""
    return _background(rng, size * SUPERSAMPLE).resize((size, size), Image.Resampling.LANCZOS)


def photos(subject: Subject, seed: int, n: int, size: int = 64) -> Iterator[Image.Image]:
    """`n` photos of `subject`, the same for the same seed."""
    rng = random.Random(f"{seed}:{subject.description()}")
    for _ in range(n):
        yield render(subject, rng, size)
