from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

# A test writes only inside temporary folders: the home folder and its config and cache folders are
# redirected before anything (ultralytics' settings.json, matplotlib's font cache, Snakemake's source
# cache) can write there. tests/test_isolation.py checks that a run of tests leaves a home untouched.
USER_HOME = os.environ.get("HOME", "")
TEST_HOME = tempfile.mkdtemp(prefix="sospine-tests-home-")
os.environ.update(
    HOME=TEST_HOME,
    XDG_CONFIG_HOME=os.path.join(TEST_HOME, ".config"),
    XDG_CACHE_HOME=os.path.join(TEST_HOME, ".cache"),
    XDG_DATA_HOME=os.path.join(TEST_HOME, ".local", "share"),
    MPLCONFIGDIR=os.path.join(TEST_HOME, ".config", "matplotlib"),
    YOLO_CONFIG_DIR=os.path.join(TEST_HOME, ".config", "ultralytics-tests"),
)
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402

from sospine.data.synth import SynthSpec, generate  # noqa: E402 - after the home folder is redirected

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "sospine"
PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture(scope="session")
def real_dir() -> Path:
    if not (SHARED / "sospine_bbox.csv").exists():
        pytest.skip(f"real SOSpine files not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory) -> dict[str, Path]:
    """A small synthetic release shared by the tests that only read it."""
    return generate(
        SynthSpec(seed=3, trials=5, frames_per_trial=30, width=320, height=180), tmp_path_factory.mktemp("synth")
    )


SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# the named test configurations in .test/<case>/config.yaml, runnable by hand too
TEST_CONFIGS = ROOT / ".test"


def copy_workflow(dest: Path) -> Path:
    """The workflow's files in a fresh folder, so a test's results/ never touch the checkout."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "config", "profiles", "src", "resources"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, dest / name)
    return dest


class StandIn:
    """Articles 1..; `faults[name]` is a list of faults consumed one per download request."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.articles: dict[int, list[str]] = {}
        self.md5_override: dict[str, str] = {}
        self.faults: dict[str, list[str]] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.article_extra: dict[int, dict] = {}  # e.g. {"download_disabled": True}
        self.file_extra: dict[str, dict] = {}  # e.g. {"is_link_only": True}
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
                        "supplied_md5": "",
                        **stand_in.file_extra.get(n, {}),
                    }
                    for n in stand_in.articles[article_id]
                ]
                document = {
                    "id": article_id,
                    "version": 1,
                    "files": files,
                    **stand_in.article_extra.get(article_id, {}),
                }
                body = json.dumps(document).encode()
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
                if fault == "429":
                    self.send_response(429)
                    self.send_header("Retry-After", "1")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if fault and fault.startswith("redirect:"):  # e.g. a download URL that now points elsewhere
                    self.send_response(302)
                    self.send_header("Location", f"/files/{fault.split(':', 1)[1]}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                etag = f'"{hashlib.md5(data).hexdigest()}"'
                ranged = self.headers.get("Range") and self.headers.get("If-Range") in (None, etag)
                if fault == "stall":
                    time.sleep(3)
                    return
                start = 0
                if ranged:  # a changed file (If-Range no longer matches) is sent whole, as RFC 9110 says
                    start = int(self.headers["Range"].split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("ETag", etag)
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

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def downloads(self, name: str) -> int:
        """How many times a file was requested (articles are not counted)."""
        return sum(path == f"/files/{name}" for path, _ in self.requests)


@pytest.fixture
def server():
    stand_in = StandIn()
    stand_in.files = {"sospine_bbox.csv": PAYLOAD, "sospine_outcomes.csv": b"Trial ID\r\nS1A1"}
    stand_in.articles = {20171129: ["sospine_bbox.csv"], 20171132: ["sospine_outcomes.csv"]}
    stand_in.thread.start()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


@pytest.fixture
def figshare():
    """A FigShare API v2 stand-in on 127.0.0.1, started by the test and stopped after it."""
    stand_in = StandIn().start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def workdir(tmp_path):
    """A fresh copy of the workflow to run Snakemake in."""
    return copy_workflow(tmp_path)


def run(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`snakemake --cores 2 ARGS` in `workdir`, with the copy's own library on the path."""
    env = dict(os.environ, PYTHONPATH=str(workdir / "src"))
    result = subprocess.run(
        [*SNAKEMAKE, "--cores", "2", *args], cwd=workdir, capture_output=True, text=True, env=env, timeout=1200
    )
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


def tiny_config(workdir: Path, case: str = "tiny", **overrides) -> str:
    """A test case's configuration (.test/<case>/config.yaml) with `overrides` merged in, written
    into `workdir`. The tests' results go to the default output folder, results/."""
    from sospine.config import deep_merge, load_yaml

    settings = deep_merge(load_yaml(TEST_CONFIGS / case / "config.yaml"), {"output_dir": "results"})
    path = workdir / "config" / f"{case}.yaml"
    path.write_text(yaml.safe_dump(deep_merge(settings, overrides)))
    return str(path)


@pytest.fixture(scope="session")
def tiny_pt(tmp_path_factory) -> bytes:
    """A small .pt as ultralytics writes it, from the tiny model yaml (no network)."""
    folder = tmp_path_factory.mktemp("pt")
    code = (
        f"from sospine.detectors.train import offline_ultralytics; offline_ultralytics(r'{folder}/settings'); "
        f"from ultralytics import YOLO; YOLO('yolo11n.yaml').save(r'{folder}/tiny.pt')"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
    return (folder / "tiny.pt").read_bytes()


@pytest.fixture(scope="session")
def tiny_rtdetr_pt(tmp_path_factory) -> bytes:
    """A small RT-DETR .pt as ultralytics writes it, from the tiny RT-DETR yaml (no network)."""
    folder = tmp_path_factory.mktemp("rtdetr-pt")
    code = (
        f"from sospine.detectors.train import offline_ultralytics; offline_ultralytics(r'{folder}/settings'); "
        "from ultralytics import RTDETR; "
        f"RTDETR(r'{ROOT}/resources/models/rtdetr-sospine.yaml').save(r'{folder}/rt.pt')"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
    return (folder / "rt.pt").read_bytes()


# tests/test_slurm.py can start a one-node Slurm here (root, Debian's slurm and munge packages)
SLURM_CAN_RUN = os.geteuid() == 0 and all(
    shutil.which(d) or Path(f"/usr/sbin/{d}").exists() for d in ("slurmctld", "slurmd", "munged", "sinfo", "sbatch")
)


def assert_leave_one_surgeon_out(results: Path) -> None:
    """What the tiny leave-one-surgeon-out case must produce: every fold trained, predicted on its
    own surgeon's trials and scored, the folds summarised, the leaderboard on every tested trial."""
    import pandas as pd

    trials = pd.read_csv(results / "split" / "trials.csv", dtype=str)
    assert set(trials.loc[trials["trial"].str.startswith("Clip"), "split"]) == {"train"}
    assert set(trials.loc[trials["trial"].str.startswith("S"), "split"]) == {"1", "2", "3"}
    folds = pd.read_csv(results / "scores" / "yolo-loso" / "folds.csv")
    assert folds["fold"].tolist() == ["S1", "S2", "S3", "mean", "std"]
    for fold, surgeon_trials in (("S1", {"S1A2", "S1A3"}), ("S3", {"S3A1", "S3A2"})):
        summary = json.loads((results / "scores" / f"yolo-{fold}" / "summary.json").read_text())
        assert set(summary["test_trials"]) == surgeon_trials
        detections = pd.read_csv(results / "detections" / f"yolo-{fold}.csv")
        assert set(detections["trial_frame"].str.split("_frame_").str[0]) <= surgeon_trials
    board = pd.read_csv(results / "leaderboard" / "leaderboard.csv")
    assert set(board["test_trials"]) == {"S1A2 S1A3 S2A2 S2A3 S3A1 S3A2"}  # every fold's test trials, pooled
    # the command detector (torchvision's Faster R-CNN) ran once per fold too, on that fold's images
    assert set(board["detector"]) == {"yolo", "frcnn"}
    assert board["out_of_fold"].all()  # each fold's model never saw that fold's surgeon: claims stand
    for fold in ("S1", "S2", "S3"):
        assert (results / "folds" / fold / "commands" / "frcnn" / "cost.json").exists()
        predictions = pd.read_csv(results / "predictions" / f"frcnn-{fold}.csv")
        assert set(predictions["trial_frame"].str.split("_frame_").str[0]) <= set(
            trials.loc[trials["split"] == fold[1:], "trial"]
        )
    assert pd.read_csv(results / "scores" / "frcnn-loso" / "folds.csv")["fold"].tolist()[:3] == ["S1", "S2", "S3"]


def pytest_sessionfinish(session, exitstatus):  # noqa: ARG001 - pytest's hook signature
    shutil.rmtree(TEST_HOME, ignore_errors=True)
