"""Pretrained weights as data: a `.pt` model name that is no local file is downloaded once, before
training, verified, and recorded.

ultralytics would download such a name itself on first use, but on a cluster that happens on a
compute node, which usually has no internet, and nothing records which bytes were used. Here a
local rule downloads it into the output folder; training declares the file as an input, so
provenance carries its checksum and a new file retrains.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from .fetch import FetchError, FigshareClient
from .files import sha256sum

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
    timeout_s: float = 60.0,
    retries: int = 3,
    log: Callable[[str], None] = print,
) -> dict:
    """Download `base_url/name` to `target`, verify it, and return the record written beside it
    (`<target>.json`: url, sha256, whether it matched a shipped checksum, when)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    url = f"{base_url.rstrip('/')}/{name}"
    by_hand = (
        f"to provide it by hand, download {url} on a machine with internet and give its local path as the "
        f"model (e.g. train.model: resources/weights/{name})"
    )
    client = FigshareClient(retries=retries, timeout_s=timeout_s, log=log)
    try:
        client.download(url, target, size=None, md5=None)
    except FetchError as error:
        reason = str(error).split(". Offline?")[0]  # the FigShare advice does not apply to weights
        raise WeightsError(f"cannot download {name} from {url}: {reason}; {by_hand}") from None
    actual = sha256sum(target)
    expected = KNOWN_SHA256.get(name)
    if expected and actual != expected:
        target.unlink()
        raise WeightsError(
            f"{name} from {url} has sha256 {actual}, not the published {expected}; a different file under a "
            f"known name is refused: give it another name, or {by_hand}"
        )
    if not expected:
        log(f"warning: no published checksum known for {name}; recorded sha256 {actual} (trust on first use)")
    record = {
        "file": name,
        "url": url,
        "sha256": actual,
        "verified": bool(expected),
        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    record_path(target).write_text(json.dumps(record, indent=2) + "\n")
    return record


def record_path(weights: str | Path) -> Path:
    """Where the download record of a weights file lies: beside it, `<name>.json`."""
    return Path(f"{weights}.json")
