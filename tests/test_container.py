"""The container image (`make image`, tag sospine:latest) runs the workflow on a checkout mounted at
its working directory, as AWS Batch's --container-image does. `.ci/run` builds the image first; on a
machine without podman or the image the test is skipped, in CI it fails."""

from __future__ import annotations

import os
import shutil
import subprocess

import pandas as pd
import pytest

from .conftest import ROOT, tiny_config

IMAGE = "sospine:latest"
# podman as this kernel needs it: runc (crun fails on hybrid cgroups) and explicit rlimits
PODMAN_RUN = [
    "podman",
    "run",
    "--rm",
    "--runtime",
    "runc",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=4096:4096",
]


# sha256 over the package's Python sources (relative path and content), run here and in the image
SOURCE_DIGEST = """
import hashlib, pathlib
def digest(root=None):
    import sospine
    root = pathlib.Path(root or pathlib.Path(sospine.__file__).parent)
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\\0" + path.read_bytes())
    return h.hexdigest()
"""


def image_available() -> bool:
    if shutil.which("podman") is None:
        return False
    return subprocess.run(["podman", "image", "exists", IMAGE], capture_output=True, timeout=60).returncode == 0


@pytest.fixture
def image():
    if not image_available():
        if os.environ.get("CI"):
            pytest.fail(f"{IMAGE} is missing: `.ci/run` builds it with `make image` before the tests")
        pytest.skip(f"podman or the image {IMAGE} is not here (build it with `make image`)")
    return IMAGE


@pytest.mark.slow
def test_the_image_runs_the_workflow_up_to_scoring(image, workdir):
    config = tiny_config(workdir)
    mount = ["-v", f"{workdir}:/work", "-w", "/work"]
    where = subprocess.run(
        [*PODMAN_RUN, image, "python", "-c", f"{SOURCE_DIGEST}\nimport sospine, sys; print(sys.prefix, digest())"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert where.returncode == 0 and where.stdout.startswith("/opt/sospine"), where.stderr[-2000:]
    # the image holds this checkout's package, not an older build's (a cached layer once kept one)
    namespace: dict = {"__name__": "digest"}
    exec(SOURCE_DIGEST, namespace)
    assert where.stdout.split()[1] == namespace["digest"](ROOT / "src" / "sospine"), "the image is older: make image"
    target = "results/leaderboard/leaderboard.csv"
    result = subprocess.run(
        [
            *PODMAN_RUN,
            *mount,
            image,
            "snakemake",
            target,  # before --configfile, which takes every name after it
            "--cores",
            "2",
            "--configfile",
            f"config/{os.path.basename(config)}",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-5000:]
    board = pd.read_csv(workdir / target)
    assert set(board["detector"]) == {"yolo", "synthetic_reference"}
    assert (workdir / "results" / "train" / "yolo" / "best.pt").exists()
