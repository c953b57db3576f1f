"""sanitize_image: what it refuses (with a reason for the user) and what it makes of the rest."""

from __future__ import annotations

import io
import struct
import time

import pytest
from PIL import ExifTags, Image

from storage.images import BadImage, open_image, sanitize_image
from tests.storage.helpers import bad_photos, bomb, jpeg

REASONS = {
    "zero-byte": "empty",
    "truncated jpeg": "cut off or damaged",
    "text renamed .jpg": "looks like a text file",
    "pdf": "looks like a PDF",
    "animated gif": "still photo",
    "decompression bomb": "too large",
    "30 MB": "up to 20 MB",
}


@pytest.mark.parametrize("kind", list(REASONS))
def test_bad_input_is_refused_with_a_friendly_one_line_reason(kind: str) -> None:
    with pytest.raises(BadImage) as caught:
        sanitize_image(bad_photos()[kind])
    reason = str(caught.value)
    assert REASONS[kind] in reason and "\n" not in reason and "Traceback" not in reason


def test_bad_image_is_a_value_error() -> None:
    assert issubclass(BadImage, ValueError)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    data = bomb()
    assert len(data) < 100_000 and struct.unpack(">II", data[16:24]) == (10_000, 10_000)  # IHDR
    started = time.perf_counter()
    with pytest.raises(BadImage, match="too large"):
        sanitize_image(data)
    # Decoding 100 megapixels takes seconds; reading the header takes microseconds.
    assert time.perf_counter() - started < 0.5


def test_pixel_limit_is_checked_against_the_header() -> None:
    with pytest.raises(BadImage, match="300×200"):
        sanitize_image(jpeg(size=(300, 200)), max_pixels=50_000)


def test_animated_png_is_refused() -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in ((1, 2, 3), (200, 100, 0))]
    out = io.BytesIO()
    frames[0].save(out, format="PNG", save_all=True, append_images=frames[1:])
    with pytest.raises(BadImage, match="still photo"):
        sanitize_image(out.getvalue())


def test_a_single_frame_gif_is_a_still_photo() -> None:
    out = io.BytesIO()
    Image.new("RGB", (10, 10), (0, 255, 0)).save(out, format="GIF")
    assert open_image(sanitize_image(out.getvalue())).size == (10, 10)


def _png_chunks(data: bytes) -> list[bytes]:
    chunks, at = [], 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        chunks.append(kind)
        at += 12 + length
    return chunks


def test_exif_and_gps_are_stripped() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif[ExifTags.Base.Model] = "Snapper 9"
    exif[ExifTags.IFD.GPSInfo] = {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (52.0, 22.0, 7.5),
                                  ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (4.0, 53.0, 2.25)}
    original = jpeg(exif=exif)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo), "the test photo has GPS"

    clean = sanitize_image(original)
    image = Image.open(io.BytesIO(clean))
    assert image.format == "PNG" and image.mode == "RGB"
    assert not image.getexif() and "exif" not in image.info and "icc_profile" not in image.info
    assert _png_chunks(clean) == [b"IHDR"] + [b"IDAT"] * (len(_png_chunks(clean)) - 2) + [b"IEND"]
    assert b"PhoneCo" not in clean and b"Exif" not in clean


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # the camera was turned: show it rotated 90° clockwise
    image = open_image(sanitize_image(jpeg(size=(80, 40), exif=exif)))
    assert image.size == (40, 80)


def test_large_photos_are_downscaled_keeping_the_aspect_ratio() -> None:
    assert open_image(sanitize_image(jpeg(size=(3000, 1000)))).size == (1536, 512)
    assert open_image(sanitize_image(jpeg(size=(900, 1800), fmt="PNG"), max_side=600)).size == (300, 600)
    assert open_image(sanitize_image(jpeg(size=(64, 48)))).size == (64, 48), "small photos keep their size"


def test_transparency_goes_on_white_and_everything_becomes_rgb() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(out, format="PNG")
    image = open_image(sanitize_image(out.getvalue()))
    assert image.mode == "RGB" and image.getpixel((0, 0)) == (255, 255, 255)
    out = io.BytesIO()
    Image.new("L", (4, 4), 77).save(out, format="BMP")
    assert open_image(sanitize_image(out.getvalue())).getpixel((1, 1)) == (77, 77, 77)


def test_sanitizing_twice_gives_the_same_bytes() -> None:
    """The assistant sanitizes a photo to answer about it and the store sanitizes it again
    when it is kept: the same bytes mean the same sha256, so the same file."""
    once = sanitize_image(jpeg(size=(2000, 1500)))
    assert sanitize_image(once) == once
