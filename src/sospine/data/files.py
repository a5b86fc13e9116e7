"""File helpers: md5 of files and folders (the checksum the workflow records, as FigShare publishes
md5s; sha256 for pretrained weights, as their publishers do), and placing a file under a second name
without a second copy."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

CHUNK = 1 << 20


def md5sum(path: str | Path, skip_suffixes: tuple[str, ...] = ()) -> str:
    """md5 of a file, or of a folder's files (their relative names and contents, sorted), leaving
    out files whose name ends with one of `skip_suffixes`."""
    path = Path(path)
    digest = hashlib.md5()
    if path.is_dir():
        files = (p for p in path.rglob("*") if p.is_file() and not p.name.endswith(skip_suffixes))
        for child in sorted(files):
            digest.update(str(child.relative_to(path)).encode())
            digest.update(md5sum(child).encode())
        return digest.hexdigest()
    return _file_digest(path, digest)


def sha256sum(path: str | Path) -> str:
    """sha256 of a file."""
    return _file_digest(Path(path), hashlib.sha256())


def _file_digest(path: Path, digest: hashlib._Hash) -> str:
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def link_or_copy(source: Path, target: Path) -> None:
    """`target` becomes a hard link to `source` (one copy on disk), or a copy on another file system."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another file system, or one without hard links
        shutil.copyfile(source, target)
