"""sanitize_image: what it refuses (with a reason for the user) and what it makes of the rest."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
from pathlib import Path

import pytest
from PIL import ExifTags, Image, ImageCms, UnidentifiedImageError, features

from storage import images
from storage.images import MAX_BYTES, MIN_SIDE, BadImage, open_image, read_photo_file, sanitize_image
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
    Image.new("RGB", (40, 40), (0, 255, 0)).save(out, format="GIF")
    assert open_image(sanitize_image(out.getvalue())).size == (40, 40)


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
    Image.new("RGBA", (40, 40), (0, 0, 0, 0)).save(out, format="PNG")
    image = open_image(sanitize_image(out.getvalue()))
    assert image.mode == "RGB" and image.getpixel((0, 0)) == (255, 255, 255)
    out = io.BytesIO()
    Image.new("L", (40, 40), 77).save(out, format="BMP")
    assert open_image(sanitize_image(out.getvalue())).getpixel((1, 1)) == (77, 77, 77)


def test_sanitizing_twice_gives_the_same_bytes() -> None:
    """The assistant sanitizes a photo to answer about it and the store sanitizes it again
    when it is kept: the same bytes mean the same sha256, so the same file."""
    once = sanitize_image(jpeg(size=(2000, 1500)))
    assert sanitize_image(once) == once


@pytest.mark.parametrize("mode, fmt", [("I;16", "PNG"), ("I;16B", "PNG"), ("I;16", "TIFF"), ("I", "TIFF")])
def test_16_bit_greyscale_is_scaled_to_8_bits_not_clipped_to_white(mode: str, fmt: str) -> None:
    image = Image.new(mode, (64, 48), 32768)  # mid-grey in 16 bits
    image.paste(65535, (0, 0, 32, 48))  # white on the left
    image.paste(0, (32, 0, 48, 48))  # black in the middle third
    out = io.BytesIO()
    image.save(out, format=fmt)
    clean = open_image(sanitize_image(out.getvalue()))
    assert clean.getpixel((0, 0)) == (255, 255, 255)
    assert clean.getpixel((40, 0)) == (0, 0, 0)
    assert all(abs(c - 128) <= 1 for c in clean.getpixel((60, 0))), clean.getpixel((60, 0))


def test_an_8_bit_picture_in_a_32_bit_mode_keeps_its_values() -> None:
    out = io.BytesIO()
    Image.new("I", (40, 40), 77).save(out, format="TIFF")
    assert open_image(sanitize_image(out.getvalue())).getpixel((1, 1)) == (77, 77, 77)


@pytest.mark.parametrize("size", [(1, 1), (8, 8), (400, MIN_SIDE - 1), (MIN_SIDE - 1, 400)])
def test_tiny_pictures_are_refused(size: tuple[int, int]) -> None:
    with pytest.raises(BadImage) as caught:
        sanitize_image(jpeg(size=size, fmt="PNG"))
    reason = str(caught.value)
    assert f"only {size[0]}×{size[1]} pixels" in reason and "please send a real photo" in reason


def test_the_smallest_photo_is_kept_and_a_thin_panorama_is_refused_when_shrunk() -> None:
    assert open_image(sanitize_image(jpeg(size=(MIN_SIDE, MIN_SIDE), fmt="PNG"))).size == (MIN_SIDE, MIN_SIDE)
    # 3000×40 would shrink to 1536×20: refused now, rather than kept and refused when sanitized again.
    with pytest.raises(BadImage, match="too long and thin \\(3000×40 pixels\\)"):
        sanitize_image(jpeg(size=(3000, 40), fmt="PNG"))
    kept = sanitize_image(jpeg(size=(3000, 80), fmt="PNG"))
    assert open_image(kept).size == (1536, 41) and sanitize_image(kept) == kept


def test_a_photo_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "bo.jpg"
    path.write_bytes(jpeg())
    assert read_photo_file(path) == jpeg()


def test_a_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.jpg"
    with path.open("wb") as f:
        f.write(jpeg())
        f.truncate(2 * 1024**3)  # sparse: 2 GB on paper, nothing on disk
    tracemalloc.start()
    try:
        with pytest.raises(BadImage) as caught:
            read_photo_file(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024, peak
    assert str(caught.value) == "That file is too big (2048 MB); I take photos up to 20 MB."


def test_a_file_just_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    with path.open("wb") as f:
        f.truncate(MAX_BYTES + 1)
    with pytest.raises(BadImage, match="up to 20 MB"):
        read_photo_file(path)
    with path.open("wb") as f:
        f.truncate(MAX_BYTES)
    assert len(read_photo_file(path)) == MAX_BYTES


# Phone photos. Importing storage.images registered pillow-heif, so Pillow itself writes HEIC here.
ORANGE, GREEN = (200, 120, 40), (10, 200, 30)
needs_avif = pytest.mark.skipif(not features.check("avif"), reason="this Pillow was built without libavif")


def _two_colours(size: tuple[int, int] = (120, 80)) -> Image.Image:
    image = Image.new("RGB", size, ORANGE)
    image.paste(GREEN, (0, 0, size[0] // 4, size[1]))  # a green stripe on the left
    return image


def _saved(image: Image.Image, fmt: str, **save: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, quality=90, **save)
    return out.getvalue()


def _close(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 8) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))


@pytest.mark.parametrize("fmt", ["HEIF", pytest.param("AVIF", marks=needs_avif)])
def test_a_phone_photo_becomes_a_clean_png_of_its_size_and_colours(fmt: str) -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif[ExifTags.IFD.GPSInfo] = {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (52.0, 22.0, 7.5)}
    data = _saved(_two_colours(), fmt, exif=exif.tobytes())
    assert Image.open(io.BytesIO(data)).format == fmt and b"PhoneCo" in data

    clean = sanitize_image(data)
    image = Image.open(io.BytesIO(clean))
    assert image.format == "PNG" and image.mode == "RGB" and image.size == (120, 80)
    assert _close(image.getpixel((5, 40)), GREEN) and _close(image.getpixel((100, 40)), ORANGE)
    assert _png_chunks(clean) == [b"IHDR"] + [b"IDAT"] * (len(_png_chunks(clean)) - 2) + [b"IEND"]
    assert b"PhoneCo" not in clean and sanitize_image(clean) == clean


@pytest.mark.parametrize("fmt", ["HEIF", pytest.param("AVIF", marks=needs_avif)])
def test_a_phone_photo_is_turned_upright_once(fmt: str) -> None:
    """HEIF and AVIF carry the camera's turn as an irot box, not (only) as EXIF: libheif applies it
    when decoding, Pillow's AVIF plugin hands it on as EXIF orientation. Either way, one turn."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # turned: show it rotated 90° clockwise
    data = _saved(_two_colours((80, 40)), fmt, exif=exif.tobytes())
    assert b"irot" in data, "the turn is in the file's own transform"
    image = open_image(sanitize_image(data))
    assert image.size == (40, 80)
    assert _close(image.getpixel((20, 5)), GREEN) and _close(image.getpixel((20, 75)), ORANGE), "the left went on top"


def _swapped_red_and_blue_profile() -> bytes:
    """sRGB with the red and blue primaries swapped: a photo whose colours only come out right
    when its profile is applied."""
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    count = struct.unpack(">I", srgb[128:132])[0]
    entry = {srgb[at:at + 4]: at for at in range(132, 132 + 12 * count, 12)}  # signature, offset, size
    profile = bytearray(srgb)
    red, blue = entry[b"rXYZ"], entry[b"bXYZ"]
    profile[red + 4:red + 12], profile[blue + 4:blue + 12] = srgb[blue + 4:blue + 12], srgb[red + 4:red + 12]
    return bytes(profile)


@pytest.mark.parametrize("fmt", ["HEIF", pytest.param("AVIF", marks=needs_avif)])
def test_a_phone_photo_colour_profile_is_applied(fmt: str) -> None:
    data = _saved(Image.new("RGB", (64, 64), (200, 30, 30)), fmt, icc_profile=_swapped_red_and_blue_profile())
    image = Image.open(io.BytesIO(sanitize_image(data)))
    assert _close(image.getpixel((10, 10)), (30, 30, 200)) and "icc_profile" not in image.info


def test_a_heic_with_several_images_gives_its_primary_one_not_an_animation_refusal() -> None:
    """A burst or a depth-map HEIC holds more images: the primary one, not always the first, is the photo."""
    first, primary = Image.new("RGB", (64, 64), ORANGE), Image.new("RGB", (64, 64), GREEN)
    data = _saved(first, "HEIF", save_all=True, append_images=[primary], primary_index=1)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert _close(open_image(sanitize_image(data)).getpixel((30, 30)), GREEN)


def test_heic_pixel_limit_is_checked_against_the_header() -> None:
    data = bytearray(_saved(Image.new("RGB", (64, 64), ORANGE), "HEIF"))
    at = data.index(b"ispe") + 8  # the size the container claims, after the box's version and flags
    data[at:at + 8] = struct.pack(">II", 7_000, 7_000)
    started = time.perf_counter()
    with pytest.raises(BadImage, match="7000×7000"):
        sanitize_image(bytes(data))
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("fmt", ["HEIF", pytest.param("AVIF", marks=needs_avif)])
def test_a_damaged_phone_photo_is_refused_as_damaged(fmt: str) -> None:
    data = _saved(Image.new("RGB", (96, 64), ORANGE), fmt)
    payload = data.index(b"mdat") + 4
    # Cut short, and whole but with its coded picture zeroed (Pillow's AVIF raises RuntimeError for that).
    for bad in (data[: len(data) // 2], data[:payload] + bytes(len(data) - payload)):
        with pytest.raises(BadImage, match="cut off or damaged"):
            sanitize_image(bad)


def test_a_heic_this_install_cannot_read_gets_a_friendly_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _saved(Image.new("RGB", (64, 64), ORANGE), "HEIF")
    monkeypatch.setattr(images, "FORMATS", tuple(f for f in images.FORMATS if f != "HEIF"))
    with pytest.raises(BadImage, match="looks like a HEIC photo, which I can't open; please send it as JPEG"):
        sanitize_image(data)


def test_only_formats_this_pillow_knows_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """Image.open(formats=...) raises KeyError for a name Pillow does not know: on a Pillow without
    AVIF, naming it made every upload that no earlier format took, a PDF say, fail so."""
    assert {"HEIF", "JPEG", "PNG"} <= set(images.FORMATS) <= set(Image.OPEN)
    pdf = io.BytesIO(bad_photos()["pdf"])
    monkeypatch.delitem(Image.OPEN, "AVIF")  # as on Pillow before 11.2.1
    with pytest.raises(KeyError):
        Image.open(pdf, formats=("JPEG", "AVIF"))
    assert images._readable(("JPEG", "AVIF", "HEIF")) == ("JPEG", "HEIF")
    with pytest.raises(UnidentifiedImageError):
        Image.open(pdf, formats=images._readable(("JPEG", "AVIF")))

