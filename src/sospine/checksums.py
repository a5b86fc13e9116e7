"""md5 of files and folders: the one checksum the workflow records (FigShare publishes md5s)."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK = 1 << 20


def md5sum(path: str | Path) -> str:
    """md5 of a file, or of a folder's files (their relative names and contents, sorted)."""
    path = Path(path)
    digest = hashlib.md5()
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(child.relative_to(path)).encode())
            digest.update(md5sum(child).encode())
        return digest.hexdigest()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()
