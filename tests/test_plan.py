"""The run's plan (sospine.plan), asked without Snakemake: which files the source provides, the
detectors and their kinds, what each is scored from, fold and final targets, report figures."""

import pytest

from sospine.config import coerce, deep_merge
from sospine.plan import Plan, PlanError

from .conftest import ROOT
from .test_config import FILE_CONFIG, SCHEMA


def plan(tmp_path, **overrides):
    settings = deep_merge(FILE_CONFIG, {"output_dir": str(tmp_path / "out"), **overrides})
    from snakemake.utils import validate

    config = coerce(settings, SCHEMA)
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))  # the defaults, as the workflow
    return Plan(config)


@pytest.fixture
def mirror(tmp_path):
    folder = tmp_path / "mirror"
    folder.mkdir()
    for name in ("sospine_bbox.csv", "sospine_outcomes.csv", "sospine_detections_3.6_0.05.csv"):
        (folder / name).write_text("x\n")
    return folder


def test_a_mirror_without_frames_provides_what_it_holds_and_says_what_it_skips(tmp_path, mirror):
    found = plan(tmp_path, data={"source": "mirror", "mirror_dir": str(mirror)})
    assert set(found.provided) == {"bbox", "outcomes"}
    assert found.missing == ["frames", "tool_tips"]
    assert "no frames.zip: no YOLO export, training or prediction; detections files are still scored" in (
        found.missing_note()
    )
    assert found.trained == {} and found.baseline == "yolov4_paper"
    assert found.detection_tables() == {"yolov4_paper": str(tmp_path / "out" / "detections" / "yolov4_paper.csv")}
    assert found.raw_detections("yolov4_paper") == str(mirror / "sospine_detections_3.6_0.05.csv")
    assert found.is_external_file("yolov4_paper") and found.kind("yolov4_paper") == "file"
    assert found.boxes_source() == "published" and found.validated_kinds() == ["bbox", "outcomes"]
    assert str(mirror / "sospine_bbox.csv") in found.external_files()
    targets = found.all_targets()
    assert str(tmp_path / "out" / "yolo" / "dataset.yaml") not in targets
    assert str(tmp_path / "out" / "leaderboard" / "leaderboard.csv") in targets


def test_a_mirror_that_is_no_folder_or_holds_no_annotations_is_one_line(tmp_path, mirror):
    with pytest.raises(PlanError, match="data.mirror_dir: '/nowhere' is not a folder"):
        plan(tmp_path, data={"source": "mirror", "mirror_dir": "/nowhere"})
    (mirror / "sospine_bbox.csv").unlink()
    with pytest.raises(PlanError, match="holds neither sospine_bbox.csv nor sospine_tool_tips.csv"):
        plan(tmp_path, data={"source": "mirror", "mirror_dir": str(mirror)})


def test_detectors_of_every_kind_and_their_folds_under_leave_one_surgeon_out(tmp_path):
    mine = tmp_path / "mine.csv"
    mine.write_text("x\n")
    detectors = {"yolo": {"model": "yolo11n.yaml"}, "cmd": {"command": "x {output}"}, "mine": {"detections": str(mine)}}
    found = plan(tmp_path, split={"method": "leave_one_surgeon_out"}, detectors=detectors)
    assert list(found.produced) == ["yolo", "cmd"] and list(found.detectors) == [
        "yolo",
        "cmd",
        "mine",
    ]  # figshare: no baseline
    assert found.fold_detector("cmd-S3") == ("cmd", "S3") and found.fold_detector("mine-S3") is None
    assert found.kind("cmd-S3") == "command" and found.test_split("yolo-S3").endswith("split/fold_frames/S3.csv")
    assert found.test_split("mine").endswith("split/trials.csv")
    assert found.raw_detections("yolo-S1").endswith("predictions/yolo-S1.csv")
    sources = found.leaderboard_sources(["S1", "S2"])
    assert [p.rsplit("/", 1)[1] for p in sources["cmd"]] == ["cmd-S1.csv", "cmd-S2.csv"]
    assert sources["mine"] == [found.out("detections/mine.csv")]
    folds = found.fold_targets(["S1"])
    assert found.out("folds/S1/train/yolo/best.pt") in folds and found.out("folds/S1/train/cmd/best.pt") not in folds
    assert found.out("scores/yolo-loso/folds.csv") in found.all_targets()
    assert found.command_work_dir("cmd", "S1") == found.out("folds/S1/commands/cmd")
    assert Plan.pattern(found.trained) == "yolo" and Plan.pattern({}) == "(?!)"
    with pytest.raises(PlanError, match="no detections for detector 'nobody'"):
        found.raw_detections("nobody")


def test_untrusted_weights_and_a_missing_model_stop_the_plan(tmp_path):
    with pytest.raises(PlanError, match="no sha256 is known for it"):
        plan(tmp_path, train={"model": "mine.pt"})
    with pytest.raises(PlanError, match="model of detector 'y': models/none.yaml does not exist"):
        plan(tmp_path, detectors={"y": {"model": "models/none.yaml"}})
    found = plan(tmp_path, train={"model": "yolo11n.pt"})
    assert found.weights_sha256 == {"yolo11n.pt": found.weights_sha256["yolo11n.pt"]}
    assert found.model_file("yolo") == found.out("weights/yolo11n.pt")


def test_the_report_waits_for_a_finished_run_and_says_which_command(tmp_path):
    found = plan(tmp_path)
    problem = found.report_not_ready(["--cores", "2", "--report", "r.html"])
    assert problem.startswith("the report needs a finished run: ") and "(snakemake --cores 2)" in problem
    assert found.out("leaderboard/leaderboard.png") in found.report_figures()


def test_a_recording_that_is_not_there_is_one_line(tmp_path):
    with pytest.raises(PlanError, match=r"config key 'videos.case': /nowhere/case.mp4 does not exist"):
        plan(tmp_path, videos={"case": "/nowhere/case.mp4"})
    with pytest.raises(PlanError, match="is a folder, not a video file"):
        plan(tmp_path, videos={"case": str(tmp_path)})
