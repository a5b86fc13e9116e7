"""Every stop recovers by itself: a run interrupted (Ctrl-C's SIGINT, or SIGKILL to its process group)
in training, prediction, export, scoring or the leaderboard is finished by the same command (after
`snakemake --unlock` where Snakemake's own lock outlived a kill), with nothing stale left on disk or
reported as current. Also: one output folder for one run at a time, external files whose content
changes under an old mtime, and configuration mistakes that stop before any job."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from sospine.data.files import md5sum

from .conftest import SNAKEMAKE, copy_workflow, run, tiny_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The tiny case, run once to the end (3 epochs, so that a training can be stopped halfway)."""
    workdir = copy_workflow(tmp_path_factory.mktemp("recovery"))
    config = tiny_config(workdir, train={"epochs": 3}, scoring={"bootstrap": 0})
    run(workdir, "--configfile", config)
    return workdir, config


def start_snakemake(workdir, *args):
    """`snakemake ARGS` in its own process group (so a signal reaches every job), console on stdout."""
    env = dict(os.environ, PYTHONPATH=str(workdir / "src"))
    return subprocess.Popen(
        [*SNAKEMAKE, *args],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def stop_at(workdir, args, rule, sig, after=None):
    """Start `snakemake ARGS`, send `sig` to its process group once `rule`'s job has started (and, if
    given, once a console line matches `after`); return the whole console output."""
    proc = start_snakemake(workdir, "--cores", "2", *args)
    seen, started, stopped = [], False, False
    deadline = time.monotonic() + 600
    for line in proc.stdout:
        seen.append(line)
        started = started or re.match(rf"^(local)?rule (?:{rule}):$", line.strip()) is not None
        if started and (after is None or re.search(after, line)):
            if after is None:
                time.sleep(0.5)  # inside the job, not before it
            os.killpg(proc.pid, sig)
            stopped = True
            break
        assert time.monotonic() < deadline, "".join(seen[-50:])
    rest, _ = proc.communicate(timeout=300)
    output = "".join(seen) + (rest or "")
    assert started and stopped, f"rule {rule} never started (or {after!r} never came):\n{output[-3000:]}"
    return output


def recover(workdir, args, sig):
    """What a user does next: after a kill, unlock; then the same command."""
    if sig == signal.SIGKILL:
        run(workdir, *args, "--unlock")
    return run(workdir, *args)


def assert_consistent(workdir, args):
    """Nothing left to do, and provenance describes exactly what is on disk."""
    dry = run(workdir, *args, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:]
    provenance = json.loads((workdir / "results" / "provenance.json").read_text())
    for path, entry in provenance["artifacts"].items():
        on_disk = Path(path) if path.startswith("/") else workdir / path
        if not on_disk.exists():
            assert entry["md5"] is None or entry.get("source"), f"{path} is recorded but gone"
            continue
        assert entry["md5"] == md5sum(on_disk), f"provenance.json has an old md5 for {path}"
    for name in ("detections/yolo.csv", "predictions/yolo.csv", "train/yolo/best.pt", "leaderboard/leaderboard.csv"):
        assert (workdir / "results" / name).exists(), name
    incomplete = workdir / ".snakemake" / "incomplete"
    assert not incomplete.exists() or not list(incomplete.iterdir())
    assert not (workdir / "results" / ".sospine.lock").exists()


# the rules a chain stops in, in the order a run reaches them (and, for the training, the console
# line after which it is stopped: halfway, with a checkpoint on disk)
STOPS = [
    ("export_yolo", None),
    ("train", r"train yolo: epoch 1/3"),
    ("predict", None),
    ("score", None),
    # the leaderboard needs no score, so it may have run beside the scores already: the last stop is
    # in whichever of the late jobs is still to do (provenance always is)
    ("leaderboard|presence_ap|provenance", None),
]
# one chain per signal order (the signals alternate along it): each stop lands in the job the
# previous recovery left to do; a config change makes the export and everything after it rerun
CHAINS = {
    "sigint-first": ("export={max_side: 80}", signal.SIGINT),
    "sigkill-first": ("export={max_side: 64}", signal.SIGKILL),
}


def chain_stops(first: signal.Signals) -> list[tuple[str, signal.Signals, str | None]]:
    other = signal.SIGKILL if first == signal.SIGINT else signal.SIGINT
    return [(rule, first if i % 2 == 0 else other, after) for i, (rule, after) in enumerate(STOPS)]


@pytest.mark.parametrize("chain", list(CHAINS))
def test_every_interrupted_job_is_redone_by_the_same_command(finished, chain):
    workdir, config = finished
    change, first = CHAINS[chain]
    stops = chain_stops(first)
    args = ["--configfile", config, "--config", change]
    for index, (rule, sig, after) in enumerate(stops):
        if index and stops[index - 1][1] == signal.SIGKILL:  # the next run recovers the previous stop
            run(workdir, *args, "--unlock")
        output = stop_at(workdir, args, rule, sig, after)
        before = re.split(rf"(?m)^(?:local)?rule (?:{rule}):$", output)[0]
        assert "Traceback" not in before, output[-3000:]
    recovered = recover(workdir, args, stops[-1][1])
    assert "Traceback" not in recovered.stderr
    assert_consistent(workdir, args)
    summary = json.loads((workdir / "results" / "scores" / "yolo" / "summary.json").read_text())
    assert summary["test_trials"] == ["Clip0", "S1A2"]


def test_a_second_run_on_the_same_output_folder_is_refused_naming_the_holder(tmp_path):
    workdir = copy_workflow(tmp_path / "one")
    other = copy_workflow(tmp_path / "other")  # another checkout
    shared = str(tmp_path / "shared-results")
    first_config = tiny_config(workdir, "tiny", output_dir=shared, train={"epochs": 3}, scoring={"bootstrap": 0})
    second_config = tiny_config(other, "tiny", output_dir=shared, train={"epochs": 3}, scoring={"bootstrap": 0})
    holder = start_snakemake(workdir, "--cores", "1", "--configfile", first_config)
    try:
        for line in holder.stdout:
            if "rule synthesize:" in line:
                break
        refused = run(other, "--configfile", second_config, check=False)
        assert refused.returncode == 1
        lines = [line for line in refused.stderr.splitlines() if line.startswith("error: ")]
        assert (
            len(lines) == 1
            and f"output folder {shared} is in use by another run of the workflow in {workdir}" in lines[0]
        )
        assert f"(pid {holder.pid} on " in lines[0]
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    # the holder is gone: its lock is taken over (after Snakemake's own unlock in its checkout)
    run(other, "--configfile", second_config)
    assert (tmp_path / "shared-results" / "leaderboard" / "leaderboard.csv").exists()
    assert not (tmp_path / "shared-results" / ".sospine.lock").exists()


def test_content_replaced_under_an_old_mtime_replans_what_reads_it(tmp_path):
    """A mirror file and a detections file replaced by `cp -p` with other content and an older mtime:
    the jobs that read them run again and provenance records the new md5."""
    from sospine.data.synth import SynthSpec, generate

    mirror = tmp_path / "mirror"
    generate(SynthSpec(seed=2, trials=6, frames_per_trial=12, width=192, height=108), mirror)
    (mirror / "frames.zip").unlink()  # no training: the CSVs are what this is about
    (mirror / "phases.csv").unlink()
    mine = tmp_path / "mine.csv"
    shutil.copy2(mirror / "sospine_detections_3.6_0.05.csv", mine)
    workdir = copy_workflow(tmp_path / "w")
    config = tiny_config(
        workdir,
        data={"source": "mirror", "mirror_dir": str(mirror)},
        detectors={"mine": {"detections": str(mine)}},
        scoring={"bootstrap": 0},
    )
    run(workdir, "--configfile", config)
    assert "Nothing to be done" in run(workdir, "--configfile", config, "-n").stdout

    replacement = tmp_path / "replacement.csv"
    table = pd.read_csv(mine)
    table.iloc[::2].to_csv(replacement, index=False)  # half the detections
    old = mine.stat().st_mtime_ns
    subprocess.run(["cp", "-p", str(replacement), str(mine)], check=True)
    os.utime(mine, ns=(old - 10**10, old - 10**10))
    planned = run(workdir, "--configfile", config, "-n").stdout
    assert re.search(r"^validate_detections\s+1$", planned, re.M) and re.search(r"^score\s+1$", planned, re.M)
    run(workdir, "--configfile", config)
    provenance = json.loads((workdir / "results" / "provenance.json").read_text())
    assert provenance["artifacts"][str(mine)]["md5"] == md5sum(mine)
    validated = pd.read_csv(workdir / "results" / "detections" / "mine.csv")
    assert len(validated) == len(table.iloc[::2])

    bbox = mirror / "sospine_bbox.csv"
    lines = bbox.read_bytes().split(b"\r\n")
    old = bbox.stat().st_mtime_ns
    bbox.chmod(0o644)
    bbox.write_bytes(b"\r\n".join(lines[:-3]))  # three frames fewer
    os.utime(bbox, ns=(old, old))  # the mtime it had
    planned = run(workdir, "--configfile", config, "-n").stdout
    assert re.search(r"^mirror\s+1$", planned, re.M) and re.search(r"^boxes\s+1$", planned, re.M), planned[-2000:]


def test_configuration_mistakes_stop_before_any_job_with_one_line(tmp_path):
    workdir = copy_workflow(tmp_path / "w")
    base = tiny_config(workdir)
    twice = workdir / "config" / "twice.yaml"
    twice.write_text(Path(base).read_text() + "detectors:\n  mine: {detections: a.csv}\n  mine: {detections: b.csv}\n")
    profile = tmp_path / "site"
    profile.mkdir()
    (profile / "config.yaml").write_text("cores: 2\njobs: 4\ncores: 1\n")
    cases = [
        (["--configfile", str(twice)], "duplicate key 'mine'"),
        (["--configfile", base, "--profile", str(profile)], "duplicate key 'cores' at line 3"),
        (["--configfile", base, "--config", "train={epochs: 2, epochs: 3}"], "duplicate key 'epochs'"),
        (["--configfile", base, "--config", "detectors={yolov4_paper: {}}"], "'yolov4_paper' is the baseline's name"),
        (["--configfile", base, "--config", "leaderboard={reference: yoloo}"], "'yoloo' is not a detector"),
        (
            ["--configfile", base, "--config", "train={model: my-weights.pt}"],
            "my-weights.pt is a .pt file, a Python pickle that can run code",
        ),
    ]
    for args, message in cases:
        result = run(workdir, *args, "-n", check=False)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert result.returncode == 1 and len(errors) == 1 and message in errors[0], (args, result.stderr[-2000:])
        assert "Traceback" not in result.stderr and "Building DAG" not in result.stdout + result.stderr
    assert not (workdir / "results" / "validation").exists()


def test_a_bad_detections_file_stops_the_run_and_nothing_is_ranked_from_it(tmp_path):
    from sospine.data.synth import SynthSpec, generate

    release = generate(SynthSpec(seed=1, trials=6, frames_per_trial=16, width=192, height=108), tmp_path / "r")
    lines = release["sospine_detections_3.6_0.05.csv"].read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",Grasper"  # line 4: a label that is no class
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    workdir = copy_workflow(tmp_path / "w")
    config = tiny_config(workdir, detectors={"bad": {"detections": str(bad)}}, scoring={"bootstrap": 0})
    result = run(workdir, "--configfile", config, "--keep-going", check=False)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert any("detections of 'bad'" in e and "bad.csv:4 [label] isin: Grasper" in e for e in errors), errors
    results = workdir / "results"
    assert not (results / "detections" / "bad.csv").exists() and not (results / "scores" / "bad").exists()
    assert not (results / "leaderboard" / "leaderboard.csv").exists()
    again = run(workdir, "--configfile", config, check=False)  # the next run fails the same way
    assert again.returncode != 0 and "bad.csv:4 [label] isin: Grasper" in again.stderr
