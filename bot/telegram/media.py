"""Images going out: Telegram takes photos of up to 10 MB whose width + height is at most
10000 and whose sides differ at most 20-fold. Anything else is re-encoded as a smaller
JPEG (Telegram shows photos at 2560 px at most anyway), or sent as a file."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass

from PIL import Image
from telegram import constants

PHOTO_LIMIT = constants.FileSizeLimit.PHOTOSIZE_UPLOAD  # 10 MB
FILE_LIMIT = constants.FileSizeLimit.FILESIZE_UPLOAD  # 50 MB
MAX_SIDE = 2560
MAX_DIMENSIONS = 10_000
MAX_RATIO = 20


@dataclass(frozen=True)
class Outgoing:
    data: bytes
    as_photo: bool  # False: send as a document (a file)
    filename: str


def _probe(data: bytes) -> tuple[tuple[int, int], str] | None:
    """(width, height) and the file suffix, from the header only."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size, (image.format or "bin").lower().replace("jpeg", "jpg")
    except Exception:  # not something Pillow reads: Telegram won't take it as a photo either
        return None


def _fits(data: bytes, size: tuple[int, int]) -> bool:
    width, height = size
    return (len(data) <= PHOTO_LIMIT and width + height <= MAX_DIMENSIONS
            and max(width, height) <= MAX_RATIO * max(1, min(width, height)))


def _reencode(data: bytes) -> bytes | None:
    with Image.open(io.BytesIO(data)) as original:
        image = original.convert("RGB")
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    for quality in (90, 80, 65, 50):
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=quality, optimize=True)
        if out.tell() <= PHOTO_LIMIT:
            return out.getvalue()
    return None


def fit_photo_sync(data: bytes, name: str = "yo") -> Outgoing:
    probe = _probe(data)
    if probe is None:
        return Outgoing(data, False, f"{name}.bin")
    size, suffix = probe
    if _fits(data, size):
        return Outgoing(data, True, f"{name}.{suffix}")
    width, height = size
    if max(width, height) <= MAX_RATIO * max(1, min(width, height)):
        smaller = _reencode(data)
        if smaller is not None:
            return Outgoing(smaller, True, f"{name}.jpg")
    return Outgoing(data, False, f"{name}.{suffix}")


async def fit_photo(data: bytes, name: str = "yo") -> Outgoing:
    """Bytes Telegram accepts as a photo, or the original marked to go as a file.
    Small images are checked inline; big ones are re-encoded in a thread."""
    if len(data) <= PHOTO_LIMIT // 4:
        return fit_photo_sync(data, name)
    return await asyncio.to_thread(fit_photo_sync, data, name)
