"""Snakemake's bookkeeping of the files it made, read and handed over between checkouts.

Snakemake keeps, per working folder, one JSON record per output in `.snakemake/metadata/` and a
marker per output of a job that started but did not finish in `.snakemake/incomplete/`; each is
named by the urlsafe base64 of the output's path, cut into segments of at most NAME_MAX - 1
characters (all but the last prefixed with `@`, each a folder level). An output folder shared by
two checkouts is written under two such bookkeepings: the checkout that runs next adopts the
records and markers of the one that wrote last, so a job the other run had stopped is redone and a
file it finished is known.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

WRITER_FILE = ".sospine-writer.json"  # in the output folder: which checkout ran jobs on it last


def encode_key(key: str, name_max: int = 255) -> Path:
    """The relative path under `metadata/` or `incomplete/` of the record for output `key`.

    >>> str(encode_key("results/a.csv"))
    'cmVzdWx0cy9hLmNzdg=='
    """
    b64 = base64.urlsafe_b64encode(key.encode()).decode()
    step = name_max - 1
    parts = [b64[i : i + step] for i in range(0, len(b64), step)]
    return Path(*["@" + part for part in parts[:-1]], parts[-1])


def decode_key(relative: Path) -> str | None:
    """The output path a record file (relative to `metadata/`) is for; None for a foreign file.

    >>> decode_key(encode_key("/scratch/x/results/scores/yolo/summary.json", name_max=16))
    '/scratch/x/results/scores/yolo/summary.json'
    """
    parts = relative.parts
    if not parts or any(not part.startswith("@") for part in parts[:-1]):
        return None
    b64 = "".join(part.removeprefix("@") for part in parts[:-1]) + parts[-1]
    try:
        return base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def _entries(folder: Path) -> Iterator[tuple[str, Path]]:
    """(output path, record file) for every record under `folder`."""
    if not folder.is_dir():
        return
    for root, _, names in os.walk(folder):
        for name in names:
            file = Path(root) / name
            key = decode_key(file.relative_to(folder))
            if key is not None:
                yield key, file


def read_records(workdir: Path) -> dict[str, dict]:
    """Snakemake's metadata records in `workdir`, by output path as the rules name it."""
    records = {}
    for key, file in _entries(workdir / ".snakemake" / "metadata"):
        try:
            records[key] = json.loads(file.read_text())
        except (OSError, ValueError):
            continue  # being written, or not a record
    return records


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX") or 255
    except (OSError, ValueError):
        return 255


def _ours(key: str, writer: Path, results: Path, here: Path) -> str | None:
    """The writer's output path `key` as this checkout's rules name it, or None when it lies outside
    the shared output folder `results` (as this checkout's config names it)."""
    absolute = Path(os.path.normpath(writer / key))
    shared = Path(os.path.normpath(here / results))
    try:
        inside = absolute.relative_to(shared)
    except ValueError:
        return None
    return str(results / inside) if str(inside) != "." else None


def adopt(writer: Path, here: Path, results: Path) -> int:
    """Copy into `here`'s bookkeeping the records and incomplete markers that checkout `writer` holds
    for files in the output folder `results`, where they are newer than `here`'s own; return how many.

    A record is newer when it ended later than ours (or we have none); a file the writer finished
    after we marked it incomplete loses our marker; a marker of the writer (its job was stopped) is
    taken over while the file exists, so that Snakemake reruns that job here.
    """
    theirs = writer / ".snakemake"
    mine = here / ".snakemake"
    (mine / "metadata").mkdir(parents=True, exist_ok=True)
    (mine / "incomplete").mkdir(parents=True, exist_ok=True)
    name_max = _name_max(mine / "metadata")
    own = read_records(here)
    adopted = 0
    for key, file in _entries(theirs / "metadata"):
        ours = _ours(key, writer, results, here)
        if ours is None:
            continue
        try:
            record = json.loads(file.read_text())
        except (OSError, ValueError):
            continue
        if (own.get(ours) or {}).get("endtime", 0) >= record.get("endtime", 0):
            continue
        target = mine / "metadata" / encode_key(ours, name_max)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(record))
        (mine / "incomplete" / encode_key(ours, name_max)).unlink(missing_ok=True)
        adopted += 1
    for key, file in _entries(theirs / "incomplete"):
        ours = _ours(key, writer, results, here)
        if ours is None or not (here / ours).exists():
            continue
        target = mine / "incomplete" / encode_key(ours, name_max)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, target)
        adopted += 1
    return adopted


def last_writer(results: Path) -> dict | None:
    """What the output folder says of the checkout that ran jobs on it last (None if unknown)."""
    try:
        return json.loads((results / WRITER_FILE).read_text())
    except (OSError, ValueError):
        return None


def record_writer(results: Path, here: Path) -> None:
    """Note in the output folder that checkout `here` runs jobs on it now."""
    results = here / results
    results.mkdir(parents=True, exist_ok=True)
    temporary = results / f"{WRITER_FILE}.{os.getpid()}"
    temporary.write_text(json.dumps({"workdir": str(here.resolve()), "host": socket.gethostname()}))
    temporary.replace(results / WRITER_FILE)


def hand_over(results: Path, here: Path) -> str | None:
    """Adopt the bookkeeping of the checkout on this host that wrote `results` last, if that is not
    `here`; return a line saying so, or None when there was nothing to take over. A relative `results`
    is relative to `here`, as the rules name it."""
    writer = last_writer(here / results)
    if not writer or writer.get("host") != socket.gethostname():
        return None
    other = Path(writer.get("workdir", ""))
    if not other.is_absolute() or other == here.resolve() or not (other / ".snakemake").is_dir():
        return None
    count = adopt(other, here, results)
    return f"took over {count} records of files in {results} written by the workflow in {other}" if count else None


#: the output folder's own lock: one run writes it at a time, also from another checkout
OUTPUT_LOCK = ".sospine.lock"


def take_output_folder(results: Path, here: Path) -> str | None:
    """Lock the output folder for a run of the workflow in `here` and note it as the folder's
    writer; return why it cannot be taken (a live run holds it), or None."""
    from sospine.provenance.locks import LockedError, acquire

    try:
        acquire(Path(results) / OUTPUT_LOCK, f"output folder {results}", describe=f"run of the workflow in {here}")
    except LockedError as error:
        return str(error)
    record_writer(Path(results), here)
    return None


def take_over_records(results: Path, here: Path) -> str | None:
    """Before planning: the records of the checkout that wrote `results` last (see `hand_over`),
    unless a run holds the folder now; a line saying so, or None."""
    from sospine.provenance.locks import is_live

    return None if is_live(Path(results) / OUTPUT_LOCK) else hand_over(results, here)
