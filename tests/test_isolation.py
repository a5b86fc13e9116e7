"""Tests write only inside their temporary folders: a run of the tests that load ultralytics and
matplotlib in the test process (and start trainings and Snakemake) leaves the home folder untouched."""

import os
import subprocess
import sys

from .conftest import ROOT


def test_a_test_run_leaves_the_home_folder_untouched(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "keep.txt").write_text("the user's own file\n")
    before = sorted(p.relative_to(home) for p in home.rglob("*"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "YOLO_", "MPLCONFIGDIR"))}
    env["HOME"] = str(home)
    selected = [
        "tests/test_train.py::test_two_gpus_train_together_and_workers_follow_threads",
        "tests/test_train.py::test_resume_forgets_epochs_whose_checkpoint_was_not_written",
        "tests/test_scoring.py::test_published_baseline_reproduces_the_paper",
        "tests/test_workflow.py::test_nested_override_from_the_command_line",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "t"), *selected],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode in (0, 5), result.stdout[-3000:] + result.stderr[-3000:]
    after = sorted(p.relative_to(home) for p in home.rglob("*"))
    assert after == before, f"the tests wrote into the home folder: {sorted(set(after) - set(before))}"
    assert (home / "keep.txt").read_text() == "the user's own file\n"
