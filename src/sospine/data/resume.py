"""When a cut download may be resumed, and how: the rest is appended only when something proves it
is of the same file (FigShare's md5, checked at the end, or the part's validator sent as If-Range
and repeated by the 206 answer); otherwise the download starts over at byte 0."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import requests

from sospine.progress import Progress


def _why_not_resume(have: int, size: int | None, known: dict, md5: str | None) -> str | None:
    """Why the `have` bytes of a part must not be resumed; None when they may (or there are none).
    Resuming needs something that can tell the rest of this file from the rest of another one: the
    md5 of the whole file, checked at the end, or the validator the part came with (`known`).

    >>> _why_not_resume(10, 100, {"validator": ""}, None)
    'no md5, ETag or Last-Modified could show the rest is of the same file'
    >>> _why_not_resume(10, 100, {"validator": '"e"'}, None), _why_not_resume(10, 100, {"validator": ""}, "ab")
    (None, None)
    """
    if not have:
        return None
    if size is not None and have > size:
        return f"more than the {size} bytes FigShare lists"
    if not known:
        return "bytes of unknown origin"
    if not (md5 or known.get("validator")):
        return "no md5, ETag or Last-Modified could show the rest is of the same file"
    return None


def _resume_headers(have: int, validator: str | None) -> dict[str, str]:
    """Ask for the rest of a file, and (If-Range) for all of it should it have changed since."""
    if not have:
        return {}
    return {"Range": f"bytes={have}-", **({"If-Range": validator} if validator else {})}


def _validator(headers: Mapping[str, str]) -> str:
    """What identifies this version of the resource for `If-Range`: a strong ETag, else Last-Modified,
    else "" (a weak ETag cannot be used in If-Range, RFC 9110 13.1.5).

    >>> _validator({"ETag": 'W/"a"', "Last-Modified": "Tue, 01 Jul 2025 10:00:00 GMT"})
    'Tue, 01 Jul 2025 10:00:00 GMT'
    >>> _validator({"ETag": '"a"'}), _validator({})
    ('"a"', '')
    """
    etag = headers.get("ETag") or ""
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified") or ""


def _same_resource(
    content_range: str | None, validator: str, have: int, size: int | None, known: dict, *, verified_after: bool
) -> bool:
    """Whether a 206 answer continues the bytes already there: it starts where they end, its total
    is FigShare's size, and its validator is the one those bytes came with. Without a md5 to check
    the whole file afterwards (`verified_after`), the answer must repeat that validator: a 206
    without one does not show that the server compared it (If-Range honoured)."""
    start, total = _content_range(content_range)
    if start != have or (size is not None and total is not None and total != size):
        return False
    if not known.get("validator"):
        return verified_after
    return validator == known["validator"] or (verified_after and not validator)


def _write_body(response: requests.Response, part: Path, start: int, counter: Progress) -> bool:
    """Append (or, from byte 0, write) the body to `part`; whether all announced bytes came."""
    announced = response.headers.get("Content-Length")
    received = 0
    with open(part, "ab" if start else "wb") as handle:
        for block in response.iter_content(64 * 1024):  # small blocks: a cut keeps most bytes
            handle.write(block)
            received += len(block)
            counter.update(len(block))
    return announced is None or received >= int(announced)


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """`bytes 100-199/1000` -> (100, 1000); what is missing is None.

    >>> _content_range("bytes 100-199/1000"), _content_range("bytes 5-9/*"), _content_range(None)
    ((100, 1000), (5, None), (None, None))
    """
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", header or "")
    if not match:
        return None, None
    return int(match[1]), None if match[2] == "*" else int(match[2])
