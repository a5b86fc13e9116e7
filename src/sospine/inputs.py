"""The content of the files the workflow reads from outside its output folder (a mirror's files,
someone's detections, a local model file), checked at every start.

Snakemake reruns a job when an input is newer than its outputs, so a file replaced by other content
with an unchanged or older mtime (`cp -p`, `rsync -t`, unpacking an archive) would go unnoticed. For
each such file the workflow keeps a stamp under `<output_dir>/inputs/`: a small file holding the
input's checksum, rewritten (so: newer) only when the checksum changes. The rules that read the input
also read its stamp, so changed content re-plans exactly the jobs that read it.

Checksums are cached by the file's size, mtime, ctime and inode: the content is read again only when
one of them changed (any write changes ctime, which no tool can set back), so a multi-GB frames.zip
is read once, not at every start.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from .files import md5sum, sha256sum

ALGORITHMS: dict[str, Callable[[Path], str]] = {"md5": md5sum, "sha256": sha256sum}


def _signature(path: Path) -> list[int]:
    info = path.stat()
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]


def stamp_name(path: str | Path) -> str:
    """A stamp file name for an input: readable, and unique per absolute path.

    >>> stamp_name("/data/sospine/sospine_bbox.csv")[:17]
    'sospine_bbox.csv-'
    """
    absolute = str(Path(path).resolve())
    digest = hashlib.sha256(absolute.encode()).hexdigest()[:10]
    return f"{re.sub(r'[^A-Za-z0-9_.-]', '_', Path(path).name)}-{digest}"


class ChecksumCache:
    """Checksums of files, kept in a JSON file and reused while a file's stat signature is unchanged."""

    def __init__(self, cache_file: str | Path, log: Callable[[str], None] | None = None):
        self.cache_file = Path(cache_file)
        self.log = log
        try:
            self.entries: dict = json.loads(self.cache_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}
        self.changed = False

    def checksum(self, path: str | Path, algorithm: str = "md5") -> str:
        path = Path(path)
        key = f"{algorithm}:{path.resolve()}"
        signature = _signature(path)
        entry = self.entries.get(key)
        if entry and entry.get("signature") == signature:
            return entry["checksum"]
        size = signature[0]
        if self.log and size > 256 << 20:
            self.log(f"note: reading {path} ({size / 2**30:.1f} GB) to check its content (once per change)")
        value = ALGORITHMS[algorithm](path)
        self.entries[key] = {"signature": signature, "checksum": value}
        self.changed = True
        return value

    def save(self) -> None:
        if not self.changed:
            return
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.cache_file.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(self.entries, indent=1), encoding="utf-8")
        temporary.replace(self.cache_file)
        self.changed = False


def stamp_inputs(
    files: Mapping[str, str | Path], stamp_dir: str | Path, cache: ChecksumCache, *, write: bool = True
) -> dict[str, str]:
    """Input path -> its stamp file under `stamp_dir` (rewritten only when the checksum changed).

    `write=False` (a job reading the workflow again on a cluster node) only names the stamps.
    """
    stamp_dir = Path(stamp_dir)
    stamps = {}
    for path in files.values():
        stamp = stamp_dir / stamp_name(path)
        stamps[str(path)] = str(stamp)
        if not write or not Path(path).is_file():
            continue
        record = {"path": str(Path(path).resolve()), "md5": cache.checksum(path)}
        try:
            recorded = json.loads(stamp.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            recorded = None
        if recorded != record:
            stamp_dir.mkdir(parents=True, exist_ok=True)
            stamp.write_text(json.dumps(record) + "\n", encoding="utf-8")
    cache.save()
    return stamps
