"""What the leaderboard may trust: every detections file validated once, names that cannot collide,
configuration files read strictly, locks, content stamps, and weights that cannot run code."""

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from sospine import constants
from sospine.config import ConfigError, load_yaml, parse_yaml, profile_files
from sospine.data.synth import SynthSpec, plan, write_tables
from sospine.detectors.kinds import reference_problem, reserved_name_problems, resolve
from sospine.detectors.weights import torch_archive_problem, untrusted_problem
from sospine.provenance import locks
from sospine.provenance.inputs import ChecksumCache, stamp_inputs
from sospine.validation import check_detections, read_validated

HEADER = "trial_frame,frame,x1,y1,x2,y2,score,label"


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    folder = tmp_path_factory.mktemp("release")
    paths = write_tables(plan(SynthSpec(seed=4, trials=6, frames_per_trial=30, width=320, height=180)), folder)
    truth = pd.read_csv(paths[constants.BBOX_CSV])
    return paths, truth


def detections_file(tmp_path, rows, name="mine.csv", header=HEADER):
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + ("\n" if rows or header else ""))
    return path


# --- one validation path for every detections file ------------------------------------------------


def test_leading_spaces_are_stripped_so_every_row_counts(release, tmp_path):
    paths, truth = release
    lines = paths[constants.PAPER_DETECTIONS_CSV].read_text().splitlines()
    spaced = [lines[0], *[(" " + line if i % 3 == 0 else line) for i, line in enumerate(lines[1:])]]
    path = tmp_path / "spaced.csv"
    path.write_text("\n".join(spaced) + "\n")
    check = check_detections(path, truth)
    assert check.errors.empty and len(check.table) == len(lines) - 1
    original = check_detections(paths[constants.PAPER_DETECTIONS_CSV], truth).table
    pd.testing.assert_frame_equal(check.table.reset_index(drop=True), original.reset_index(drop=True))
    table = tmp_path / "validated.csv"
    check.table.to_csv(table, index=False)
    assert read_validated(table)["trial_frame"].str.startswith(" ").sum() == 0


@pytest.mark.parametrize(
    ("rows", "header", "where"),
    [
        (["S1A2_frame_00000001.jpg,1,nan,2,30,40,0.9,grasper"], HEADER, "mine.csv:2 [x1] number: nan"),
        (["S1A2_frame_00000001.jpg,1,inf,2,30,40,0.9,grasper"], HEADER, "mine.csv:2 [x1] finite_pixel"),
        (["S1A2_frame_00000001.jpg,1,1,2,1e300,40,0.9,grasper"], HEADER, "mine.csv:2 [x2] finite_pixel"),
        (["S1A2_frame_00000001.jpg,1,1,2,30,40,1.5,grasper"], HEADER, "mine.csv:2 [score] less_than_or_equal_to"),
        (["S1A2_frame_00000001.jpg,1,1,2,30,40,0.5,Grasper"], HEADER, "mine.csv:2 [label] isin"),
        (["S1A2_frame_00000001.jpg,1,1,2,30,40,0.5"], HEADER, "mine.csv:2 field_count"),
        (["S1A2_frame_00000001.jpg,1,1,2,30,40,0.5,grasper"], HEADER.replace("score", "conf"), "mine.csv:1 [score]"),
        ([], HEADER, "mine.csv has_rows: header only, no detections at all"),
        ([], "", "mine.csv not_empty"),
        (["S9A9_frame_00000001.jpg,1,1,2,30,40,0.5,grasper"], HEADER, "mine.csv:2 [trial_frame] trial_in_ground_truth"),
    ],
)
def test_a_bad_file_yields_no_table_and_one_line_naming_file_line_and_column(release, tmp_path, rows, header, where):
    _, truth = release
    check = check_detections(detections_file(tmp_path, rows, header=header), truth)
    assert check.table is None
    line = check.error_line("mine")
    assert where in line and "\n" not in line, line
    assert line.startswith("detections of 'mine' (")


def test_negative_coordinates_are_warnings_as_in_the_published_file(release, tmp_path):
    _, truth = release
    check = check_detections(detections_file(tmp_path, ["S1A2_frame_00000001.jpg,1,-5,2,30,40,0.5,grasper"]), truth)
    assert check.errors.empty and len(check.table) == 1
    assert set(check.report["check"]) == {"inside_frame"}


def test_frames_without_ground_truth_and_trials_outside_the_split_are_one_note_each(release, tmp_path):
    _, truth = release
    rows = [
        "S1A2_frame_00000001.jpg,1,1,2,30,40,0.5,grasper",
        "S1A2_frame_00009999.jpg,9999,1,2,30,40,0.5,grasper",  # no such frame in the ground truth
        "S1A3_frame_00000002.jpg,2,1,2,30,40,0.5,grasper",
        "S1A3_frame_00000003.jpg,3,1,2,30,40,0.5,needle",
    ]
    check = check_detections(detections_file(tmp_path, rows), truth, test_trials=["S1A2"])
    assert len(check.notes) == 2, check.notes
    assert check.notes[0].startswith("1 detections on 1 frames the ground truth does not have")
    assert check.notes[1].startswith("2 detections in 1 trials outside the test split (S1A3 2)")


def test_a_trained_detector_may_find_nothing_a_given_file_may_not(release, tmp_path):
    _, truth = release
    path = detections_file(tmp_path, [])
    assert check_detections(path, truth).table is None
    allowed = check_detections(path, truth, allow_empty=True)
    assert allowed.table is not None and allowed.table.empty and "every AP is 0" in allowed.notes[0]


# --- names and configuration files ----------------------------------------------------------------


def test_the_baselines_names_are_reserved():
    train = {"name": "yolo", "model": "yolo11n.yaml"}
    for name in ("yolov4_paper", "synthetic_reference"):
        problems = reserved_name_problems({"train": train, "detectors": {name: {"detections": "x.csv"}}}, "mirror")
        assert len(problems) == 1 and f"'{name}' is the baseline's name" in problems[0]
    assert reserved_name_problems({"train": {**train, "name": "yolov4_paper"}}, "synthetic")
    assert not reserved_name_problems({"train": train, "detectors": {"mine": {}}}, "mirror")
    # the baseline joins under its name, never replaced by a detector's entry
    found = resolve({"train": train, "detectors": {"mine": {"detections": "m.csv"}}}, "paper.csv", "synthetic")
    assert list(found) == ["mine", "synthetic_reference"]


@pytest.mark.parametrize(
    ("detectors", "expected"),
    [
        ({"orc": {"command": "x {output}"}, "orc-S1": {"detections": "f.csv"}}, ["'orc-S1' ends like a leave-one-"]),
        ({"orc": {}, "orc-S12": {}}, ["'orc-S12' ends like a leave-one-surgeon-out fold's name (<detector>-S12)"]),
        ({"orc": {}, "orc-loso": {}}, ["'orc-loso' ends like a leave-one-surgeon-out summary's name"]),
        ({"a" * 300: {}}, ["' (300 characters) is too long: at most 64 characters (it names files)"]),
        ({"Yolo": {}, "yolo": {}}, ["'yolo' and 'Yolo' differ only in case"]),
        ({"orc": {}, "orc-S1x": {}, "S1": {}, "orc_S1": {}}, []),
    ],
)
def test_names_that_could_share_another_detectors_or_a_folds_files_are_refused(detectors, expected):
    """One line each, whatever the split (switching to leave-one-surgeon-out later cannot swap results)."""
    from sospine.detectors.kinds import name_problems

    problems = name_problems({"train": {"name": "yolo"}, "detectors": detectors})
    assert len(problems) == len(expected), problems
    for problem, wanted in zip(problems, expected, strict=True):
        assert problem.startswith("config key 'detectors': ") and wanted in problem


def test_a_colliding_name_stops_the_workflow_before_any_job(workdir):
    """Under leave-one-surgeon-out, a command detector `orc` and a file detector `orc-S1`: refused at
    start with one line (the file would otherwise never be read and orc's fold S1 ranked in its place)."""
    from .conftest import run, tiny_config

    mine = workdir / "orc-S1.csv"
    mine.write_text(HEADER + "\n")
    detectors = {"orc": {"command": "python x.py --out {output}"}, "orc-S1": {"detections": str(mine)}}
    config = tiny_config(workdir, "loso", detectors=detectors)
    result = run(workdir, "-n", "--configfile", config, check=False)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "'orc-S1' ends like a leave-one-surgeon-out fold's name" in errors[0], result.stderr
    assert "Traceback" not in result.stderr and not (workdir / "results").exists()


def test_an_unknown_reference_is_named():
    assert reference_problem("auto", ["a"]) is None
    assert "'mne' is not a detector of this run; known: yolo, mine" in reference_problem("mne", ["yolo", "mine"])


def test_a_key_given_twice_is_refused_with_its_line(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("detectors:\n  mine: {detections: a.csv}\n  yolo: {}\n  mine: {detections: b.csv}\n")
    with pytest.raises(ConfigError, match=r"duplicate key 'mine' at line 4 of .*my.yaml \(first given at line 2\)"):
        load_yaml(path)
    with pytest.raises(ConfigError, match="duplicate key 'epochs'"):
        parse_yaml("{epochs: 6, epochs: 7}")
    assert parse_yaml("a: {b: 1}\nc: [1, 2]\n") == {"a": {"b": 1}, "c": [1, 2]}


def test_the_profiles_of_a_command_line_are_found_as_snakemake_finds_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    site = tmp_path / "site"
    site.mkdir()
    (site / "config.yaml").write_text("jobs: 4\n")
    workflow = tmp_path / "workflow"
    (workflow / "profiles" / "default").mkdir(parents=True)
    (workflow / "profiles" / "default" / "config.yaml").write_text("rerun-incomplete: true\n")
    found = profile_files(["--profile", str(site), "--cores", "2"], workflow)
    assert found == [site / "config.yaml", workflow / "profiles" / "default" / "config.yaml"]
    assert profile_files(["--profile", str(site), "--workflow-profile", "none"], workflow) == [site / "config.yaml"]


# --- locks ----------------------------------------------------------------------------------------


def test_a_live_holder_is_named_and_a_dead_ones_lock_is_taken_over(tmp_path):
    lock = tmp_path / "out" / ".sospine.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from sospine import locks; from pathlib import Path; "
            "locks.acquire(Path(sys.argv[1]), 'x', describe='run of the workflow in /elsewhere'); "
            "print('held', flush=True); time.sleep(60)",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(
            locks.LockedError, match=f"in use by another run of the workflow in /elsewhere \\(pid {holder.pid}"
        ):
            locks.acquire(lock, f"output folder {lock.parent}")
    finally:
        holder.kill()
        holder.wait()
    assert lock.exists()  # a killed holder leaves its lock ...
    locks.acquire(lock, "x")  # ... which the next run takes over
    assert json.loads(lock.read_text())["pid"] == os.getpid()
    locks.release(lock)
    assert not lock.exists()


# --- content under an old mtime -------------------------------------------------------------------


def test_new_content_under_an_old_mtime_rewrites_the_stamp(tmp_path):
    source = tmp_path / "mirror" / "sospine_bbox.csv"
    source.parent.mkdir()
    source.write_text("a\n")
    stamps_dir = tmp_path / "inputs"
    cache = ChecksumCache(stamps_dir / "checksums.json")
    stamp = stamp_inputs({"bbox": source}, stamps_dir, cache)[str(source)]
    first = os.stat(stamp).st_mtime_ns
    time.sleep(0.02)
    stamp_inputs({"bbox": source}, stamps_dir, ChecksumCache(stamps_dir / "checksums.json"))
    assert os.stat(stamp).st_mtime_ns == first  # same content: the stamp is left alone
    old = source.stat().st_mtime_ns
    other = tmp_path / "other.csv"
    other.write_text("b\n")  # same size, other content
    subprocess.run(["cp", "-p", str(other), str(source)], check=True)
    os.utime(source, ns=(old - 10**9, old - 10**9))  # and an older mtime
    stamp_inputs({"bbox": source}, stamps_dir, ChecksumCache(stamps_dir / "checksums.json"))
    assert os.stat(stamp).st_mtime_ns > first
    assert json.loads(Path(stamp).read_text())["md5"] == hashlib.md5(b"b\n").hexdigest()


def test_a_moved_folder_keeps_its_stamps_and_only_new_content_rewrites_one(tmp_path):
    """A project (checkout and output folder) copied elsewhere: each input's absolute path is new, but
    the stamp of a file of the same name and content is kept, unchanged, so nothing made from it
    looks out of date; jobs that only name the stamps find the same ones."""
    import shutil

    before = tmp_path / "before"
    for name, text in (("model.yaml", "nc: 5\n"), ("copy/model.yaml", "nc: 5\n"), ("dets.csv", "x\n")):
        (before / name).parent.mkdir(parents=True, exist_ok=True)
        (before / name).write_text(text)
    inputs = ("model.yaml", "copy/model.yaml", "dets.csv")

    def stamps(root, write=True):
        files = {name: root / name for name in inputs}
        return stamp_inputs(files, root / "inputs", ChecksumCache(root / "inputs" / "checksums.json"), write=write)

    first = stamps(before)
    assert len(set(first.values())) == 3  # two files of one name and content keep a stamp each
    times = {Path(p).name: os.stat(p).st_mtime_ns for p in first.values()}
    time.sleep(0.02)
    after = tmp_path / "after"
    shutil.copytree(before, after, copy_function=shutil.copy2)
    moved = stamps(after)
    assert [Path(p).name for p in moved.values()] == [Path(p).name for p in first.values()]  # adopted, each its own
    assert {Path(p).name: os.stat(p).st_mtime_ns for p in moved.values()} == times  # none rewritten
    assert stamps(after, write=False) == moved  # a job on a cluster node names the same ones
    (after / "dets.csv").write_text("y\n")
    changed = stamps(after)[str(after / "dets.csv")]
    assert json.loads(Path(changed).read_text())["md5"] == hashlib.md5(b"y\n").hexdigest()


# --- weights --------------------------------------------------------------------------------------


def test_weights_without_a_known_checksum_are_refused_before_any_download():
    problem = untrusted_problem("my-yolo.pt", None, "detectors.mine.model")
    assert "a Python pickle that can run code" in problem and "sha256" in problem
    assert untrusted_problem("my-yolo.pt", "ab" * 32, "train.model") is None
    assert untrusted_problem("yolo11s.pt", None, "train.model") is None  # a published checksum is shipped
    assert untrusted_problem("resources/models/yolo11t-sospine.yaml", None, "train.model") is None


def test_an_html_page_or_a_cut_file_is_no_torch_archive(tmp_path, tiny_pt):
    page = tmp_path / "page.pt"
    page.write_text("<!DOCTYPE html><html><body>Rate limit exceeded</body></html>")
    assert torch_archive_problem(page) == "an HTML page, not torch weights"
    cut = tmp_path / "cut.pt"
    cut.write_bytes(tiny_pt[: len(tiny_pt) // 2])
    assert "cut short or corrupt" in torch_archive_problem(cut)
    whole = tmp_path / "whole.pt"
    whole.write_bytes(tiny_pt)
    assert torch_archive_problem(whole) is None


CRAFTED = """
import os, sys, torch
class Payload:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[2],))
torch.save({"model": Payload(), "epoch": 1}, sys.argv[1])
"""


def test_a_crafted_pickle_is_refused_and_never_runs(tmp_path):
    """Weights whose checksum the user gave (so they pass the sha256 gate) but whose pickle calls
    os.system: refused by the restricted unpickler, and the command never ran."""
    from sospine.detectors.train import TrainingError, checkpoint_problem, verify_weights

    crafted, marker = tmp_path / "crafted.pt", tmp_path / "it-ran"
    subprocess.run([sys.executable, "-c", CRAFTED, str(crafted), str(marker)], check=True)
    problem = checkpoint_problem(crafted)
    assert problem == "a pickle that asks for posix.system, not a model class: it could run code"
    digest = hashlib.sha256(crafted.read_bytes()).hexdigest()
    with pytest.raises(TrainingError, match="refused"):
        verify_weights(str(crafted), digest)
    assert not marker.exists()


def test_real_weights_pass_the_restricted_unpickler(tmp_path, tiny_pt):
    from sospine.detectors.train import checkpoint_problem

    path = tmp_path / "tiny.pt"
    path.write_bytes(tiny_pt)
    assert checkpoint_problem(path) is None
