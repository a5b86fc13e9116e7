"""Pretrained weights as data: a `.pt` model name that is no local file is downloaded once, before
training, verified, and recorded.

ultralytics would download such a name itself on first use, but on a cluster that happens on a
compute node, which usually has no internet, and nothing records which bytes were used. Here a
local rule downloads it into the output folder; training declares the file as an input, so
provenance carries its checksum and a new file retrains.

A `.pt` file is a Python pickle: loading one can run any code its author put in it. So weights are
loaded only when their sha256 is known, from the table of published checksums below or from the
`sha256` setting beside the model, and only when they are a complete torch archive (not an HTML page,
not cut short); `sospine.detectors.train.checkpoint_problem` then loads them with torch's restricted unpickler,
which refuses anything but model classes, before ultralytics sees them.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sospine.data.fetch import FetchError, FigshareClient
from sospine.data.files import sha256sum

#: sha256 of ultralytics' published COCO-pretrained YOLO11 weights (release v8.3.0 of
#: github.com/ultralytics/assets), as listed in several independent public manifests.
KNOWN_SHA256: dict[str, str] = {
    "yolo11n.pt": "0ebbc80d4a7680d14987a577cd21342b65ecfd94632bd9a8da63ae6417644ee1",
    "yolo11s.pt": "85a76fe86dd8afe384648546b56a7a78580c7cb7b404fc595f97969322d502d5",
    "yolo11m.pt": "d5ffc1a674953a08e11a8d21e022781b1b23a19b730afc309290bd9fb5305b95",
    "yolo11l.pt": "9ebd0e09d59811db4b1d61e2bc6730649608b1ac47f8dd01e2da6bca7c20023f",
    "yolo11x.pt": "7bc158aa95c0ebfdd87f70f01653c1131b93e92522dbe15c228bcd742e773a24",
}


class WeightsError(RuntimeError):
    """Weights that cannot be had; the message names the URL and how to provide the file by hand."""


def expected_sha256(model: str, configured: str | None = None) -> str | None:
    """The sha256 a model's weights must have: the configured one, else the published one of its name.

    >>> expected_sha256("yolo11n.pt")[:8], expected_sha256("mine.pt"), expected_sha256("mine.pt", "ab" * 32)[:4]
    ('0ebbc80d', None, 'abab')
    """
    return configured or KNOWN_SHA256.get(Path(model).name)


def checksum_problem(value: object, where: str) -> str | None:
    """Why a configured sha256 is not one, in words (None for a checksum or nothing).

    >>> checksum_problem("ab" * 32, "train.sha256"), checksum_problem("", "train.sha256")
    (None, None)
    >>> checksum_problem("AB" * 32, "train.sha256")[:71]
    "config key 'train.sha256': has uppercase letters; write it as sha256sum"
    >>> checksum_problem(1234, "detectors.x.sha256")
    "config key 'detectors.x.sha256': YAML read it as a number (it has no letters); put it in quotes: sha256: '1234'"
    """
    if value is None or value == "" or (isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value)):
        return None
    where = f"config key '{where}'"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return f"{where}: expected the file's sha256 (64 hex digits as sha256sum prints them), got {value!r}"
    if isinstance(value, int | float):
        return f"{where}: YAML read it as a number (it has no letters); put it in quotes: sha256: '{value}'"
    if re.fullmatch(r"[0-9a-fA-F]{64}", value):
        return f"{where}: has uppercase letters; write it as sha256sum prints it: {value.lower()}"
    return (
        f"{where}: expected the file's sha256, 64 hex digits as sha256sum prints them; got {value[:80]!r} "
        f"({len(value)} characters)"
    )


def untrusted_problem(model: str, configured: str | None, where: str) -> str | None:
    """Why `.pt` weights may not be used (none known or given sha256), before anything is downloaded."""
    if not model.endswith(".pt") or expected_sha256(model, configured):
        return None
    return (
        f"config key '{where}': {model} is a .pt file, a Python pickle that can run code when it is loaded, and "
        f"no sha256 is known for it; weights are loaded only with their checksum: add `sha256: <64 hex digits>` "
        f"beside the model (`sha256sum {model}` prints it) once you trust the file"
    )


def mismatch_problem(path: str | Path, actual: str, expected: str, configured: bool) -> str:
    whose = "the sha256 given in the configuration" if configured else "the published"
    return f"{path} has sha256 {actual}, not {whose} {expected}: refused (a .pt file can run code when loaded)"


def torch_archive_problem(path: str | Path) -> str | None:
    """Why `path` is not a complete torch archive (the zip file torch.save writes), or None.

    >>> import tempfile, os
    >>> page = os.path.join(tempfile.mkdtemp(), "x.pt"); _ = open(page, "w").write("<!DOCTYPE html><html>")
    >>> torch_archive_problem(page)
    'an HTML page, not torch weights'
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    if not head:
        return "an empty file"
    if not head.startswith(b"PK\x03\x04"):
        text = head.lstrip().lower()
        if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<")):
            return "an HTML page, not torch weights"
        return f"not a torch archive (it starts with {head[:8]!r}; torch.save writes a zip archive)"
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if not any(name.endswith("data.pkl") for name in names):
                return "a zip archive without data.pkl, not torch weights"
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        return f"cut short or corrupt ({error})"
    if broken:
        return f"corrupt (entry {broken} fails its CRC check)"
    return None


def to_download(model: str) -> str | None:
    """The file name to download for a model setting, or None (an architecture .yaml builds the
    model without any file; a local .pt path is used as it is).

    >>> to_download("yolo11s.pt"), to_download("yolo11n.yaml"), to_download("resources/models/x.yaml")
    ('yolo11s.pt', None, None)
    """
    if not model.endswith(".pt") or Path(model).exists() or "/" in model:
        return None
    return model


def fetch_weights(
    name: str,
    base_url: str,
    target: str | Path,
    *,
    sha256: str | None = None,
    timeout_s: float = 60.0,
    retries: int = 3,
    log: Callable[[str], None] = print,
) -> dict:
    """Download `base_url/name` to `target`, verify it, and return the record written beside it
    (`<target>.json`: url, sha256, whose checksum it matched, when). `sha256` is the configured
    checksum; without one, the published checksum of `name` must be known."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    url = f"{base_url.rstrip('/')}/{name}"
    by_hand = (
        f"to provide it by hand, download {url} on a machine with internet and give its local path as the "
        f"model (e.g. train.model: resources/weights/{name})"
    )
    expected = expected_sha256(name, sha256)
    if not expected:
        raise WeightsError(untrusted_problem(name, None, "train.model") or name)
    client = FigshareClient(retries=retries, timeout_s=timeout_s, log=log)
    try:
        client.download(url, target, size=None, md5=None)
    except FetchError as error:
        reason = str(error).split(". Offline?")[0]  # the FigShare advice does not apply to weights
        raise WeightsError(f"cannot download {name} from {url}: {reason}; {by_hand}") from None
    actual = sha256sum(target)
    if actual != expected:
        target.unlink()
        advice = "a different file under a known name is refused: give it another name" if not sha256 else "check it"
        raise WeightsError(f"{mismatch_problem(f'{name} from {url}', actual, expected, bool(sha256))}; {advice}")
    problem = torch_archive_problem(target)
    if problem:
        target.unlink()
        raise WeightsError(f"{name} from {url} is {problem}; {by_hand}")
    record = {
        "file": name,
        "url": url,
        "sha256": actual,
        "verified": "configuration" if sha256 else "published checksum",
        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    record_path(target).write_text(json.dumps(record, indent=2) + "\n")
    return record


def record_path(weights: str | Path) -> Path:
    """Where the download record of a weights file lies: beside it, `<name>.json`."""
    return Path(f"{weights}.json")
