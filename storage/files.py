"""Files under the data folder: photos by content, concept tokens by version.

    photos/ab/abcdef….png                         sha256 of the sanitized bytes
    concepts/<concept id>/<uuid hex>.safetensors  one new file per trained version

Content addressing makes a photo shared by two concepts one file; the store deletes it when
no row names its sha any more. Token files are never overwritten: a new version is a new file,
so a worker reading the old one never sees it change under it, and the row is switched to the
new file only after it is complete.

Every write is atomic: a temporary file in the same folder, fsync, os.replace. A crash leaves
the old file or the new one, never half of one (a stray `.tmp-*` file at worst).

Everything here is personal (photos, and tokens that draw the person), so files are 0600 and
folders 0700: other accounts on the machine may not even list whose photos there are.

No path is ever built from user input: names come from hashes, integer ids and uuids, and
every relative path handed back in is checked against the one shape this class writes.
These methods block on disk; the async store calls them in a thread.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

_SHA256 = re.compile(r"[0-9a-f]{64}")
_TOKENS = re.compile(r"concepts/[0-9]+/[0-9a-f]{32}\.safetensors")
PHOTO_SUFFIX = ".png"
TOKENS_SUFFIX = ".safetensors"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable: the directory entry lives in the folder (POSIX only)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(folder: Path) -> None:
    """Create `folder` and its missing parents as 0700 (Path.mkdir gives parents the umask's 0755)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            pass


def private_file(path: Path) -> None:
    """Make `path` exist as 0600 before anyone writes to it (a later open for writing keeps the mode).

    An existing file is only chmod-ed, never opened: closing any descriptor of a file drops every
    POSIX lock this process holds on it, and SQLite's locks on the database are such locks (with
    them gone, another process took itself for the last user and deleted the WAL under us)."""
    private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        os.chmod(path, PRIVATE_FILE)  # an older file may have been made 0644


def remove_empty_dir(folder: Path) -> None:
    """Remove `folder` if it is empty; anything else (not empty, gone already) is fine."""
    try:
        os.rmdir(folder)
    except OSError:
        pass


def _temp_file_in(folder: Path) -> tuple[int, str]:
    """A new temporary file in `folder` (made 0700 if missing). A delete elsewhere may remove the
    folder the moment it is empty, between our mkdir and mkstemp: then make it again. Once the
    temporary file is in it the folder is not empty, so it stays until os.replace is done."""
    for _ in range(3):
        private_dir(folder)
        try:
            # Same folder, so os.replace is a rename within one filesystem; the suffix keeps
            # half-written files out of anything that globs for *.png or *.safetensors.
            return tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")
        except FileNotFoundError:
            continue
    raise FileNotFoundError(f"{folder} was removed while writing into it")


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one (0600, as
    mkstemp makes it)."""
    fd, temp = _temp_file_in(path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


class FileStore:
    """Photo and token files under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.photos_dir = self.root / "photos"
        self.concepts_dir = self.root / "concepts"

    # -- photos -------------------------------------------------------------------------

    def photo_path(self, sha: str) -> Path:
        if not _SHA256.fullmatch(sha):
            raise ValueError(f"not a sha256 hex digest: {sha!r}")
        return self.photos_dir / sha[:2] / f"{sha}{PHOTO_SUFFIX}"

    def write_photo(self, data: bytes) -> str:
        """Store sanitized photo bytes; returns their sha256 (a no-op when already stored)."""
        sha = sha256_of(data)
        path = self.photo_path(sha)
        if not (path.is_file() and path.stat().st_size == len(data)):
            atomic_write(path, data)
        return sha

    def read_photo(self, sha: str) -> bytes:
        return self.photo_path(sha).read_bytes()

    def delete_photo(self, sha: str) -> bool:
        """Remove a photo file, and its shard folder once empty (a write racing into it makes
        it again: see _temp_file_in); False when the file was not there."""
        path = self.photo_path(sha)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        remove_empty_dir(path.parent)
        return True

    # -- concept tokens ---------------------------------------------------------------------

    def concept_dir(self, concept_id: int) -> Path:
        if not isinstance(concept_id, int) or isinstance(concept_id, bool) or concept_id < 0:
            raise ValueError(f"not a concept id: {concept_id!r}")
        return self.concepts_dir / str(concept_id)

    def write_tokens(self, concept_id: int, data: bytes) -> str:
        """Store a new version of a concept's tokens; returns its path relative to the root."""
        relative = f"concepts/{self.concept_dir(concept_id).name}/{uuid.uuid4().hex}{TOKENS_SUFFIX}"
        atomic_write(self.root / relative, data)
        return relative

    def tokens_path(self, relative: str) -> Path:
        """The absolute path of a token file, refusing anything write_tokens would not make."""
        if not _TOKENS.fullmatch(relative):
            raise ValueError(f"not a token file path: {relative!r}")
        return self.root / relative

    def read_tokens(self, relative: str) -> bytes:
        return self.tokens_path(relative).read_bytes()

    def delete_tokens(self, relative: str) -> bool:
        try:
            self.tokens_path(relative).unlink()
        except FileNotFoundError:
            return False
        return True

    def delete_concept_dir(self, concept_id: int) -> None:
        """Remove every token version of a concept (and any stray temporary file)."""
        try:
            shutil.rmtree(self.concept_dir(concept_id))
        except FileNotFoundError:
            pass
