"""Detectors of every kind: ultralytics families by model name, command detectors of any framework
(their configuration, placeholders, failures and the mapping back to frame pixels), and costs."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sospine.detectors.commands import (
    CommandError,
    checked_file,
    fill,
    read_cost,
    run,
    to_frame_pixels,
    unknown_placeholders,
)
from sospine.detectors.kinds import command_problems, family, resolve, scored_trials
from sospine.scoring.leaderboard import COST_COLUMNS, add_costs

from .conftest import ROOT

FRCNN = (
    "python resources/detectors/fasterrcnn.py --coco {coco} --images {images} --work-dir {work_dir} --output {output}"
)


def test_the_family_follows_the_model_file_name():
    from sospine.detectors.train import ultralytics_class

    assert [family(m) for m in ("rtdetr-l.yaml", "RTDETR-x.pt", "resources/models/rtdetr-sospine.yaml")] == [
        "rtdetr"
    ] * 3
    assert [family(m) for m in ("yolo11s.pt", "yolov8n.yaml", "yolo12m.yaml", "my/rt.yaml")] == ["yolo"] * 4
    assert ultralytics_class("rtdetr-l.yaml").__name__ == "RTDETR"
    assert ultralytics_class("yolo11n.yaml").__name__ == "YOLO"


def test_a_command_detector_resolves_with_its_own_settings():
    config = {"train": {"name": "yolo", "model": "yolo11n.yaml", "gpus": 2, "device": "auto"}}
    config["detectors"] = {"frcnn": {"command": FRCNN, "threads": 6}}
    detector = resolve(config, None)["frcnn"]
    assert detector.kind == "command" and detector.produced and not detector.trained
    assert (detector.settings["threads"], detector.settings["gpus"], detector.settings["device"]) == (6, 2, "auto")
    assert detector.settings["mem_mb"] == 32000  # booked like a training unless it says
    assert scored_trials("command", ["S1A2", "S4A1"], ["S4A1"]) == ["S1A2", "S4A1"]  # it predicted every test frame


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"command": "train.py --out {output} --gpu {gpu}"}, "unknown placeholder(s) {gpu}"),
        ({"command": "train.py --data {dataset}"}, "must write its detections to {output}"),
        ({"command": ""}, "expected the shell command to run"),
        ({"command": FRCNN, "threads": 0}, "detectors.x.threads': expected a whole number of at least 1"),
        ({"command": FRCNN, "gpus": "two"}, "detectors.x.gpus'"),
        ({"command": FRCNN, "mem_mb": 0}, "detectors.x.mem_mb': expected a whole number of at least 1"),
        ({"command": FRCNN, "epochs": 3}, "unknown config key 'epochs' under 'detectors.x'"),
        ({"command": FRCNN, "sha256": "0" * 64}, "resources/detectors/fasterrcnn.py has sha256"),
        ({"command": "echo {output}", "sha256": "0" * 64}, "names no existing file"),
        ({"command": "echo { > {output}"}, "detectors.x.command': a lone '{' (write {{ and }} for literal braces)"),
        ({"command": "echo } > {output}"}, "a lone '}'"),
        ({"command": "det.py --out {output!r}"}, "placeholder {output!r} has a conversion or format"),
        ({"command": "det.py --name 'mine --out {output}"}, "(an unbalanced quote)"),
        ({"command": FRCNN, "timeout_min": 0}, "detectors.x.timeout_min': expected a whole number of at least 1"),
        (
            {"command": FRCNN, "sha256": "AB" * 32},
            "has uppercase letters; write it as sha256sum prints it: " + "ab" * 32,
        ),
        ({"command": FRCNN, "sha256": 10**63}, "YAML read it as a number (it has no letters); put it in quotes"),
    ],
)
def test_a_bad_command_entry_is_named(entry, message, monkeypatch):
    monkeypatch.chdir(ROOT)
    problems = command_problems("x", entry)
    assert any(message in p for p in problems), problems


def test_a_commands_file_is_pinned_by_its_checksum(monkeypatch):
    import hashlib

    monkeypatch.chdir(ROOT)
    script = ROOT / "resources" / "detectors" / "fasterrcnn.py"
    assert checked_file(FRCNN) == script.relative_to(ROOT)
    digest = hashlib.sha256(script.read_bytes()).hexdigest()
    assert command_problems("x", {"command": FRCNN, "sha256": digest}) == []


def test_placeholders_are_filled_shell_quoted():
    assert unknown_placeholders("a {dataset} {{literal}} {output}") == []
    filled = fill("run --images {images} --output {output}", {"images": "/data/my images", "output": "/o/d.csv"})
    assert filled == "run --images '/data/my images' --output /o/d.csv"


HOSTILE = ["/r/my results/$(touch {m})/d.csv", "/r/`touch {m}`/d.csv", '/r/it\'s "x" $HOME;touch {m}/d.csv']


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    "template",
    [
        "printf '%s\\n' {output}",  # bare
        "printf '%s\\n' \"{output}\"",  # in double quotes
        "printf '%s\\n' '{output}'",  # in single quotes
        "printf '%s\\n' \"--out={output}\" >/dev/stdout",  # inside a larger double-quoted word
    ],
)
def test_a_placeholder_is_one_word_whether_or_not_it_was_quoted_and_never_runs(tmp_path, template, value):
    """Substituted once, quoted for where it stands: bash sees the path itself, character for
    character, as one argument, and nothing in it runs."""
    marker = tmp_path / "it-ran"
    path = value.format(m=marker)
    log = tmp_path / "command.log"
    run(fill(template, {"output": path}), log, say=lambda line: None)
    printed = log.read_text().splitlines()[1:]
    assert printed == [("--out=" if "--out=" in template else "") + path]
    assert not marker.exists()


def test_the_log_keeps_the_command_line_and_every_line_through_the_jobs_own_stream(tmp_path):
    log_path = tmp_path / "command.log"
    with open(log_path, "w", buffering=1) as job_log:  # as setup_logging opens it
        job_log.write("job header\n")
        run("for i in 1 2 3; do echo line $i; done", job_log, say=lambda line: None)
        job_log.write("job footer\n")
    assert log_path.read_text().splitlines() == [
        "job header",
        "$ for i in 1 2 3; do echo line $i; done",
        "line 1",
        "line 2",
        "line 3",
        "job footer",
    ]


def test_a_command_that_never_ends_is_stopped_with_everything_it_started(tmp_path):
    import time

    child = tmp_path / "child.pid"
    started = time.monotonic()
    with pytest.raises(CommandError, match=r"still running after 0.05 min \(timeout_min\) and was stopped"):
        run(f"sleep 600 & echo $! > {child}; echo waiting; wait", tmp_path / "log", say=lambda _: None, timeout_s=3)
    assert time.monotonic() - started < 30
    pid = int(child.read_text())
    time.sleep(0.2)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_the_file_a_command_runs_is_found_after_its_interpreter_whatever_its_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("python_detector.py", "det.py"):
        (tmp_path / name).write_text("print(1)\n")
    assert checked_file("python python_detector.py --out {output}") == Path("python_detector.py")
    assert checked_file("python3.11 -u det.py {output}") == Path("det.py")
    assert checked_file("{python} det.py {output}") == Path("det.py")
    assert checked_file("python -c 'print(1)' {output}") is None
    assert checked_file("python 'unbalanced {output}") is None  # the configuration check names it


def test_a_failing_command_says_its_last_lines(tmp_path):
    log = tmp_path / "command.log"
    script = "for i in $(seq 1 40); do echo line $i; done; echo 'out of memory' >&2; exit 3"
    with pytest.raises(CommandError) as error:
        run(script, log, say=lambda line: None)
    message = str(error.value)
    assert "exited with status 3" in message and "out of memory" in message and "line 40" in message
    assert "line 1\n" not in message  # only the last lines
    assert "line 1" in log.read_text()


def test_python_in_a_command_is_the_workflows_interpreter(tmp_path):
    log = tmp_path / "command.log"
    run("python -c 'import sys; print(sys.executable)'", log, env={"PATH": "/usr/bin:/bin"}, say=lambda line: None)
    assert str(Path(sys.executable).parent) + "/python" in log.read_text()


def test_detections_map_back_to_frame_pixels_exactly():
    coco = {
        "images": [
            {
                "trial_frame": "S1A2_frame_00000001.jpeg",
                "width": 96,
                "height": 54,
                "original_width": 1920,
                "original_height": 1080,
            },
            {
                "trial_frame": "S1A2_frame_00000002.jpeg",
                "width": 320,
                "height": 180,
                "original_width": 640,
                "original_height": 360,
            },
        ]
    }
    raw = pd.DataFrame(
        {
            "trial_frame": ["S1A2_frame_00000001.jpg", "S1A2_frame_00000002.jpeg"],
            "frame": [1, 2],
            "x1": [4.8, 10.0],
            "y1": [2.7, 20.0],
            "x2": [9.6, 30.5],
            "y2": [5.4, 40.25],
            "score": [0.9, 0.5],
            "label": ["grasper", "needle"],
        }
    )
    mapped = to_frame_pixels(raw, coco)
    assert mapped["trial_frame"].tolist() == ["S1A2_frame_00000001.jpeg", "S1A2_frame_00000002.jpeg"]
    np.testing.assert_allclose(mapped[["x1", "y1", "x2", "y2"]].to_numpy(), [[96, 54, 192, 108], [20, 40, 61, 80.5]])
    with pytest.raises(CommandError, match="not the split's test images: S9A9_frame_00000001"):
        to_frame_pixels(raw.assign(trial_frame="S9A9_frame_00000001.jpg"), coco)
    # frame pixels written by mistake: named in the command's own file, with its own value
    frame_pixels = raw.assign(x2=[1900.0, 30.5])
    with pytest.raises(CommandError) as error:
        to_frame_pixels(frame_pixels, coco, source="the command's output /w/detections.csv")
    assert str(error.value).startswith(
        "the command's output /w/detections.csv: 1 boxes far outside the images the command was given, e.g. "
        "S1A2_frame_00000001.jpg: x2 = 1900 on an image of 96 x 54 px"
    )


def test_costs_are_known_or_empty(tmp_path):
    (tmp_path / "cost.json").write_text(json.dumps({"params": 10, "infer_ms": 2.5, "secret": 1}))
    assert read_cost(tmp_path) == {"params": 10, "infer_ms": 2.5}
    assert read_cost(tmp_path / "none") == {}
    board = pd.DataFrame({"detector": ["yolo", "mine"], "label": ["all", "all"], "ap_voc": [0.5, 0.6]})
    costs = pd.DataFrame([{"detector": "yolo", "params": 100, "gflops": 1.5, "train_device": "cpu"}])
    with_costs = add_costs(board, costs).set_index("detector")
    assert set(COST_COLUMNS) <= set(with_costs.columns)
    assert with_costs.loc["yolo", "params"] == 100 and with_costs.loc["mine", ["params", "gflops"]].isna().all()


def test_the_restricted_unpickler_admits_rtdetr_weights(tmp_path, tiny_rtdetr_pt):
    """An RT-DETR checkpoint (the tiny config, saved as ultralytics saves) loads in the restricted
    unpickler: its classes are model classes."""
    from sospine.detectors.train import checkpoint_problem

    (tmp_path / "rt.pt").write_bytes(tiny_rtdetr_pt)
    assert checkpoint_problem(tmp_path / "rt.pt") is None


@pytest.mark.slow
def test_a_failing_command_detector_stops_with_its_last_lines_on_the_console(workdir):
    from .conftest import run, tiny_config

    failing = "echo writing {output}; echo 'RuntimeError: CUDA out of memory' >&2; exit 3"
    config = tiny_config(workdir, detectors={"broken": {"command": failing, "threads": 1}}, baseline={"detections": ""})
    result = run(workdir, "results/predictions/broken.csv", "--configfile", config, check=False)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors and "exited with status 3" in errors[0], result.stderr[-3000:]
    assert "RuntimeError: CUDA out of memory" in result.stderr  # the command's own last lines, on the console
    assert "Traceback" not in result.stderr
    assert not (workdir / "results" / "predictions" / "broken.csv").exists()


@pytest.mark.slow
def test_the_gpu_benchmark_runs_on_the_cpu_at_tiny_scale(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_train.py"), "--smoke", "--keep", str(tmp_path / "bench")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert any(line.startswith("workflow training: ") and "s/epoch" in line for line in lines), result.stdout
    assert any(line.startswith("bare yolo train: ") and "s/epoch" in line for line in lines), result.stdout
    assert any(line.startswith("ratio workflow / bare: ") for line in lines)
    assert "GPU utilisation not sampled (no nvidia-smi" in result.stdout or "GPU utilisation mean" in result.stdout


def test_a_model_file_whose_name_and_head_disagree_is_one_line(tmp_path):
    from sospine.config import ConfigError, check, coerce, deep_merge

    from .test_config import FILE_CONFIG, SCHEMA

    yolo_head = (ROOT / "resources" / "models" / "yolo11t-sospine.yaml").read_text()
    misnamed = tmp_path / "rtdetr-small.yaml"
    misnamed.write_text(yolo_head)
    config = coerce(deep_merge(FILE_CONFIG, {"detectors": {"rt": {"model": str(misnamed)}}}), SCHEMA)
    with pytest.raises(ConfigError, match=r"detectors.rt.model': .*rtdetr-small.yaml is named like an RT-DETR model"):
        check(config, SCHEMA)
    rtdetr_head = tmp_path / "small.yaml"
    rtdetr_head.write_text((ROOT / "resources" / "models" / "rtdetr-sospine.yaml").read_text())
    config = coerce(deep_merge(FILE_CONFIG, {"train": {"model": str(rtdetr_head)}}), SCHEMA)
    with pytest.raises(ConfigError, match=r"train.model': .*small.yaml has an RTDETRDecoder head but is not named"):
        check(config, SCHEMA)


@pytest.mark.parametrize(
    ("sha256", "message"),
    [
        ("AB" * 32, "config key 'train.sha256': has uppercase letters; write it as sha256sum prints it: " + "ab" * 32),
        (10**63, "config key 'train.sha256': YAML read it as a number (it has no letters); put it in quotes"),
        ("abc", "config key 'train.sha256': expected the file's sha256, 64 hex digits as sha256sum prints them"),
    ],
)
def test_a_checksum_that_is_not_one_is_said_in_words(sha256, message):
    from sospine.config import ConfigError, check, coerce, deep_merge

    from .test_config import FILE_CONFIG, SCHEMA

    config = coerce(deep_merge(FILE_CONFIG, {"train": {"sha256": sha256}}), SCHEMA)
    with pytest.raises(ConfigError) as error:
        check(config, SCHEMA)
    assert str(error.value).startswith(message)
    detector = coerce(deep_merge(FILE_CONFIG, {"detectors": {"ft": {"model": "mine.pt", "sha256": sha256}}}), SCHEMA)
    with pytest.raises(ConfigError, match="config key 'detectors.ft.sha256': "):
        check(detector, SCHEMA)


@pytest.mark.slow
def test_a_shell_expression_in_the_output_folder_stays_a_path_with_quoted_placeholders(workdir):
    """An output folder holding a space, `$(...)` and backticks, and a command that quotes its
    placeholders as a careful user would ("{coco}"): the command gets the paths as they are, nothing
    in them runs, and its log starts with the command line."""
    from .conftest import run, tiny_config

    output_dir = "res dir $(touch RAN-DOLLAR) `touch RAN-TICK`"
    oracle = f'python "{ROOT / "tests" / "oracle_detector.py"}" "{{coco}}" \'{{output}}\''
    config = tiny_config(workdir, detectors={"oracle": {"command": oracle, "threads": 1}}, baseline={"detections": ""})
    target = f"{output_dir}/predictions/oracle.csv"
    result = run(workdir, target, "--configfile", config, "--config", f"output_dir={output_dir}", check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    assert not list(workdir.rglob("RAN-*")), "a path ran as a shell command"
    assert (workdir / target).is_file()
    log_lines = (workdir / output_dir / "logs" / "command" / "oracle.log").read_text().splitlines()
    command_lines = [line for line in log_lines if line.startswith("$ python ")]
    assert len(command_lines) == 1 and "oracle: " in "\n".join(log_lines)
