"""Turning whatever a user sends into a photo that is safe to keep and to feed a model.

Everything a chat user uploads passes through `sanitize_image` before it is stored or shown
to a model. It refuses what isn't a still photo (with a reason fit to send back to the user),
never decodes more pixels than `max_pixels`, and returns fresh PNG bytes that carry no
metadata: location, camera serial and the like do not survive.

Why PNG and not JPEG (quality 92): sanitizing must be idempotent. The assistant sanitizes a
photo to answer about it, and the same bytes may later be stored through `Store.add_photo`,
which sanitizes again; only a lossless format gives the same pixels, hence the same sha256 and
content-addressed file, the second time. It also keeps training and evaluation pixel-exact.
The cost is size (about 2-5 MB per 1536-pixel photo against a few hundred KB) and CPU, which
`PNG_COMPRESS_LEVEL` keeps low: level 1 encodes about 6x faster than the default level 6 for
files about 20% larger, the right trade on a small shared machine.
"""

from __future__ import annotations

import io
import logging
import os
import warnings

import pillow_heif
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError, features

MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 1536
# Below this on the shorter side a picture is an icon, an emoji or a tracking pixel: nothing
# a model could learn or recognise anyone from.
MIN_SIDE = 32
PNG_COMPRESS_LEVEL = 1
log = logging.getLogger(__name__)

# HEIC, what iPhones (and many Androids) send, is read by pillow-heif's libheif. Its thumbnails,
# depth maps and other auxiliary images are never used here: not reading them is less work.
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
Image.init()  # every Pillow plugin registered now, so Image.OPEN below is complete


def _readable(formats: tuple[str, ...]) -> tuple[str, ...]:
    """Those of `formats` this install can read. Image.open(formats=...) raises KeyError for a name
    Pillow has never heard of (AVIF before 11.2.1), and Pillow built without libavif knows AVIF
    but cannot read it."""
    return tuple(f for f in formats if f in Image.OPEN and (f != "AVIF" or features.check_module("avif")))


# Only the formats photos arrive in: every other decoder Pillow carries is attack surface we
# do not need. (MPO, the multi-picture JPEG of many phones, is opened by the JPEG plugin.)
# AVIF comes before HEIF: both claim files of the generic "mif1" brand, and Pillow's AVIF
# plugin passes on a HEVC-coded one, while the libheif in pillow-heif has no AV1 decoder.
FORMATS = _readable(("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF", "HEIF"))
# Formats whose extra frames are animation. MPO and TIFF keep other things in extra frames
# (depth maps, pages): for those the first frame is the photo. HEIF's extra images are bursts,
# other exposures and the like: its primary image is the photo.
ANIMATED_FORMATS = frozenset({"GIF", "PNG", "WEBP", "AVIF"})
# ISO base media (ftyp) brands of still photos, and the format that reads each; other ftyp
# brands are videos and image sequences.
_STILL_BRANDS = {b"heic": "HEIF", b"heix": "HEIF", b"heim": "HEIF", b"heis": "HEIF", b"mif1": "HEIF",
                 b"avif": "AVIF"}

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


class BadImage(ValueError):
    """A file we won't store or look at; str() is one friendly line to show the user."""


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB"


def _too_big(size: int, max_bytes: int) -> BadImage:
    return BadImage(f"That file is too big ({_megabytes(size)}); I take photos up to {_megabytes(max_bytes)}.")


def read_photo_file(path: str | os.PathLike[str], max_bytes: int = MAX_BYTES) -> bytes:
    """A local file's bytes for `sanitize_image`, refused (BadImage) as chat uploads are when over
    max_bytes, without ever reading more than max_bytes + 1 of it: a 2 GB file costs nothing.
    OSError (missing, unreadable) is the caller's to report."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > max_bytes:
            raise _too_big(size, max_bytes)
        data = f.read(max_bytes + 1)  # a pipe has no size, and a file may grow after the stat
    if len(data) > max_bytes:
        raise BadImage(f"That file is bigger than {_megabytes(max_bytes)}, the most I take for a photo.")
    return data


def _what_is_it(data: bytes) -> str:
    """A guess from the first bytes (never the file name) at what a non-photo is."""
    head = data[:64]
    if head.startswith(b"%PDF"):
        return "a PDF"
    if head.startswith(b"PK\x03\x04"):
        return "a zip file or office document"
    if head[4:8] == b"ftyp":
        fmt = _STILL_BRANDS.get(head[8:12])
        if fmt is not None:  # only reached when this install cannot read that format
            return ("an AVIF" if fmt == "AVIF" else "a HEIC") + " photo, which I can't open; please send it as JPEG"
        return "a video"
    if head.lstrip().startswith((b"<svg", b"<?xml")):
        return "an SVG drawing"
    try:
        text = data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return ""
    printable = sum(c.isprintable() or c.isspace() for c in text)
    return "a text file" if text and printable / len(text) > 0.95 else ""


_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")


def _damaged() -> BadImage:
    return BadImage("That photo seems cut off or damaged; please send it again.")


def _not_a_photo(data: bytes) -> BadImage:
    if (data.startswith(_IMAGE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
            or (data[4:8] == b"ftyp" and _STILL_BRANDS.get(data[8:12]) in FORMATS)):
        return _damaged()  # an image header, then rubbish or nothing
    guess = _what_is_it(data)
    return BadImage("That file isn't a photo I can read" + (f" (it looks like {guess})." if guess else "."))


def _too_large(width: int, height: int) -> BadImage:
    return BadImage(f"That image is far too large ({width}×{height} pixels); please send a normal photo.")


def _too_small(width: int, height: int) -> BadImage:
    return BadImage(f"That picture is only {width}×{height} pixels; please send a real photo "
                    f"(at least {MIN_SIDE} pixels on each side).")


def _open_checked(data: bytes, max_bytes: int, max_pixels: int) -> Image.Image:
    """Open lazily (header only) and refuse by size and pixel count before any decoding."""
    if not data:
        raise BadImage("That file is empty.")
    if len(data) > max_bytes:
        raise _too_big(len(data), max_bytes)
    # The warning becomes an error so Pillow's own bomb guard stops us too (it can only fire
    # when a caller raises max_pixels above Pillow's limit: our check below is stricter).
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise BadImage("That image is far too large; please send a normal photo.") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, RuntimeError):
            raise _not_a_photo(data) from None  # RuntimeError: Pillow's AVIF plugin on a bad file
    width, height = image.size
    if width <= 0 or height <= 0:
        raise _not_a_photo(data)
    if width * height > max_pixels:
        raise _too_large(width, height)
    if image.format in ANIMATED_FORMATS and getattr(image, "is_animated", False):
        raise BadImage("That's an animation; please send a still photo.")
    if min(width, height) < MIN_SIDE:
        raise _too_small(width, height)
    return image


def _decode(image: Image.Image, max_side: int) -> Image.Image:
    """Decode every pixel now, so a truncated or corrupt file fails here and not later."""
    if image.format in ("JPEG", "MPO"):
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when that is still larger than we keep:
        # a 40-megapixel photo then costs a fraction of the memory and time.
        image.draft("RGB", (max_side, max_side))
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise BadImage("That image is far too large; please send a normal photo.") from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, MemoryError, RuntimeError):
            raise _damaged() from None
    return image


def _to_8_bits(image: Image.Image) -> Image.Image:
    """16- and 32-bit greyscale (16-bit PNGs, some TIFFs) scaled to 8-bit "L": a plain
    convert() clips every value over 255, and a mid-grey 16-bit photo comes out white."""
    if image.mode.startswith("I;16"):
        top = 65535
    elif image.mode == "I":
        # 32 bits say nothing of the range used: 8-bit values stay as they are, anything
        # else is taken as 16-bit, or scaled by its own brightest value beyond that.
        brightest = image.getextrema()[1]
        top = 255 if brightest <= 255 else max(65535, brightest)
    else:
        return image
    scale = 255 / top
    return image.convert("I").point(lambda v: v * scale + 0.5).convert("L")


def _to_srgb(image: Image.Image) -> Image.Image:
    """RGB in sRGB: wide-gamut (Display P3) photos converted, transparency put on white."""
    icc = image.info.get("icc_profile")
    image = _to_8_bits(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    rgb = image.convert("RGB")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(rgb, source, _SRGB, outputMode="RGB")
            if converted is not None:
                rgb = converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            # A broken profile costs the colour conversion, not the photo: the pixels stay as they are.
            log.info("ignoring a colour profile that cannot be read", exc_info=True)
    return rgb


def sanitize_image(data: bytes, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS,
                   max_side: int = MAX_SIDE) -> bytes:
    """A user's upload as clean PNG bytes: upright, RGB, longest side ≤ max_side, no metadata.

    Raises BadImage (with a reason to show the user) for empty, oversized, tiny, non-image,
    corrupt, truncated, animated or decompression-bomb input. CPU-bound: async callers
    should run it in a thread.
    """
    image = _open_checked(data, max_bytes, max_pixels)
    width, height = image.size
    if getattr(image, "n_frames", 1) > 1 and image.format != "HEIF":
        image.seek(0)  # MPO / TIFF: the primary picture (HEIF opens at its primary, not always the first)
    image = _decode(image, max_side)
    try:
        # HEIF is decoded upright already (libheif applies its irot/imir boxes) and pillow-heif resets
        # the EXIF orientation to 1, so this cannot turn a HEIC photo a second time.
        upright = ImageOps.exif_transpose(image)
    except Exception:  # odd EXIF must not cost the photo; it is dropped below anyway
        upright = None
    image = _to_srgb(upright if upright is not None else image)
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        if min(image.size) < MIN_SIDE:  # kept, this thin strip would be refused when sanitized again
            raise BadImage(f"That picture is too long and thin ({width}×{height} pixels); please send a normal photo.")
    out = io.BytesIO()
    # A fresh RGB image saved without exif/pnginfo/icc_profile carries no metadata at all.
    Image.frombytes("RGB", image.size, image.tobytes()).save(out, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return out.getvalue()


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of already-sanitized bytes, read from the header alone."""
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def open_image(data: bytes) -> Image.Image:
    """Already-sanitized bytes as a decoded RGB image (for the model and for collages)."""
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")
