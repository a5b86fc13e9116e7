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

import glob
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from sospine.data.files import md5sum, sha256sum

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


INDEX = "index.json"  # input path -> its stamp's file name, for jobs that only name the stamps


def _recorded(stamp: Path) -> dict:
    found = _read_json(stamp)
    return found if isinstance(found, dict) else {}


def _recorded_md5(stamp: Path) -> str | None:
    return _recorded(stamp).get("md5")


def _common_tail(a: str, b: str) -> int:
    """How many trailing path parts two paths share."""
    shared = 0
    for x, y in zip(reversed(Path(a).parts), reversed(Path(b).parts), strict=False):
        if x != y:
            break
        shared += 1
    return shared


def stamp_inputs(
    files: Mapping[str, str | Path], stamp_dir: str | Path, cache: ChecksumCache, *, write: bool = True
) -> dict[str, str]:
    """Input path -> its stamp file under `stamp_dir` (rewritten only when the checksum changed).

    A stamp is named by the input's absolute path; when the output folder was moved, or another
    checkout takes it over, that path is new, and the stamp of a file of the same name and the same
    content is kept instead (unchanged, so nothing made from it looks out of date). `write=False` (a
    job reading the workflow again on a cluster node) only names the stamps, as the start wrote them.
    """
    stamp_dir = Path(stamp_dir)
    if not write:
        try:
            index = json.loads((stamp_dir / INDEX).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            index = {}
        return {str(p): str(stamp_dir / index.get(str(p), stamp_name(p))) for p in files.values()}
    paths = [Path(p) for p in files.values()]
    checksums = {str(p): cache.checksum(p) for p in paths if p.is_file()}
    names = {str(p): stamp_name(p) for p in paths}
    claimed = {name for name in names.values() if (stamp_dir / name).is_file()}
    # inputs without a stamp of their own may adopt one of the same file name and content; of such
    # pairs, those whose recorded paths end most alike are matched first
    pairs = []
    for order, path in enumerate(paths):
        name = names[str(path)]
        if name in claimed or str(path) not in checksums:
            continue
        prefix = name.rsplit("-", 1)[0]
        for candidate in stamp_dir.glob(f"{glob.escape(prefix)}-*"):
            if candidate.name not in claimed and _recorded_md5(candidate) == checksums[str(path)]:
                tail = _common_tail(_recorded(candidate).get("path", ""), str(path.resolve()))
                pairs.append((-tail, order, candidate.name, path))
    adopted = set()
    for _, _, candidate, path in sorted(pairs, key=lambda pair: pair[:3]):
        if candidate not in claimed and str(path) not in adopted:
            names[str(path)] = candidate  # the same file's stamp from where the folder was before
            claimed.add(candidate)
            adopted.add(str(path))
    for path in paths:
        stamp = stamp_dir / names[str(path)]
        if str(path) in checksums and _recorded_md5(stamp) != checksums[str(path)]:
            stamp_dir.mkdir(parents=True, exist_ok=True)
            record = {"path": str(path.resolve()), "md5": checksums[str(path)]}
            stamp.write_text(json.dumps(record) + "\n", encoding="utf-8")
    index = dict(names)
    if index and _read_json(stamp_dir / INDEX) != index:
        stamp_dir.mkdir(parents=True, exist_ok=True)
        temporary = stamp_dir / f"{INDEX}.{os.getpid()}.tmp"
        temporary.write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
        temporary.replace(stamp_dir / INDEX)
    cache.save()
    return {path: str(stamp_dir / name) for path, name in names.items()}


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
