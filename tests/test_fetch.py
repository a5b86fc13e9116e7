"""The real downloader against a FigShare stand-in on 127.0.0.1 with injected faults."""

import hashlib
import time

import pytest

from sospine.cli import main
from sospine.data.fetch import FetchError, FigshareClient, fetch_record, fetch_records, read_manifest

from .conftest import PAYLOAD

RECORDS = {"bbox": "10.6084/m9.figshare.20171129", "outcomes": "10.6084/m9.figshare.20171132"}


def client(server, retries=3, timeout=1.0):
    return FigshareClient(server.api, retries=retries, timeout_s=timeout, backoff_s=0.01, progress=lambda line: None)


def test_success_writes_verified_files_and_manifest(server, tmp_path):
    entries = fetch_records(RECORDS, tmp_path, client(server))
    assert (tmp_path / "sospine_bbox.csv").read_bytes() == PAYLOAD
    manifest = read_manifest(tmp_path / "fetch_manifest.json")
    assert {e["file"] for e in manifest} == {"sospine_bbox.csv", "sospine_outcomes.csv"}
    entry = next(e for e in manifest if e["file"] == "sospine_bbox.csv")
    assert entry["md5"] == hashlib.md5(PAYLOAD).hexdigest() and entry["article_id"] == 20171129
    assert entry["doi"] == RECORDS["bbox"] and entry["size"] == len(PAYLOAD) and entry["fetched_at"]
    assert len(entries) == 2 and not list(tmp_path.glob("*.part"))


def test_500_then_success(server, tmp_path):
    server.faults["sospine_bbox.csv"] = ["500", "500"]
    fetch_records(RECORDS, tmp_path, client(server))
    assert (tmp_path / "sospine_bbox.csv").read_bytes() == PAYLOAD


def test_truncated_body_resumes_with_range(server, tmp_path):
    server.faults["sospine_bbox.csv"] = ["truncate"]
    fetch_records(RECORDS, tmp_path, client(server))
    assert (tmp_path / "sospine_bbox.csv").read_bytes() == PAYLOAD
    ranges = [r for path, r in server.requests if path.endswith("sospine_bbox.csv")]
    assert ranges[0] is None and ranges[-1] and ranges[-1].startswith("bytes=") and ranges[-1] != "bytes=0-"


def test_md5_mismatch_is_a_hard_error_with_no_file(server, tmp_path, capsys):
    server.md5_override["sospine_bbox.csv"] = "0" * 32
    code = main(
        [
            "fetch",
            "--out",
            str(tmp_path),
            "--api-url",
            server.api,
            "--record",
            f"bbox={RECORDS['bbox']}",
            "--retries",
            "1",
            "--backoff",
            "0.01",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert (
        "md5 mismatch" in err
        and "0" * 32 in err
        and hashlib.md5(PAYLOAD).hexdigest() in err
        and "sospine_bbox.csv" in err
    )
    assert not (tmp_path / "sospine_bbox.csv").exists() and not list(tmp_path.glob("*.part"))


def test_truncation_every_time_fails_cleanly(server, tmp_path):
    server.faults["sospine_bbox.csv"] = ["truncate"] * 10
    server.files["sospine_bbox.csv"] = PAYLOAD
    with pytest.raises(FetchError):
        fetch_records(
            {"bbox": RECORDS["bbox"]},
            tmp_path,
            FigshareClient(server.api, retries=0, timeout_s=1, backoff_s=0.01, progress=lambda line: None),
        )
    assert not (tmp_path / "sospine_bbox.csv").exists()


def test_404_article(server, tmp_path):
    with pytest.raises(FetchError, match="no article"):
        fetch_records({"x": "10.6084/m9.figshare.999"}, tmp_path, client(server))


def test_stalled_server_times_out(server, tmp_path):
    server.faults["sospine_bbox.csv"] = ["stall"] * 10
    started = time.monotonic()
    with pytest.raises(FetchError, match="giving up"):
        fetch_records({"bbox": RECORDS["bbox"]}, tmp_path, client(server, retries=1, timeout=0.3))
    assert time.monotonic() - started < 10
    assert not (tmp_path / "sospine_bbox.csv").exists()


def test_unreachable_host_says_what_to_do(tmp_path, capsys):
    code = main(
        ["fetch", "--out", str(tmp_path), "--api-url", "http://127.0.0.1:9/v2", "--retries", "0", "--backoff", "0.01"]
    )
    err = capsys.readouterr().err
    assert code == 1 and "cannot reach 127.0.0.1:9" in err and "mirror" in err and "synthetic" in err


def test_pinned_version_is_requested(server, tmp_path):
    fetch_records({"bbox": RECORDS["bbox"] + ".v1"}, tmp_path, client(server))
    assert ("/v2/articles/20171129/versions/1", None) in server.requests


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"article": {"download_disabled": True}}, "downloads disabled"),
        ({"file": {"is_link_only": True}}, "only a link to another site"),
    ],
)
def test_articles_that_cannot_be_downloaded_are_refused(server, tmp_path, extra, message):
    server.article_extra[20171129] = extra.get("article", {})
    server.file_extra["sospine_bbox.csv"] = extra.get("file", {})
    with pytest.raises(FetchError, match=message) as error:
        fetch_records({"bbox": RECORDS["bbox"]}, tmp_path, client(server))
    assert "bbox (10.6084/m9.figshare.20171129)" in str(error.value) and "mirror" in str(error.value)
    assert server.downloads("sospine_bbox.csv") == 0


def test_verified_bytes_survive_in_the_cache(server, tmp_path):
    """Snakemake deletes a job's outputs before rerunning it: the cache keeps what was verified."""
    out, cache = tmp_path / "raw", tmp_path / "downloads"
    fetch_record("bbox", RECORDS["bbox"], out, client(server), cache_dir=cache, wanted="sospine_bbox.csv")
    assert (out / "sospine_bbox.csv").read_bytes() == PAYLOAD and server.downloads("sospine_bbox.csv") == 1
    (out / "sospine_bbox.csv").unlink()  # what Snakemake does to an output before a rerun
    server.faults["sospine_bbox.csv"] = ["500"] * 10  # a download now would fail
    fetch_record("bbox", RECORDS["bbox"], out, client(server, retries=0), cache_dir=cache, wanted="sospine_bbox.csv")
    assert (out / "sospine_bbox.csv").read_bytes() == PAYLOAD and server.downloads("sospine_bbox.csv") == 1
    # a corrupted cache is noticed (size kept, bytes changed) and downloaded again
    server.faults.clear()
    (cache / "sospine_bbox.csv").write_bytes(b"x" * len(PAYLOAD))
    fetch_record("bbox", RECORDS["bbox"], out, client(server), cache_dir=cache, wanted="sospine_bbox.csv")
    assert (out / "sospine_bbox.csv").read_bytes() == PAYLOAD and server.downloads("sospine_bbox.csv") == 2


def test_a_record_without_the_wanted_file_names_what_it_has(server, tmp_path):
    with pytest.raises(FetchError, match="no file 'frames.zip' \\(it has: sospine_bbox.csv\\)"):
        fetch_record("frames", RECORDS["bbox"], tmp_path, client(server), wanted="frames.zip")


def test_429_waits_as_long_as_the_server_asks(server, tmp_path):
    server.faults["sospine_bbox.csv"] = ["429"]
    started = time.monotonic()
    fetch_records({"bbox": RECORDS["bbox"]}, tmp_path, client(server, retries=2))
    assert time.monotonic() - started >= 1.0  # Retry-After: 1, beyond the 0.01 s backoff
    assert (tmp_path / "sospine_bbox.csv").read_bytes() == PAYLOAD


def test_a_resume_never_splices_another_file(server, tmp_path):
    """Cut off half way, then the URL redirects to another file of the same size and the article
    lists no md5: the result is never half of one file and half of the other."""
    other = bytes(reversed(PAYLOAD))
    server.files["other.bin"] = other
    server.md5_override["sospine_bbox.csv"] = ""  # no md5 to catch it at the end
    server.faults["sospine_bbox.csv"] = ["truncate", "redirect:other.bin"]
    fetch_records({"bbox": RECORDS["bbox"]}, tmp_path, client(server))
    data = (tmp_path / "sospine_bbox.csv").read_bytes()
    assert data in (PAYLOAD, other), "spliced"
    assert not list(tmp_path.glob("*.part*"))


def test_a_persistent_redirect_to_another_file_says_so(server, tmp_path):
    server.files["small.bin"] = b"not the bbox file"
    server.faults["sospine_bbox.csv"] = ["redirect:small.bin"] * 10
    with pytest.raises(FetchError) as error:
        fetch_records({"bbox": RECORDS["bbox"]}, tmp_path, client(server, retries=1))
    message = str(error.value)
    assert "served from" in message and "small.bin" in message and "cut off" not in message
    assert not list(tmp_path.glob("*.part*"))  # no foreign bytes left behind


class Changing:
    """A server that sends no ETag, no Last-Modified (but `full_headers` on its 200 answers), and
    honours any Range, If-Range or not: the first answer is resource A cut off half way, every later
    one is resource B (the file changed in between)."""

    def __init__(self, first: bytes, then: bytes, full_headers: dict[str, str] | None = None):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from threading import Thread

        self.ranges: list[str | None] = []
        changing = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                changing.ranges.append(self.headers.get("Range"))
                data, cut = (first, True) if len(changing.ranges) == 1 else (then, False)
                start = int(self.headers["Range"].split("=")[1].split("-")[0]) if self.headers.get("Range") else 0
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                for key, value in ({} if start else full_headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                self.wfile.write(body[: len(body) // 2] if cut else body)
                if cut:
                    self.wfile.flush()
                    self.connection.shutdown(2)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/files/sospine_bbox.csv"
        Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_without_any_validator_a_cut_download_starts_over(tmp_path):
    """Nothing (no md5, ETag or Last-Modified) shows that the rest of the URL's bytes belong to the
    part already here: the retry asks for the whole file, and the result is B, never half A, half B."""
    first, then = PAYLOAD, bytes(reversed(PAYLOAD))  # the same size: FigShare's size cannot tell them apart
    changing = Changing(first, then)
    lines: list[str] = []
    downloader = FigshareClient("http://unused", retries=3, timeout_s=1, backoff_s=0.01, log=lines.append)
    try:
        downloader.download(changing.url, tmp_path / "sospine_bbox.csv", len(then), None)
    finally:
        changing.close()
    assert (tmp_path / "sospine_bbox.csv").read_bytes() == then, "spliced"
    assert changing.ranges == [None, None]  # the retry was no resume
    assert sum("starting over at byte 0" in line for line in lines) == 1, lines
    assert not list(tmp_path.glob("*.part*"))


def test_without_a_validator_a_known_md5_still_allows_a_resume(tmp_path):
    """With FigShare's md5 the whole file is checked at the end: resuming is safe, and a splice is
    caught there and downloaded again."""
    import hashlib

    first, then = PAYLOAD, bytes(reversed(PAYLOAD))
    changing = Changing(first, then)
    downloader = FigshareClient("http://unused", retries=3, timeout_s=1, backoff_s=0.01, log=lambda line: None)
    try:
        downloader.download(changing.url, tmp_path / "sospine_bbox.csv", len(then), hashlib.md5(then).hexdigest())
    finally:
        changing.close()
    assert (tmp_path / "sospine_bbox.csv").read_bytes() == then
    assert changing.ranges[0] is None and changing.ranges[1].startswith("bytes=") and changing.ranges[2] is None


def test_a_resume_whose_answer_drops_the_validator_starts_over(tmp_path):
    """The part came with an ETag, sent back as If-Range; a 206 without it does not show the server
    compared it (this one ignores If-Range): without a md5 those bytes are not appended."""
    first, then = PAYLOAD, bytes(reversed(PAYLOAD))
    changing = Changing(first, then, full_headers={"ETag": '"a"'})
    downloader = FigshareClient("http://unused", retries=3, timeout_s=1, backoff_s=0.01, log=lambda line: None)
    try:
        downloader.download(changing.url, tmp_path / "sospine_bbox.csv", len(then), None)
    finally:
        changing.close()
    assert (tmp_path / "sospine_bbox.csv").read_bytes() == then, "spliced"
    assert changing.ranges[0] is None and changing.ranges[1].startswith("bytes=") and changing.ranges[2] is None
