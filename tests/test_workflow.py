"""Real Snakemake runs of the workflow in a temporary copy."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sospine.data.synth import SynthSpec, generate
from sospine.provenance import records

from .conftest import ROOT, SHARED, SLURM_CAN_RUN, StandIn, assert_leave_one_surgeon_out, run, tiny_config

FRCNN_COMMAND = (
    "python resources/detectors/fasterrcnn.py --coco {coco} --images {images} --work-dir {work_dir} "
    "--device {device} --threads {threads} --output {output} --epochs 1"
)


def test_lint_is_clean(workdir):
    result = run(workdir, "--lint", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "override, message",
    [
        (["scoring={iou_treshold: 0.5}"], "unknown config key 'iou_treshold' under 'scoring'"),
        (["data={source: ftp}"], "data.source"),
        (["data={source: mirror, mirror_dir: /nonexistent/x}"], "data.mirror_dir"),
    ],
)
def test_bad_config_fails_before_any_job(workdir, override, message):
    result = run(workdir, "--config", *override, check=False)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert not (workdir / "results").exists()


def test_nested_override_from_the_command_line(workdir):
    result = run(
        workdir,
        "--configfile",
        tiny_config(workdir),
        "--config",
        "scoring={iou_threshold: 0.6}",
        "-n",
        "--printshellcmds",
    )
    assert "score" in result.stdout


@pytest.fixture
def weights_server(tiny_rtdetr_pt):
    """A stand-in for ultralytics' assets on 127.0.0.1 serving rtdetr-tiny.pt (an RT-DETR, so that one
    training covers weights downloaded as data, fine-tuning from .pt and ultralytics' second family)."""
    stand_in = StandIn().start()
    stand_in.files["rtdetr-tiny.pt"] = tiny_rtdetr_pt
    yield stand_in
    stand_in.stop()


@pytest.mark.slow
def test_synthetic_end_to_end(workdir, tmp_path, weights_server, tiny_rtdetr_pt):
    """The tiny case with detectors of every kind beside the baseline: `yolo` (train's settings, from a
    .yaml), `rtdetr` (ultralytics' RT-DETR, fine-tuned from .pt weights downloaded by a local rule),
    `frcnn` and `oracle` (command detectors) and `mine`, a detections file identical to
    the baseline's (the tiny case's own synthetic release)."""
    release = generate(SynthSpec(seed=1, trials=6, frames_per_trial=16, width=192, height=108), tmp_path / "r")
    mine = str(release["sospine_detections_3.6_0.05.csv"])
    tiny_sha256 = hashlib.sha256(tiny_rtdetr_pt).hexdigest()  # weights without a published checksum need theirs
    detectors = {
        "yolo": {},
        "rtdetr": {"model": "rtdetr-tiny.pt", "sha256": tiny_sha256},  # ultralytics' other family, from .pt
        "frcnn": {"command": FRCNN_COMMAND, "threads": 2},  # another framework: torchvision's Faster R-CNN
        "oracle": {"command": f"python {ROOT / 'tests' / 'oracle_detector.py'} {{coco}} {{output}}", "threads": 1},
        "mine": {"detections": mine},
    }
    weights_url = {"weights_url": f"http://127.0.0.1:{weights_server.port}/files"}
    config = tiny_config(workdir, train=weights_url, detectors=detectors)
    first = run(workdir, "--configfile", config)
    results = workdir / "results"
    assert pd.read_csv(results / "validation" / "report.csv").query("severity == 'error'").empty
    comparison = pd.read_csv(results / "annotations" / "bbox_vs_published.csv")
    assert (comparison[["differing", "missing", "extra"]] == 0).all().all() and comparison["identical"].sum() > 0
    assert list(pd.read_csv(results / "stats" / "table1.csv").columns)[:4] == ["label", "all", "train", "test"]
    assert (results / "yolo" / "dataset.yaml").exists()
    assert (results / "train" / "yolo" / "best.pt").exists()
    detections = pd.read_csv(results / "detections" / "yolo.csv")
    assert list(detections.columns) == ["trial_frame", "frame", "x1", "y1", "x2", "y2", "score", "label"]
    summary = json.loads((results / "scores" / "yolo" / "summary.json").read_text())
    assert sorted(summary["test_trials"]) == ["Clip0", "S1A2"]
    provenance = json.loads((results / "provenance.json").read_text())
    score_record = provenance["artifacts"]["results/scores/yolo/summary.json"]
    assert score_record["rule"] == "score" and score_record["named_params"]["iou"] == 0.5
    train_record = provenance["artifacts"]["results/train/yolo/best.pt"]
    assert train_record["named_params"]["epochs"] == 1 and train_record["named_params"]["name"] == "yolo"  # by name
    assert any("results/raw/frames.zip" in source for source in score_record["data_sources"])
    assert {e["file"] for e in provenance["fetch_manifest"]} >= {"frames.zip", "sospine_bbox.csv"}
    assert provenance["packages"]["snakemake"]

    # the weights: downloaded once, by a local rule, trained from, their sha256 in provenance
    assert weights_server.downloads("rtdetr-tiny.pt") == 1 and "localrule fetch_weights:" in first.stderr
    record = json.loads((results / "weights" / "rtdetr-tiny.pt.json").read_text())
    assert record["sha256"] == tiny_sha256 and record["verified"] == "configuration"
    args = json.loads((results / "train" / "rtdetr" / "train_args.json").read_text())
    assert args["arguments"]["model"].endswith("results/weights/rtdetr-tiny.pt")
    assert provenance["artifacts"]["results/weights/rtdetr-tiny.pt"]["source"]["sha256"] == record["sha256"]
    assert "results/weights/rtdetr-tiny.pt" in provenance["artifacts"]["results/train/rtdetr/best.pt"]["inputs"]

    # the leaderboard: every detector on the same trials, `mine` exactly equal to the baseline
    board = pd.read_csv(results / "leaderboard" / "leaderboard.csv")
    assert set(board["detector"]) == {"yolo", "mine", "rtdetr", "frcnn", "oracle", "synthetic_reference"}
    kinds = board.drop_duplicates("detector").set_index("detector")["kind"]
    assert kinds["rtdetr"] == "train" and kinds["frcnn"] == kinds["oracle"] == "command" and kinds["mine"] == "file"
    # costs: measured for what ran here, empty (not guessed) for detections files
    costs = board[board["label"] == "all"].set_index("detector")
    for name in ("yolo", "rtdetr"):
        assert costs.loc[name, "params"] > 0 and costs.loc[name, "gflops"] > 0 and costs.loc[name, "epochs"] >= 1
        assert costs.loc[name, "infer_ms"] > 0 and costs.loc[name, "train_s"] > 0 and costs.loc[name, "train_device"]
    assert costs.loc["frcnn", "params"] > 0 and costs.loc["frcnn", "infer_ms"] > 0 and costs.loc["frcnn", "train_s"] > 0
    assert costs.loc[["mine", "synthetic_reference"], ["params", "gflops", "train_s", "infer_ms"]].isna().all().all()
    assert (results / "leaderboard" / "accuracy_cost.png").stat().st_size > 10_000
    # the oracle's exported-pixel boxes, mapped back, are the truth boxes clipped to the frame, exactly
    oracle = pd.read_csv(results / "detections" / "oracle.csv")
    truth = pd.read_csv(results / "annotations" / "bbox.csv").dropna(subset=["label"])
    truth = truth[truth["trial_frame"].str.split("_frame_").str[0].isin(["Clip0", "S1A2"])]
    clipped = truth.assign(x1=truth["x1"].clip(0, 192), x2=truth["x2"].clip(0, 192))
    clipped = clipped.assign(y1=truth["y1"].clip(0, 108), y2=truth["y2"].clip(0, 108))
    clipped = clipped[(clipped["x2"] > clipped["x1"]) & (clipped["y2"] > clipped["y1"])]
    key = ["trial_frame", "label"]
    both = oracle.merge(clipped, on=key, suffixes=("", "_truth"), validate="one_to_one")
    assert len(both) == len(oracle) == len(clipped)
    for c in ("x1", "y1", "x2", "y2"):
        np.testing.assert_allclose(both[c], both[f"{c}_truth"], atol=1e-9)
    assert set(board["test_trials"]) == {"Clip0 S1A2"}
    assert set(board.loc[board["kind"] == "train", "validation"]) == {"trials"}
    paired = pd.read_csv(results / "leaderboard" / "paired.csv")
    assert set(paired["reference"]) == {"synthetic_reference"}
    assert (paired.loc[paired["detector"] == "mine", "diff"] == 0).all()

    # rerun semantics: exactly what depends on a changed setting reruns
    assert planned_rules(workdir, "--configfile", config) == set()
    assert weights_server.downloads("rtdetr-tiny.pt") == 1
    downstream_of_scoring = {
        *("score", "leaderboard", "front_page", "presence", "phases", "outcomes", "outcome_models", "tool_patterns"),
        *("provenance", "all"),
    }
    # presence AP reads the detections themselves, not the scores: a scoring setting leaves it be
    downstream_of_detections = downstream_of_scoring | {"presence_ap", "validate_detections"}
    another = tiny_config(workdir, train=weights_url, detectors={**detectors, "mine2": {"detections": mine}})
    # a new detections file: validated, scored and ranked; no data, no training
    assert planned_rules(workdir, "--configfile", another) == downstream_of_detections
    config = tiny_config(workdir, train=weights_url, detectors=detectors)  # the same file again, as before
    assert (
        planned_rules(workdir, "--configfile", config, "--config", "scoring={iou_threshold: 0.6}")
        == downstream_of_scoring
    )
    retrained = planned_rules(workdir, "--configfile", config, "--config", "train={epochs: 2}")
    assert retrained == downstream_of_detections | {"train", "predict"}
    assert planned_rules(workdir, "--configfile", config, "--config", "split={seed: 5}") == downstream_of_detections | {
        "split",
        "stats",
        "export_yolo",
        "train",
        "predict",
        "command_detector",
        "validate_detections",
    }

    # After a failed or interrupted retrain an input can be on disk without Snakemake's record of how
    # it was made (provenance once showed `best.pt: null`): provenance refuses instead of reporting.
    metadata = workdir / ".snakemake" / "metadata"
    for entry in metadata.rglob("*"):
        if entry.is_file() and records.decode_key(entry.relative_to(metadata)) == "results/train/yolo/best.pt":
            entry.unlink()
    refused = run(workdir, "--configfile", config, "--forcerun", "provenance", check=False)
    assert refused.returncode != 0
    assert "stale results: results/train/yolo/best.pt has no record of how it was made" in refused.stderr
    assert "Traceback" not in refused.stderr
    run(workdir, "--configfile", config, "--forcerun", "train")  # what the message asks for
    provenance = json.loads((results / "provenance.json").read_text())
    assert provenance["artifacts"]["results/train/yolo/best.pt"]["rule"] == "train"


def planned_rules(workdir: Path, *args: str) -> set[str]:
    """Rules a dry run would execute (from Snakemake's job stats table)."""
    result = run(workdir, "-n", *args)
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return set()
    table = text.split("Job stats:", 1)[1].split("\n\n", 1)[0].splitlines()
    return {line.split()[0] for line in table[3:] if line.strip() and line.split()[0] != "total"}


@pytest.mark.skipif(not (SHARED / "sospine_bbox.csv").exists(), reason="real SOSpine files not at ../shared/sospine")
def test_mirror_of_the_real_files_scores_the_paper_baseline(workdir):
    run(workdir, "--config", f"data={{source: mirror, mirror_dir: {SHARED}}}", "scoring={bootstrap: 20}")
    results = workdir / "results"
    table = pd.read_csv(results / "stats" / "table1.csv").set_index("label")
    assert table.loc["durotomy", "all"] == 12141 and table.loc["durotomy", "test"] == 2224
    ap = pd.read_csv(results / "scores" / "yolov4_paper" / "ap_per_class.csv").set_index("label")["ap50_voc"]
    assert ap["needle driver"] == pytest.approx(0.939, abs=0.006)
    assert not (results / "yolo").exists()  # no frames.zip in the mirror: no export, no training
    manifest = json.loads((results / "raw" / "fetch_manifest.json").read_text())
    assert {e["file"] for e in manifest} == {"sospine_bbox.csv", "sospine_outcomes.csv"}
    # no frames needed: presence AP, the agreement of the paper's metrics and the outcome models
    presence = pd.read_csv(results / "presence" / "presence_ap.csv")
    assert set(presence["detector"]) == {"yolov4_paper"} and set(presence["n_frames"]) == {2828}
    agreement = pd.read_csv(results / "outcomes" / "apm_agreement.csv")
    assert set(agreement["n_trials"]) == {4} and "grasper_time_in_view_s" in set(agreement["metric"])
    prediction = pd.read_csv(results / "outcomes" / "prediction.csv").set_index(["outcome", "features", "metric"])
    assert prediction.loc[("success", "ground_truth", "auc"), "n_trials"] == 22
    assert prediction.loc[("success", "no_video", "auc"), "n_trials"] == 24
    assert prediction.loc[("repair_time", "detections:yolov4_paper", "r2"), "note"].startswith("not evaluated")


@pytest.mark.parametrize("mode", ["fail", "quarantine"])
def test_validation_modes_on_a_broken_mirror(workdir, synthetic, tmp_path, mode):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in ("sospine_bbox.csv", "sospine_outcomes.csv"):
        (mirror / name).write_bytes(synthetic[name].read_bytes())
    lines = (mirror / "sospine_bbox.csv").read_bytes().split(b"\r\n")
    lines[4] = lines[4].replace(b"durotomy", b"scalpel") if b"durotomy" in lines[4] else lines[4] + b"x"
    (mirror / "sospine_bbox.csv").write_bytes(b"\r\n".join(lines))
    result = run(
        workdir,
        "--config",
        f"data={{source: mirror, mirror_dir: {mirror}}}",
        f"validation={{on_error: {mode}}}",
        "split={method: random}",
        "scoring={bootstrap: 0}",
        check=False,
    )
    report = pd.read_csv(workdir / "results" / "validation" / "report.csv", keep_default_na=False)
    bad = report[report["severity"] == "error"]
    assert len(bad) >= 1 and set(bad["line"].astype(int)) == {5}
    if mode == "fail":
        assert result.returncode != 0
        assert "results/validation/report.csv" in result.stderr and "sospine_bbox.csv:5" in result.stderr
        assert not (workdir / "results" / "annotations" / "bbox.csv").exists()
    else:
        assert result.returncode == 0, result.stderr[-3000:]
        kept = pd.read_csv(workdir / "results" / "validation" / "clean" / "sospine_bbox.csv")
        quarantined = pd.read_csv(workdir / "results" / "validation" / "quarantine" / "sospine_bbox.csv")
        assert len(kept) + len(quarantined) == len(lines) - 1
        assert quarantined["line"].tolist() == [5]


@pytest.mark.slow
@pytest.mark.skipif(
    SLURM_CAN_RUN, reason="the same leave-one-surgeon-out run and checks go through Slurm in tests/test_slurm.py"
)
def test_leave_one_surgeon_out_trains_and_scores_every_fold(workdir):
    run(workdir, "--configfile", tiny_config(workdir, "loso"))
    assert_leave_one_surgeon_out(workdir / "results")


def test_a_folder_with_another_sources_results_stops_the_run(workdir):
    """The demo's synthetic results and a real-data run never share a folder; another folder works."""
    config = tiny_config(workdir, output_dir="results/demo")
    run(workdir, "results/demo/data_source.json", "--configfile", config)
    assert (workdir / "results" / "demo" / "data_source.json").exists()
    mirror = ["data={source: mirror, mirror_dir: " + str(SHARED) + "}"] if SHARED.is_dir() else None
    if mirror is None:
        mirror_dir = workdir / "mirror"
        mirror_dir.mkdir()
        for name in ("sospine_bbox.csv", "sospine_outcomes.csv"):  # a mirror needs annotations to plan
            (mirror_dir / name).write_text("x")
        mirror = ["data={source: mirror, mirror_dir: " + str(mirror_dir) + "}"]
    result = run(workdir, "--configfile", config, "--config", *mirror, "-n", check=False)
    assert result.returncode == 1
    assert "results/demo holds results made from another data source" in result.stderr
    assert "Traceback" not in result.stderr and "Building DAG" not in result.stderr
    elsewhere = run(workdir, "--configfile", config, "--config", *mirror, "output_dir=results/real", "-n")
    assert "results/real/validation/report.csv" in elsewhere.stdout


def test_figshare_one_job_per_record_and_network_settings_rerun_nothing(workdir, synthetic, figshare):
    """Table 1 needs only the CSV records; a changed timeout, retry count or API mirror schedules no
    download; a new record adds only its own job."""
    names = {20171135: "sospine_tool_tips.csv", 20171129: "sospine_bbox.csv", 20171132: "sospine_outcomes.csv"}
    figshare.files = {name: synthetic[name].read_bytes() for name in [*names.values(), "frames.zip"]}
    figshare.files["SOSpine.zip"] = b"the authors' analysis files"
    figshare.articles = {**{k: [v] for k, v in names.items()}, 20201636: ["frames.zip"], 22341523: ["SOSpine.zip"]}
    source = "data={source: figshare, figshare: {api_url: '" + figshare.api + "'}}"
    config = tiny_config(workdir)
    run(workdir, "results/stats/table1.csv", "--configfile", config, "--config", source)
    assert (workdir / "results" / "stats" / "table1.csv").exists()
    assert all(figshare.downloads(name) == 1 for name in names.values())
    assert figshare.downloads("frames.zip") == 0  # several GB on the real record: never for Table 1
    manifest = json.loads((workdir / "results" / "raw" / "records" / "bbox.json").read_text())
    assert manifest[0]["doi"].endswith(".v1") and manifest[0]["version"] == 1

    network = "data={source: figshare, figshare: {api_url: 'http://127.0.0.1:1/v2', timeout_s: 5, retries: 1}}"
    dry = run(workdir, "results/stats/table1.csv", "--configfile", config, "--config", network, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout
    extra = (
        "data={source: figshare, figshare: {api_url: '"
        + figshare.api
        + "', records: {sospine_zip: 10.6084/m9.figshare.22341523}}}"
    )
    dry = run(workdir, "results/raw/fetch_manifest.json", "--configfile", config, "--config", extra, "-n")
    jobs = {line.split()[0] for line in dry.stdout.splitlines() if line.startswith("fetch_")}
    assert jobs == {"fetch_sospine_zip", "fetch_frames", "fetch_manifest"}, dry.stdout  # the CSVs stay as they are


def test_mirror_files_are_never_touched(workdir, tmp_path):
    """A full run and a forced rerun of every rule leave the user's mirror exactly as it was."""
    from sospine.data.synth import SynthSpec, generate

    mirror = tmp_path / "mirror"
    generate(SynthSpec(seed=2, trials=6, frames_per_trial=12, width=192, height=108), mirror)
    (mirror / "phases.csv").unlink()
    for path in mirror.iterdir():
        path.chmod(0o444)

    def state():
        return {p.name: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode) for p in sorted(mirror.iterdir())}

    before = state()
    # frames.zip (above the limit) is linked, the CSVs are copied
    config = tiny_config(workdir, data={"source": "mirror", "mirror_dir": str(mirror), "mirror_copy_below_mb": 0.01})
    run(workdir, "--configfile", config)
    assert state() == before
    raw = workdir / "results" / "raw"
    assert (raw / "frames.zip").is_symlink() and not (raw / "sospine_bbox.csv").is_symlink()
    assert (raw / "sospine_bbox.csv").stat().st_ino != (mirror / "sospine_bbox.csv").stat().st_ino
    # every rule that reads the mirror's files, forced again (training and what follows read none)
    readers = ["results/yolo/dataset.yaml", "results/stats/table1.csv", "results/annotations/bbox.csv"]
    forced = run(workdir, "--configfile", config, "--forceall", "--", *readers)
    assert "mirror" in forced.stdout + forced.stderr
    assert state() == before


def test_an_empty_mapping_on_the_command_line_removes_the_default_phases(workdir, tmp_path):
    from sospine.data.synth import SynthSpec, generate

    mirror = tmp_path / "mirror"
    generate(SynthSpec(seed=4, trials=4, frames_per_trial=10, width=192, height=108), mirror)
    (mirror / "frames.zip").unlink()  # no training needed: phases from ground truth only
    config = tiny_config(workdir, data={"source": "mirror", "mirror_dir": str(mirror)})
    run(workdir, "results/phases/segments.csv", "--configfile", config)
    assert len(pd.read_csv(workdir / "results" / "phases" / "segments.csv")) > 0
    run(workdir, "results/phases/segments.csv", "--configfile", config, "--config", "analytics={phases: {}}")
    assert pd.read_csv(workdir / "results" / "phases" / "segments.csv").empty


@pytest.mark.slow
def test_drawn_synthetic_configurations_pass_the_validation_gate(tmp_path_factory):
    """The generator's property through the workflow: drawn synthetic settings (the smallest frame
    size included) pass validation and its gate, and the gate's tables are what was generated."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from sospine.data.synth import MIN_FRAME_SIDE

    from .conftest import copy_workflow

    @settings(max_examples=4, deadline=None, database=None)
    @given(
        seed=st.integers(0, 10_000),
        trials=st.integers(1, 24),
        frames_per_trial=st.integers(1, 12),
        width=st.integers(MIN_FRAME_SIDE, 400),
        height=st.integers(MIN_FRAME_SIDE, 300),
    )
    def through_the_gate(seed, trials, frames_per_trial, width, height):
        workdir = copy_workflow(tmp_path_factory.mktemp("gate"))
        synthetic = dict(seed=seed, trials=trials, frames_per_trial=frames_per_trial, width=width, height=height)
        config = tiny_config(workdir, data={"synthetic": synthetic})
        gate = [f"results/validation/clean/{name}" for name in ("sospine_tool_tips.csv", "sospine_bbox.csv")]
        result = run(workdir, *gate, "--configfile", config, check=False)
        assert result.returncode == 0, f"{synthetic}: {result.stderr[-2000:]}"
        report = pd.read_csv(workdir / "results" / "validation" / "report.csv")
        assert report.query("severity == 'error'").empty, synthetic
        clean = pd.read_csv(workdir / gate[1])
        raw = pd.read_csv(workdir / "results" / "raw" / "sospine_bbox.csv")
        assert len(clean) == len(raw), "every generated row passes the gate"

    through_the_gate()


@pytest.mark.parametrize("content", ["empty", "other files"])
def test_a_mirror_without_the_sospine_files_stops_before_any_job(workdir, tmp_path, content):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    if content == "other files":
        (mirror / "README.md").write_text("not SOSpine")
        (mirror / "sospine_outcomes.csv").write_text("Trial ID\nS1A1\n")  # outcomes alone give no boxes
    result = run(workdir, "--config", f"data={{source: mirror, mirror_dir: {mirror}}}", "-n", check=False)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 1 and len(errors) == 1, result.stderr[-2000:]
    assert str(mirror) in errors[0] and "sospine_bbox.csv" in errors[0] and "sospine_tool_tips.csv" in errors[0]
    assert "Building DAG" not in result.stdout + result.stderr and not (workdir / "results").exists()
