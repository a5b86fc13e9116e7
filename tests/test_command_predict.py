"""A command detector's prediction command (`predict:`): checked as its command is, it makes the
detector one that can analyse recordings (chosen by name or as the best on the board that can), runs
on a recording's frames with the model the main split's run left, and its output is validated as
every detections file is; analysing a recording never runs the training command again."""

import json
import textwrap

import pandas as pd
import pytest
from PIL import Image

from sospine.detectors.commands import CommandError, predict_frames, recording_detections
from sospine.detectors.kinds import command_problems, prediction_booking, resolve
from sospine.plan import PlanError

from .conftest import ROOT
from .test_plan import plan

TRAIN = "python det.py train --coco {coco} --work-dir {work_dir} --output {output}"
PREDICT = "python det.py predict --weights {work_dir}/best.pt --images {images} --output {output}"
HEADER = "trial_frame,frame,x1,y1,x2,y2,score,label\n"


@pytest.mark.parametrize(
    ("predict", "message"),
    [
        ("det.py --data {coco} --out {output}", "detectors.x.predict': unknown placeholder(s) {coco}; known: images, "),
        ("det.py --data {dataset} --out {output}", "unknown placeholder(s) {dataset}"),
        ("echo { > {output}", "detectors.x.predict': a lone '{' (write {{ and }} for literal braces)"),
        ("det.py --out {output!r}", "detectors.x.predict': placeholder {output!r} has a conversion or format"),
        ("det.py --name 'mine --out {output}", "detectors.x.predict': No closing quotation (an unbalanced quote)"),
        ("det.py --images {images}", "detectors.x.predict': the prediction command must write its detections to"),
        ("", "detectors.x.predict': expected the shell command that detects tools in a recording's frames"),
        (3, "detectors.x.predict': expected the shell command that detects tools in a recording's frames"),
    ],
)
def test_a_bad_prediction_command_is_named_as_a_bad_command_is(predict, message):
    problems = command_problems("x", {"command": TRAIN, "predict": predict})
    assert any(message in p for p in problems), problems
    assert all(p.startswith("config key 'detectors.x.predict'") for p in problems), problems


def test_a_good_prediction_command_has_no_problem_and_the_same_placeholder_check_as_the_command():
    assert command_problems("x", {"command": TRAIN, "predict": PREDICT}) == []
    both = command_problems("x", {"command": "det.py {gpu} {output}", "predict": "det.py {gpu} {output}"})
    assert [p.split(": ", 1)[1].split(";")[0] for p in both] == ["unknown placeholder(s) {gpu}"] * 2


def test_with_a_checksum_both_commands_must_run_the_pinned_file(monkeypatch):
    import hashlib

    monkeypatch.chdir(ROOT)
    script = "resources/detectors/fasterrcnn.py"
    digest = hashlib.sha256((ROOT / script).read_bytes()).hexdigest()
    entry = {"command": f"python {script} --output {{output}}", "sha256": digest}
    assert command_problems("x", {**entry, "predict": f"python {script} --images {{images}} --output {{output}}"}) == []
    other = command_problems("x", {**entry, "predict": "python tests/oracle_detector.py {images} {output}"})
    assert other == [
        f"config key 'detectors.x.predict': it runs tests/oracle_detector.py, not {script}, the file sha256 pins: "
        "let both commands run that file (e.g. a predict subcommand of it)"
    ]


def test_the_start_check_names_a_bad_prediction_command_in_one_line():
    from sospine.config import ConfigError, check, coerce, deep_merge

    from .test_config import FILE_CONFIG, SCHEMA

    config = deep_merge(FILE_CONFIG, {"detectors": {"mine": {"command": TRAIN, "predict": "det.py {coco} {output}"}}})
    with pytest.raises(ConfigError, match=r"config key 'detectors.mine.predict': unknown placeholder\(s\) \{coco\}"):
        check(coerce(config, SCHEMA), SCHEMA)
    check(
        coerce(deep_merge(FILE_CONFIG, {"detectors": {"mine": {"command": TRAIN, "predict": PREDICT}}}), SCHEMA), SCHEMA
    )


def test_a_command_detector_predicts_new_images_only_with_a_prediction_command():
    config = {"train": {"name": "yolo", "model": "yolo11n.yaml", "gpus": 1}}
    config["detectors"] = {"plain": {"command": TRAIN}, "full": {"command": TRAIN, "predict": PREDICT, "gpus": 0}}
    found = resolve(config, "paper.csv")
    assert not found["plain"].predicts_new_images and found["full"].predicts_new_images
    assert found["full"].settings["predict"] == PREDICT and found["full"].lacks_for_new_images == ""
    assert "without a prediction command (predict:" in found["plain"].lacks_for_new_images
    assert "no model to run" in found["yolov4_paper"].lacks_for_new_images
    # predicting a recording books what the command asks (at most one GPU), or what ultralytics' prediction does
    assert prediction_booking([found["full"]]) == {"gpu": 0, "threads": 4, "mem_mb": 32000, "runtime": 1440}
    yolo = resolve({"train": config["train"]}, None)["yolo"]
    assert prediction_booking([found["full"], yolo]) == {"gpu": 1, "threads": 4, "mem_mb": 32000, "runtime": 1440}


def test_the_plan_counts_a_command_with_a_prediction_command_among_the_predictors(tmp_path):
    video = tmp_path / "case.mp4"
    video.write_bytes(b"\0")
    detectors = {"plain": {"command": TRAIN}, "full": {"command": TRAIN, "predict": PREDICT}}
    found = plan(tmp_path, detectors=detectors, videos={"case": str(video)})
    assert list(found.predictors) == ["full"] and found.analysis_detector() is None
    assert found.predictor_weights() == {"full": found.out("costs/full.json")}  # its finished run, not a new one
    assert found.command_work_dir("full") == found.out("commands/full")
    named = plan(tmp_path, detectors=detectors, videos={"case": str(video)}, analysis={"detector": "full"})
    assert named.analysis_detector() == "full"
    both = {**detectors, "yolo": {"model": "yolo11n.yaml"}}
    weights = plan(tmp_path, detectors=both, videos={"case": str(video)}).predictor_weights()
    assert weights == {"full": found.out("costs/full.json"), "yolo": found.out("train/yolo/best.pt")}


def test_a_detector_that_cannot_analyse_a_recording_is_one_line_saying_what_it_lacks(tmp_path):
    video = tmp_path / "case.mp4"
    video.write_bytes(b"\0")
    detectors = {"plain": {"command": TRAIN}, "full": {"command": TRAIN, "predict": PREDICT}}
    with pytest.raises(PlanError) as error:
        plan(tmp_path, detectors=detectors, videos={"case": str(video)}, analysis={"detector": "plain"})
    message = str(error.value)
    assert message.startswith(
        "config key 'analysis.detector': 'plain' cannot analyse a recording: it is a command detector without a "
        "prediction command (predict: "
    )
    assert message.endswith("; those that can: full") and "\n" not in message
    with pytest.raises(PlanError, match="'nobody' is not a detector of this run; those that can: full"):
        plan(tmp_path, detectors=detectors, videos={"case": str(video)}, analysis={"detector": "nobody"})
    with pytest.raises(PlanError, match=r"command detector with a prediction command, predict: \.\.\.\) \(plain: no"):
        plan(tmp_path, detectors={"plain": {"command": TRAIN}}, videos={"case": str(video)})


# --- the prediction command on a recording's frames ---------------------------------------------


@pytest.fixture
def frames(tmp_path):
    """Three frames of a recording named rec, 64 x 48 px, brighter each second."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for number in (1, 2, 3):
        Image.new("RGB", (64, 48), (60 * number, 60 * number, 60 * number)).save(
            folder / f"rec_frame_{number:08d}.jpeg"
        )
    return folder


def predictor(tmp_path, body: str) -> str:
    """A prediction command running `body` (Python; `images`, `output` and `work_dir` given)."""
    script = tmp_path / "predict.py"
    script.write_text(
        "import sys\nfrom pathlib import Path\nimages, output, work_dir = map(Path, sys.argv[1:4])\n"
        + textwrap.dedent(body)
    )
    return f'python "{script}" {{images}} {{output}} {{work_dir}}'


def predict(tmp_path, frames, body, **options):
    work_dir = tmp_path / "work"
    work_dir.mkdir(exist_ok=True)
    return predict_frames(
        predictor(tmp_path, body),
        frames,
        work_dir,
        tmp_path / "out" / "detections.csv",
        recording="rec",
        detector="mine",
        device="cpu",
        threads=1,
        log=tmp_path / "predict.log",
        say=lambda line: None,
        **options,
    )


def test_the_prediction_command_gets_the_frames_and_its_model_and_its_detections_are_the_frames(tmp_path, frames):
    body = """
    from PIL import Image
    model = (work_dir / "model.txt").read_text().strip()
    rows = ["trial_frame,frame,x1,y1,x2,y2,score,label"]
    for frame in sorted(images.glob("*.jpeg")):
        number = int(frame.stem.rsplit("_", 1)[1])
        brightness = Image.open(frame).convert("L").getpixel((5, 5))
        name = frame.name if number != 2 else frame.name.replace(".jpeg", ".jpg")  # .jpg is accepted
        rows.append(f" {name} ,{number},8,6,{8 + brightness / 10:.1f},40.5,0.9,{model}")
    output.write_text("\\n".join(rows) + "\\n")
    print("predicted", len(rows) - 1)
    """
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "model.txt").write_text("grasper\n")
    table, cost = predict(tmp_path, frames, body)
    assert table.columns.tolist() == ["trial_frame", "frame", "x1", "y1", "x2", "y2", "score", "label"]
    assert table["trial_frame"].tolist() == [f"rec_frame_{n:08d}.jpeg" for n in (1, 2, 3)]  # the frames' own names
    assert table["frame"].tolist() == [1, 2, 3] and set(table["label"]) == {"grasper"}
    assert table["x2"].tolist() == pytest.approx([14, 20, 26], abs=0.3)  # from each frame's own pixels
    assert cost["command"].startswith("python ") and cost["predict_s"] >= 0 and cost["infer_ms"] >= 0
    log = (tmp_path / "predict.log").read_text()
    assert log.startswith(f"$ {cost['command']}\n") and "predicted 3" in log


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            "S1A2_frame_00000001.jpeg,1,1,1,5,5,0.5,grasper\nother_frame_00000002.jpeg,2,1,1,5,5,0.5,grasper\n",
            "detections.csv: detections on images that are not the recording's frames: S1A2_frame_00000001, "
            "other_frame_00000002",
        ),
        ("rec_frame_00000009.jpeg,9,1,1,5,5,0.5,grasper\n", "not the recording's frames: rec_frame_00000009"),
        ("rec_frame_00000001.jpeg,1,1,1,5,5,1.5,grasper\n", "validation errors: detections.csv:2 [score]"),
        ("rec_frame_00000001.jpeg,2,1,1,5,5,0.5,grasper\n", "detections.csv:2 [frame] frame_matches_name"),
        ("rec_frame_00000001.jpeg,1,1,1,5,5,0.5,scalpel\n", "detections.csv:2 [label] isin"),
        ("rec_frame_00000001.jpeg,1,9,1,5,5,0.5,grasper\n", "detections.csv:2 [x1] x1<=x2: 9"),
        (
            "rec_frame_00000001.jpeg,1,100,100,1900,1000,0.5,grasper\n",
            "1 boxes far outside the recording's frames, e.g. rec_frame_00000001.jpeg: x1 = 100 on a frame of 64 x 48",
        ),
    ],
    ids=["other-trials", "no-such-frame", "score", "frame-number", "label", "corner-order", "far-outside"],
)
def test_what_the_prediction_command_writes_is_validated_naming_its_own_file(tmp_path, frames, rows, message):
    body = f"output.write_text({HEADER + rows!r})\n"
    with pytest.raises(CommandError) as error:
        predict(tmp_path, frames, body)
    text = str(error.value)
    assert message in text and "\n" not in text, text
    assert str(tmp_path / "out" / "detections.csv") in text and "Clip9" not in text  # never the stand-in's name
    assert not list((tmp_path / "out").glob(".detections-*"))  # the validated copy is gone


def test_a_validation_error_is_the_one_line_every_detections_file_gets(tmp_path, frames):
    (tmp_path / "out.csv").write_text(HEADER + "rec_frame_00000001.jpeg,1,1,1,5,5,1.5,grasper\n")
    with pytest.raises(CommandError) as error:
        recording_detections(tmp_path / "out.csv", ["rec_frame_00000001.jpeg"], "rec", (64, 48), "mine")
    assert str(error.value).startswith(f"detections of 'mine' ({tmp_path / 'out.csv'}): 1 validation errors: out.csv:2")


def test_no_detections_are_detections_but_no_file_or_a_failure_is_an_error(tmp_path, frames):
    table, _ = predict(tmp_path, frames, f"output.write_text({HEADER!r})\n")
    assert table.empty and table.columns.tolist()[0] == "trial_frame"
    with pytest.raises(CommandError, match=r"the prediction command finished but wrote no .*detections.csv"):
        predict(tmp_path, frames, "pass\n")
    with pytest.raises(CommandError, match=r"(?s)exited with status 3 .*\| no model here"):
        predict(tmp_path, frames, "print('no model here'); sys.exit(3)\n")
    with pytest.raises(CommandError, match="still running after"):
        predict(tmp_path, frames, "import time; time.sleep(30)\n", timeout_s=1)


# --- through the workflow -------------------------------------------------------------------------

DETECTOR = '''
"""A tiny command detector: `train` writes its model (a box as a share of the image, a label) into
{work_dir} and the test images' truth as detections; `predict` reads that model and puts its box on
every frame of a folder, scored by the frame's brightness."""
import csv, json, re, sys
from pathlib import Path
from PIL import Image, ImageStat

mode, args = sys.argv[1], dict(zip(sys.argv[2::2], sys.argv[3::2]))
work_dir, output = Path(args["--work-dir"]), Path(args["--output"])
labels = ("needle", "needle driver", "grasper", "nerve hook", "durotomy")
if mode == "train":
    with open(work_dir / "trainings.txt", "a") as trainings:
        trainings.write("trained\\n")
    (work_dir / "model.json").write_text(json.dumps({"box": [0.25, 0.2, 0.75, 0.8], "label": "grasper"}))
    test = json.loads((Path(args["--coco"]) / "test.json").read_text())
    names = {image["id"]: image["trial_frame"] for image in test["images"]}
    with open(output, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["trial_frame", "frame", "x1", "y1", "x2", "y2", "score", "label"])
        for box in test["annotations"]:
            x, y, w, h = box["bbox"]
            name = names[box["image_id"]]
            number = int(re.search(r"_frame_(\\d+)", name).group(1))
            writer.writerow([name, number, x, y, x + w, y + h, 1.0, labels[box["category_id"] - 1]])
else:
    model = json.loads((work_dir / "model.json").read_text())
    with open(output, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["trial_frame", "frame", "x1", "y1", "x2", "y2", "score", "label"])
        for frame in sorted(Path(args["--images"]).glob("*.jpeg")):
            image = Image.open(frame)
            width, height = image.size
            x1, y1, x2, y2 = model["box"]
            score = round(0.5 + ImageStat.Stat(image.convert("L")).mean[0] / 512, 4)
            number = int(frame.stem.rsplit("_", 1)[1])
            box = [x1 * width, y1 * height, x2 * width, y2 * height]
            writer.writerow([frame.name, number, *box, score, model["label"]])
    print("predicted", output)
'''


@pytest.mark.slow
def test_a_command_detector_analyses_a_recording_with_its_prediction_command_without_training_again(workdir):
    """A run whose only detector of its own is a command detector with a prediction command, then a
    recording of its test trial S1A2: the default (auto) picks it as the best that can predict new
    images, only the recording's jobs run, its training command does not run again, and the
    recording's detections are what its prediction command wrote from the frames."""
    from .conftest import run, tiny_config

    script = workdir / "det.py"
    script.write_text(DETECTOR)
    mine = {
        "command": f'python "{script}" train --coco {{coco}} --work-dir {{work_dir}} --output {{output}}',
        "predict": f'python "{script}" predict --work-dir {{work_dir}} --images {{images}} --output {{output}}',
        "threads": 1,
        "gpus": 0,
        "mem_mb": 1000,
        "timeout_min": 10,
    }
    config = tiny_config(workdir, detectors={"mine": mine})
    run(workdir, "--configfile", config, "--cores", "1")
    results = workdir / "results"
    trainings = results / "commands" / "mine" / "trainings.txt"
    assert trainings.read_text() == "trained\n"
    videos = "videos={rec: results/recordings/S1A2.mp4}"
    planned = run(workdir, "--configfile", config, "--config", videos, "-n").stdout
    jobs = {line.split()[-1].rstrip(":") for line in planned.splitlines() if line.startswith(("rule ", "localrule "))}
    assert jobs <= {"synthetic_recording", "recording_frames", "recording_detections", "recording_analysis",
                    "provenance", "front_page", "all"}, jobs  # fmt: skip
    run(workdir, "--configfile", config, "--config", videos, "--cores", "1")
    assert trainings.read_text() == "trained\n"  # its training command ran once, for the benchmark
    folder = results / "videos" / "rec"
    chosen = json.loads((folder / "detector.json").read_text())
    assert chosen["detector"] == "mine" and chosen["kind"] == "command"
    assert chosen["why"].startswith("the best on the board that can predict new images")
    assert (
        " predict --work-dir " in chosen["command"]
        and str(results.resolve() / "commands" / "mine") in chosen["command"]
    )
    frames = sorted((folder / "frames").glob("*.jpeg"))
    detections = pd.read_csv(folder / "detections.csv")
    assert detections["trial_frame"].tolist() == [f.name for f in frames] and (detections["label"] == "grasper").all()
    width, height = Image.open(frames[0]).size
    assert detections["x1"].tolist() == pytest.approx([0.25 * width] * len(frames))
    assert detections["y2"].tolist() == pytest.approx([0.8 * height] * len(frames))
    assert detections["score"].nunique() > 1  # from each frame's own pixels
    raw = pd.read_csv(folder / "predict" / "detections.csv")  # what the prediction command wrote
    assert raw[["x1", "y1", "x2", "y2", "score"]].to_numpy() == pytest.approx(
        detections[["x1", "y1", "x2", "y2", "score"]].to_numpy()
    )
    log = (results / "logs" / "videos" / "rec" / "detections.log").read_text()
    assert f"$ {chosen['command']}" in log and "predicted" in log
    for name in ("presence.csv", "segments.csv", "apms.csv", "outcome.json", "timeline.png"):
        assert (folder / name).is_file(), name
    assert json.loads((folder / "outcome.json").read_text())["detector"] == "mine"
