"""Detectors of every kind: ultralytics families by model name, command detectors of any framework
(their configuration, placeholders, failures and the mapping back to frame pixels), and costs."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sospine.commands import CommandError, checked_file, fill, read_cost, run, to_frame_pixels, unknown_placeholders
from sospine.detectors import command_problems, family, resolve, scored_trials
from sospine.leaderboard import COST_COLUMNS, add_costs

from .conftest import ROOT

FRCNN = (
    "python resources/detectors/fasterrcnn.py --coco {coco} --images {images} --work-dir {work_dir} --output {output}"
)


def test_the_family_follows_the_model_file_name():
    from sospine.train import ultralytics_class

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
    from sospine.train import checkpoint_problem

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
