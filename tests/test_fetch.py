"""The real downloader against a FigShare stand-in on 127.0.0.1 with injected faults."""

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sospine.cli import main
from sospine.fetch import FetchError, FigshareClient, fetch_records, read_manifest

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class StandIn:
    """Articles 1..; `faults[name]` is a list of faults consumed one per download request."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.articles: dict[int, list[str]] = {}
        self.md5_override: dict[str, str] = {}
        self.faults: dict[str, list[str]] = {}
        self.requests: list[tuple[str, str | None]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                stand_in.requests.append((self.path, self.headers.get("Range")))
                if self.path.startswith("/v2/articles/"):
                    return self.article(int(self.path.split("/")[3]))
                if self.path.startswith("/files/"):
                    return self.file(self.path.split("/")[2])
                self.send_error(404)

            def article(self, article_id):
                if article_id not in stand_in.articles:
                    return self.send_error(404)
                files = [
                    {
                        "name": n,
                        "size": len(stand_in.files[n]),
                        "download_url": f"http://127.0.0.1:{stand_in.port}/files/{n}",
                        "computed_md5": stand_in.md5_override.get(n, hashlib.md5(stand_in.files[n]).hexdigest()),
                    }
                    for n in stand_in.articles[article_id]
                ]
                body = json.dumps({"id": article_id, "version": 1, "files": files}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def file(self, name):
                data = stand_in.files[name]
                fault = stand_in.faults.get(name, []).pop(0) if stand_in.faults.get(name) else None
                if fault == "500":
                    return self.send_error(500)
                if fault == "stall":
                    time.sleep(3)
                    return
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if fault == "truncate":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def api(self):
        return f"http://127.0.0.1:{self.port}/v2"


@pytest.fixture
def server():
    stand_in = StandIn()
    stand_in.files = {"sospine_bbox.csv": PAYLOAD, "sospine_outcomes.csv": b"Trial ID\r\nS1A1"}
    stand_in.articles = {20171129: ["sospine_bbox.csv"], 20171132: ["sospine_outcomes.csv"]}
    stand_in.thread.start()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


RECORDS = {"bbox": "10.6084/m9.figshare.20171129", "outcomes": "10.6084/m9.figshare.20171132"}


def client(server, retries=3, timeout=1.0):
    return FigshareClient(server.api, retries=retries, timeout_s=timeout, backoff_s=0.01, progress=False)


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
            FigshareClient(server.api, retries=0, timeout_s=1, backoff_s=0.01, progress=False),
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
