"""Photos and snapshots for the storage tests (kept here, independent of tests/fakes)."""

from __future__ import annotations

import functools
import io
import random
from pathlib import Path
from typing import Any

from PIL import Image

from storage import Store


def jpeg(colour: tuple[int, int, int] = (200, 120, 40), size: tuple[int, int] = (64, 48), seed: int = 0,
         fmt: str = "JPEG", **save: object) -> bytes:
    """A small photo with a little noise: two seeds give two different photos."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, colour)
    for _ in range(30):
        image.putpixel((rng.randrange(size[0]), rng.randrange(size[1])),
                       tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, format=fmt, **save)
    return out.getvalue()


@functools.cache
def bomb() -> bytes:
    """A real 10000x10000 PNG (100 megapixels) of one colour: about 12 KB on disk."""
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000), 0).save(out, format="PNG")
    return out.getvalue()


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def bad_photos() -> dict[str, bytes]:
    photo = jpeg(size=(200, 150))
    return {
        "zero-byte": b"",
        "truncated jpeg": photo[: len(photo) // 2],
        "text renamed .jpg": b"my dog Bo is the best dog in the world\n" * 30,
        "pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
        "animated gif": animated_gif(),
        "decompression bomb": bomb(),
        "30 MB": b"\xff\xd8\xff\xe0" + bytes(30 * 1024 * 1024),
    }


def files_under(root: Path) -> list[str]:
    """Every file under root except the SQLite database's own files."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and not p.name.startswith("yo.sqlite3"))


async def rows(store: Store, table: str) -> list[Any]:
    async with store.db.connection.execute(f"SELECT * FROM {table} ORDER BY rowid") as cursor:
        return list(await cursor.fetchall())


async def snapshot(store: Store) -> tuple[list[str], dict[str, list[Any]]]:
    tables = ("users", "chats", "concepts", "photos", "facts", "shares", "jobs")
    return files_under(store.data_dir), {t: await rows(store, t) for t in tables}
