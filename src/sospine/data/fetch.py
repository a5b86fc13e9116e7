"""FigShare download with md5 verification, retries, HTTP Range resume and a manifest.

A file only ever reaches its final path after its size and md5 matched FigShare's record; until
then it lives beside the target as `<name>.part` (kept between attempts so a rerun resumes).

In the workflow each record is one job, and files are downloaded into a cache folder that is no
job's output: Snakemake deletes a job's outputs before it reruns the job, so verified bytes (frames.zip
is several GB) live in the cache and the job's outputs are hard links to them.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import requests

from sospine.data.files import link_or_copy, md5sum
from sospine.data.resume import (  # noqa: F401 - the resumption rules, by their names here as before
    _content_range,
    _resume_headers,
    _same_resource,
    _validator,
    _why_not_resume,
    _write_body,
)
from sospine.progress import Progress

DEFAULT_API_URL = "https://api.figshare.com/v2"
DOI_RE = re.compile(r"^10\.6084/m9\.figshare\.(?P<article>\d+)(?:\.v(?P<version>\d+))?$")
CHUNK = 1 << 20
MANIFEST = "fetch_manifest.json"


class FetchError(RuntimeError):
    """A download that cannot succeed; the message names the file or host."""


class _TransientError(Exception):
    """A failure worth retrying (connection reset, 5xx, 429, truncated body, stall)."""

    def __init__(self, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


MAX_RETRY_AFTER_S = 600.0


def retry_after_seconds(value: str | None) -> float | None:
    """A `Retry-After` header (seconds or an HTTP date) in seconds from now, capped.

    >>> retry_after_seconds("12"), retry_after_seconds(None), retry_after_seconds("soon")
    (12.0, None, None)
    """
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            from email.utils import parsedate_to_datetime

            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _throttled(response: requests.Response) -> _TransientError | None:
    """A retryable answer (429, 5xx) as an error that carries the server's `Retry-After`."""
    if response.status_code != 429 and response.status_code < 500:
        return None
    reason = " (too many requests)" if response.status_code == 429 else ""
    return _TransientError(
        f"HTTP {response.status_code}{reason}", retry_after_seconds(response.headers.get("Retry-After"))
    )


@dataclass(frozen=True)
class ManifestEntry:
    record: str
    doi: str
    article_id: int
    version: int | None
    file: str
    size: int
    md5: str
    url: str
    fetched_at: str


def parse_doi(doi: str) -> tuple[int, int | None]:
    match = DOI_RE.match(doi.strip())
    if not match:
        raise FetchError(f"not a FigShare DOI: {doi!r} (expected 10.6084/m9.figshare.<id>[.v<n>])")
    version = match["version"]
    return int(match["article"]), int(version) if version else None


def _unreachable(url: str, error: Exception) -> FetchError:
    host = urlparse(url).netloc or url
    return FetchError(
        f"cannot reach {host} ({type(error).__name__}). Offline? Use data.source: mirror with "
        "data.mirror_dir pointing at a folder of the SOSpine files, or data.source: synthetic "
        "(e.g. snakemake --config data='{source: mirror, mirror_dir: ../shared/sospine}')"
    )


def _is_name_resolution_failure(error: Exception) -> bool:
    text = repr(error)
    return any(
        s in text
        for s in (
            "NameResolutionError",
            "Name or service not known",
            "Temporary failure in name resolution",
            "nodename nor servname",
        )
    )


class FigshareClient:
    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        *,
        retries: int = 5,
        timeout_s: float = 60.0,
        backoff_s: float = 1.0,
        log: Callable[[str], None] = lambda message: print(message, file=sys.stderr),
        progress: Callable[[str], None] | None = None,
    ):
        self.api_url = api_url.rstrip("/")
        self.retries = retries
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self.log = log
        self.progress = progress or log  # compact lines for large downloads
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "sospine-benchmark"

    def _with_retries(self, what: str, url: str, attempt_once: Callable[[], object]) -> object:
        for attempt in range(self.retries + 1):
            try:
                return attempt_once()
            except requests.exceptions.ConnectionError as error:
                if _is_name_resolution_failure(error):
                    raise _unreachable(url, error) from None
                failure: Exception = error
            except (_TransientError, requests.exceptions.Timeout, requests.exceptions.ChunkedEncodingError) as error:
                failure = error
            if attempt == self.retries:
                if isinstance(failure, requests.exceptions.ConnectionError):
                    raise _unreachable(url, failure) from None
                raise FetchError(f"{what}: giving up after {self.retries + 1} attempts: {failure}")
            delay = self.backoff_s * 2**attempt
            if getattr(failure, "retry_after_s", None) is not None:  # the server said how long to wait
                delay = max(delay, failure.retry_after_s)
            self.log(f"{what}: {failure}; retrying in {delay:.1f}s ({attempt + 1}/{self.retries})")
            time.sleep(delay)
        raise AssertionError("unreachable")

    def article(self, doi: str) -> dict:
        article_id, version = parse_doi(doi)
        url = f"{self.api_url}/articles/{article_id}" + (f"/versions/{version}" if version else "")

        def request_article() -> dict:
            response = self.session.get(url, timeout=self.timeout_s)
            if throttled := _throttled(response):
                raise throttled
            if response.status_code == 404:
                raise FetchError(f"FigShare has no article for {doi} ({url} answered 404)")
            if response.status_code != 200:
                raise FetchError(f"{url} answered HTTP {response.status_code}")
            try:
                return response.json()
            except ValueError:
                raise _TransientError("response is not JSON") from None

        return self._with_retries(f"article {doi}", url, request_article)  # type: ignore[return-value]

    def download(self, url: str, target: Path, size: int | None, md5: str | None) -> str:
        """Download `url` to `target` via `target.part`; return the verified md5.

        A resume sends `If-Range` with the validator (ETag or Last-Modified) of the bytes already
        there and checks `Content-Range`, so bytes of another resource (a changed file, a redirect
        elsewhere) are never appended: the download starts over instead. Bytes are resumed only when
        something proves the rest belongs to them: the md5 of the whole file, or a validator the
        answer repeats; without either (a server that sends neither ETag nor Last-Modified and no
        md5 known) every attempt starts from byte 0.
        """
        part = target.with_name(target.name + ".part")
        meta = part.with_name(part.name + ".json")  # where the part's bytes came from
        mismatches = 0

        def discard() -> None:
            part.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)

        def attempt() -> str:
            nonlocal mismatches
            known = json.loads(meta.read_text()) if meta.is_file() and part.is_file() else {}
            have = part.stat().st_size if part.exists() else 0
            if why := _why_not_resume(have, size, known, md5):
                self.log(f"{target.name}: starting over at byte 0, not resuming at byte {have}: {why}")
                discard()
                have, known = 0, {}
            headers = _resume_headers(have, known.get("validator"))
            with self.session.get(url, stream=True, timeout=self.timeout_s, headers=headers) as response:
                served = f" (served from {response.url})" if response.url != url else ""
                if throttled := _throttled(response):
                    raise throttled
                if response.status_code == 416 and size is not None and have == size:
                    complete = True  # the part is already whole
                elif response.status_code not in (200, 206):
                    raise FetchError(f"{target.name}: {url} answered HTTP {response.status_code}{served}")
                else:
                    validator = _validator(response.headers)
                    if response.status_code == 206:
                        start = have
                        answered = response.headers.get("Content-Range")
                        if not _same_resource(answered, validator, have, size, known, verified_after=bool(md5)):
                            discard()
                            raise _TransientError(f"{target.name}: resumed bytes of another resource{served}")
                    else:
                        start = 0
                        meta.write_text(json.dumps({"validator": validator}))
                    if start:
                        self.log(f"{target.name}: resuming at byte {start}")
                    quiet = (size or 0) < 4 * CHUNK
                    counter = Progress(
                        f"download {target.name}",
                        size,
                        "B",
                        write=(lambda _: None) if quiet else self.progress,
                        initial=start,
                    )
                    complete = _write_body(response, part, start, counter)
            got = part.stat().st_size
            if size is not None and got < size and not complete:
                raise _TransientError(f"{target.name}: body cut off at {got} of {size} bytes")
            actual = md5sum(part)
            if (size is not None and got != size) or (md5 and actual != md5):
                discard()
                mismatches += 1
                message = (
                    f"{target.name}: md5 mismatch, expected {md5}, got {actual} ({got} bytes, FigShare lists "
                    f"{size}){served}"
                )
                if mismatches > self.retries:
                    raise FetchError(message)
                raise _TransientError(message)
            return actual

        try:
            verified = self._with_retries(f"download {target.name}", url, attempt)
        except FetchError:
            if mismatches:
                discard()  # never keep bytes known to be wrong
            raise
        part.replace(target)
        meta.unlink(missing_ok=True)
        return verified  # type: ignore[return-value]


def fetch_record(
    record: str,
    doi: str,
    out_dir: str | Path,
    client: FigshareClient,
    *,
    cache_dir: str | Path | None = None,
    wanted: str | None = None,
) -> list[ManifestEntry]:
    """Resolve one DOI and bring its files (or only the file named `wanted`) to `out_dir`.

    With `cache_dir`, files are downloaded there and `out_dir` gets hard links (copies across file
    systems); a file already in the cache with FigShare's size and md5 is not downloaded again.
    Articles whose downloads are disabled, and files FigShare only links to, are refused.
    """
    out = Path(out_dir)
    cache = Path(cache_dir) if cache_dir is not None else out
    out.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    article_id, version = parse_doi(doi)
    article = client.article(doi)
    where = f"{record} ({doi})"
    if article.get("download_disabled"):
        raise FetchError(
            f"{where}: FigShare has downloads disabled for this article; get its files from the authors "
            "and use data.source: mirror"
        )
    files = article.get("files") or []
    if not files:
        raise FetchError(f"{where}: the FigShare article lists no files")
    if wanted is not None:
        files = [item for item in files if Path(item["name"]).name == wanted]
        if not files:
            listed = ", ".join(Path(item["name"]).name for item in article["files"])
            raise FetchError(f"{where}: the article has no file {wanted!r} (it has: {listed})")
    link_only = [item["name"] for item in files if item.get("is_link_only")]
    if link_only:
        raise FetchError(
            f"{where}: {', '.join(link_only)} is only a link to another site, not a file FigShare hosts; "
            "download it from there and use data.source: mirror"
        )
    entries: list[ManifestEntry] = []
    for item in files:
        name = Path(item["name"]).name  # never let a remote name point outside out_dir
        cached = cache / name
        size, md5 = item.get("size"), item.get("computed_md5") or item.get("supplied_md5")
        if _verified(cached, size, md5, remember=cache_dir is not None):
            client.log(f"{name}: already downloaded, md5 {md5}")
            verified = md5
        else:
            client.log(f"{name}: downloading {size} bytes from {item['download_url']}")
            verified = client.download(item["download_url"], cached, size, md5)
            if cache_dir is not None:
                _remember_verified(cached, verified)
        if cached != out / name:
            link_or_copy(cached, out / name)
        entries.append(
            ManifestEntry(
                record=record,
                doi=doi,
                article_id=article_id,
                version=article.get("version", version),
                file=name,
                size=cached.stat().st_size,
                md5=verified,
                url=item["download_url"],
                fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
        )
    return entries


def _verified_marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _remember_verified(path: Path, md5: str) -> None:
    stat = path.stat()
    marker = {"md5": md5, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    _verified_marker(path).write_text(json.dumps(marker) + "\n", encoding="utf-8")


def _verified(path: Path, size: int | None, md5: str | None, remember: bool = True) -> bool:
    """Whether `path` holds FigShare's bytes: trusted from its marker while the file is unchanged
    since it was verified, else checked again (md5 of the whole file)."""
    if not md5 or not path.is_file() or (size is not None and path.stat().st_size != size):
        return False
    marker = _verified_marker(path)
    if marker.is_file():
        try:
            known = json.loads(marker.read_text(encoding="utf-8"))
        except ValueError:
            known = {}
        stat = path.stat()
        if known == {"md5": md5, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}:
            return True
    if md5sum(path) != md5:
        return False
    if remember:
        _remember_verified(path, md5)
    return True


def fetch_records(records: Mapping[str, str], out_dir: str | Path, client: FigshareClient) -> list[ManifestEntry]:
    """Every record's files into `out_dir`, and the manifest beside them (the `sospine fetch` command).

    Files already at their final path with the recorded md5 are not downloaded again.
    """
    entries = [entry for record, doi in records.items() for entry in fetch_record(record, doi, out_dir, client)]
    write_manifest(entries, Path(out_dir) / MANIFEST)
    return entries


def merge_manifests(paths: list[str | Path], out: str | Path) -> list[ManifestEntry]:
    """One manifest from the per-record manifests of the workflow's fetch jobs."""
    entries = [ManifestEntry(**entry) for path in paths for entry in read_manifest(Path(path))]
    write_manifest(entries, Path(out))
    return entries


def write_manifest(entries: list[ManifestEntry], path: Path) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps([asdict(e) for e in entries], indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_manifest(path: str | Path) -> list[dict]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


MIRROR_COPY_LIMIT = 64 << 20  # smaller mirror files are copied, larger ones (frames.zip) linked


def from_mirror(
    mirror_dir: str | Path, out_dir: str | Path, names: list[str], copy_limit: int = MIRROR_COPY_LIMIT
) -> list[ManifestEntry]:
    """Bring `names` from a local mirror into `out_dir` and write a manifest; the mirror is only read.

    Files under `copy_limit` bytes are copied, larger ones become symbolic links: never hard links,
    which share the user's inode, so that Snakemake's bookkeeping on `out_dir` could change the
    mtime of the user's own file. When the mirror holds a fetch manifest, each md5 must match it.
    """
    source, out = Path(mirror_dir), Path(out_dir)
    if not source.is_dir():
        raise FetchError(f"data.mirror_dir: {source} is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    known = {e["file"]: e for e in read_manifest(source / MANIFEST)} if (source / MANIFEST).exists() else {}
    entries = []
    for name in names:
        src, target = source / name, out / name
        if not src.is_file():
            raise FetchError(f"{src}: not in the mirror folder")
        actual = md5sum(src)
        expected = known.get(name, {}).get("md5")
        if expected and expected != actual:
            raise FetchError(f"{src}: md5 mismatch, expected {expected} (mirror manifest), got {actual}")
        part = target.with_name(target.name + ".part")
        part.unlink(missing_ok=True)
        if src.stat().st_size < copy_limit:
            shutil.copyfile(src, part)  # contents only: the copy gets its own mtime and mode
        else:
            part.symlink_to(src.resolve())
        part.replace(target)
        record = known.get(name, {})
        entries.append(
            ManifestEntry(
                record=record.get("record", name),
                doi=record.get("doi", ""),
                article_id=record.get("article_id", 0),
                version=record.get("version"),
                file=name,
                size=src.stat().st_size,
                md5=actual,
                url=src.resolve().as_uri(),
                fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
        )
    write_manifest(entries, out / MANIFEST)
    return entries


def manifest_for_files(paths: list[Path], record: str, source: str) -> list[ManifestEntry]:
    """Manifest entries for locally made files (synthetic data): names, sizes and md5s."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return [
        ManifestEntry(
            record=record,
            doi="",
            article_id=0,
            version=None,
            file=Path(p).name,
            size=Path(p).stat().st_size,
            md5=md5sum(p),
            url=source,
            fetched_at=now,
        )
        for p in paths
    ]
