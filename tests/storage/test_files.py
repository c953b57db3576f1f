"""FileStore: atomic writes, and no path that didn't come from a hash, an id or a uuid."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storage.files import FileStore, atomic_write, sha256_of


def test_photos_are_content_addressed(tmp_path: Path) -> None:
    files = FileStore(tmp_path)
    sha = files.write_photo(b"png bytes")
    assert sha == sha256_of(b"png bytes")
    assert files.photo_path(sha) == tmp_path / "photos" / sha[:2] / f"{sha}.png"
    assert files.write_photo(b"png bytes") == sha and files.read_photo(sha) == b"png bytes"
    assert files.delete_photo(sha) and not files.delete_photo(sha)


def test_token_versions_are_new_files(tmp_path: Path) -> None:
    files = FileStore(tmp_path)
    first, second = files.write_tokens(7, b"one"), files.write_tokens(7, b"two")
    assert first != second and first.startswith("concepts/7/") and first.endswith(".safetensors")
    assert (files.read_tokens(first), files.read_tokens(second)) == (b"one", b"two")
    files.delete_concept_dir(7)
    files.delete_concept_dir(7)  # already gone: fine
    assert not (tmp_path / "concepts" / "7").exists()


@pytest.mark.parametrize("bad", ["../../etc/passwd", "concepts/1/../../x.safetensors", "/etc/passwd",
                                 "concepts/bo/" + "0" * 32 + ".safetensors", "concepts/1/evil.safetensors"])
def test_token_paths_must_have_the_shape_write_tokens_makes(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError):
        FileStore(tmp_path).read_tokens(bad)


@pytest.mark.parametrize("bad", ["../" + "a" * 61, "A" * 64, "abc", "g" * 64])
def test_photo_names_must_be_sha256(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError):
        FileStore(tmp_path).photo_path(bad)


def test_concept_dirs_need_an_integer_id(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        FileStore(tmp_path).concept_dir("../1")  # type: ignore[arg-type]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.bin"
    atomic_write(target, b"old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]
