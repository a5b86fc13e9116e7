"""Real (tiny) ultralytics training on CPU: offline, resumable, detections in original pixels."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sospine import constants
from sospine.data.synth import SynthSpec, generate
from sospine.dataset.export import export_yolo
from sospine.detectors.train import TrainingError, dataset_fingerprint, resolve_device, to_original_pixels
from sospine.tables import read_annotations, with_frame_columns

from .conftest import ROOT

pytestmark = pytest.mark.slow  # real trainings
MODEL = str(ROOT / "resources" / "models" / "yolo11t-sospine.yaml")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("yolo")
    paths = generate(SynthSpec(seed=2, trials=4, frames_per_trial=12, width=192, height=108), root / "raw")
    boxes = read_annotations(paths[constants.BBOX_CSV])
    frames = with_frame_columns(boxes).drop_duplicates("trial_frame")[["trial_frame", "trial"]]
    frames["split"] = np.select([frames["trial"] == "Clip0", frames["trial"] == "Clip1"], ["test", "val"], "train")
    export_yolo(paths[constants.FRAMES_ZIP], boxes, frames, root / "yolo", max_side=96)
    return root / "yolo", boxes


TRAIN_SCRIPT = textwrap.dedent("""
    import json, socket, sys
    attempts = []
    def guard(event, args):
        if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
            target = args[1] if event == "socket.connect" else args[0]
            text = str(target)
            if not (text.startswith(("127.", "('127.", "/")) or "localhost" in text):
                attempts.append(f"{event} {text}")
                with open(sys.argv[3], "a") as f:
                    f.write(f"{event} {text}\\n")
                raise OSError(f"network blocked by test: {event} {text}")
    sys.addaudithook(guard)
    from sospine.detectors.train import train
    run = train(sys.argv[1], sys.argv[2], model=sys.argv[4], epochs=int(sys.argv[5]), imgsz=64, batch=8, device="cpu",
                seed=0, workers=0, progress=lambda line: print("CONSOLE", line, flush=True))
    print("RUN_DIR", run)
""")


def start_training(dataset_yaml: Path, work: Path, epochs: int, blocked_log: Path) -> subprocess.Popen:
    script = work.parent / "train_blocked.py"
    script.write_text(TRAIN_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), HOME=str(work.parent / "home"))
    return subprocess.Popen(
        [sys.executable, str(script), str(dataset_yaml), str(work), str(blocked_log), MODEL, str(epochs)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def test_training_offline_killed_and_resumed(dataset, tmp_path):
    yolo, _ = dataset
    blocked = tmp_path / "blocked.txt"
    work = tmp_path / "train"
    proc = start_training(yolo / "dataset.yaml", work, 4, blocked)
    deadline = time.monotonic() + 600
    results = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = list(work.glob("runs/*/results.csv"))
        if found and len(pd.read_csv(found[0])) >= 1 and list(work.glob("runs/*/weights/last.pt")):
            results = found[0]
            break
        time.sleep(0.5)
    assert results is not None, proc.communicate()[0][-3000:]
    os.killpg(proc.pid, signal.SIGKILL)  # pre-emption: no chance to clean up
    proc.wait(timeout=30)
    interrupted_at = len(pd.read_csv(results))
    assert interrupted_at < 4

    proc = start_training(yolo / "dataset.yaml", work, 4, blocked)
    output, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, output[-4000:]
    epochs = pd.read_csv(results)["epoch"].tolist()
    assert epochs == [1, 2, 3, 4], epochs  # the same epochs as an uninterrupted run
    assert "Resuming training" in output or "resuming run" in output.lower()
    assert not blocked.exists(), blocked.read_text()
    assert (results.parent / "weights" / "best.pt").exists()
    # one console line per epoch of the resumed run, and no progress-bar redraws in the output
    console = [line for line in output.splitlines() if line.startswith("CONSOLE train yolo: epoch ")]
    shown = [int(line.split()[4].split("/")[0]) for line in console]
    assert shown == list(range(shown[0], 5)) and 1 < shown[0] <= interrupted_at + 1, console  # resumed, to 4/4
    assert all("val mAP50" in line and "s/epoch" in line and "ETA" in line for line in console)
    assert "\r" not in output
    # ultralytics' own figures, made offline (the font is provided, the network blocked)
    assert (results.parent / "results.png").exists() and (results.parent / "confusion_matrix.png").exists()
    settings = work / "ultralytics"
    assert (settings / "Ultralytics" / "settings.json").exists() and not (
        tmp_path / "home" / ".config" / "Ultralytics"
    ).exists()


def test_the_dataset_fingerprint_is_its_content_but_ultralytics_caches(tmp_path):
    """A resumed training must find the run folder of the first: ultralytics' label caches, written
    into the dataset on the first training, do not make it another dataset; a changed label does."""
    (tmp_path / "labels" / "train").mkdir(parents=True)
    (tmp_path / "images" / "train").mkdir(parents=True)
    (tmp_path / "dataset.yaml").write_text("path: .\n")
    label = tmp_path / "labels" / "train" / "a.txt"
    label.write_text("0 0.5 0.5 0.1 0.1\n")
    before = dataset_fingerprint(tmp_path / "dataset.yaml")
    (tmp_path / "labels" / "train.cache").write_bytes(b"ultralytics")
    (tmp_path / "labels" / "val.cache.npy").write_bytes(b"ultralytics")
    assert dataset_fingerprint(tmp_path / "dataset.yaml") == before
    label.write_text("1 0.5 0.5 0.1 0.1\n")
    assert dataset_fingerprint(tmp_path / "dataset.yaml") != before


def test_device_resolution():
    import torch

    assert resolve_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto") == "cpu"
        with pytest.raises(TrainingError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_predictions_map_back_to_original_pixels(dataset, tmp_path):
    """Feed the exported test labels back through the prediction mapping: boxes in original pixels."""
    yolo, boxes = dataset
    coco = json.loads((yolo / "coco" / "test.json").read_text())
    image = coco["images"][0]
    assert (image["original_width"], image["original_height"]) == (192, 108) and (image["width"], image["height"]) == (
        96,
        54,
    )
    for ann in (a for a in coco["annotations"] if a["image_id"] == image["id"]):
        x, y, w, h = ann["bbox"]  # a perfect detection on the exported image
        mapped = to_original_pixels(np.array([x, y, x + w, y + h]), image)[0]
        truth = boxes[
            (boxes["trial_frame"] == image["trial_frame"])
            & (boxes["label"] == constants.BOX_LABELS[ann["category_id"] - 1])
        ]
        clipped = np.clip(truth[["x1", "y1", "x2", "y2"]].to_numpy(float)[0], 0, [192, 108, 192, 108])
        assert np.allclose(mapped, clipped, atol=1)


def test_resume_forgets_epochs_whose_checkpoint_was_not_written(tmp_path):
    import torch

    from sospine.detectors.train import forget_unsaved_epochs

    (tmp_path / "weights").mkdir()
    torch.save({"epoch": 1}, tmp_path / "weights" / "last.pt")  # epochs 1 and 2 (0-based 0, 1) are saved
    pd.DataFrame({"epoch": [1, 2, 3], "time": [1.0, 2.0, 3.0]}).to_csv(tmp_path / "results.csv", index=False)
    assert forget_unsaved_epochs(tmp_path) == 2
    assert pd.read_csv(tmp_path / "results.csv")["epoch"].tolist() == [1, 2]


def test_one_trainer_per_run_folder(tmp_path):
    """A second trainer on the same run folder is refused while the first lives; a dead one's lock
    is taken over."""
    import socket

    from sospine.detectors.train import LOCK_NAME, TrainingError, run_folder_lock

    run_dir = tmp_path / "runs" / "abc"
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run_dir.mkdir(parents=True)
        (run_dir / LOCK_NAME).write_text(f"{socket.gethostname()} {owner.pid}\n")
        with (
            pytest.raises(TrainingError, match=f"in use by another training \\(pid {owner.pid}"),
            run_folder_lock(run_dir),
        ):
            pass
    finally:
        owner.kill()
        owner.wait()
    with run_folder_lock(run_dir):  # the owner is gone: its lock is stale
        owner_record = json.loads((run_dir / LOCK_NAME).read_text())
        assert (owner_record["host"], owner_record["pid"]) == (socket.gethostname(), os.getpid())
        with pytest.raises(TrainingError, match="in use"), run_folder_lock(run_dir):
            pass
    assert not (run_dir / LOCK_NAME).exists()


def test_two_gpus_train_together_and_workers_follow_threads(tmp_path, monkeypatch):
    """What reaches ultralytics on a 2-GPU node with 8 threads (no GPU here: the visible count is
    given, ultralytics' trainer is a recording stand-in)."""
    import ultralytics

    from sospine.detectors import train as train_module

    calls = []

    class RecordingYOLO:
        def __init__(self, model):
            self.model = model

        def add_callback(self, *args):
            pass

        def train(self, project, name, **args):
            calls.append(args)
            run = Path(project) / name
            (run / "weights").mkdir(parents=True)
            (run / "results.csv").write_text("epoch\n1\n")

    monkeypatch.setattr(ultralytics, "YOLO", RecordingYOLO)
    monkeypatch.setattr(
        train_module, "resolve_device", lambda device, gpus: train_module.device_string(device, gpus, 2)
    )
    common = dict(model="yolo11n.yaml", epochs=1, imgsz=64, batch=8, device="auto", seed=0)
    train_module.train("data.yaml", tmp_path / "a", **common, workers="auto", gpus=2, threads=8)
    train_module.train("data.yaml", tmp_path / "b", **common, workers="auto", gpus=1, threads=8)
    train_module.train("data.yaml", tmp_path / "c", **common, workers=3, gpus=2, threads=8)
    assert [(c["device"], c["workers"]) for c in calls] == [("0,1", 4), ("0", 8), ("0,1", 3)]


DISK_FULL_SCRIPT = textwrap.dedent("""
    import resource, sys
    from pathlib import Path
    from sospine.detectors.train import TrainingError, offline_ultralytics, train
    offline_ultralytics(Path(sys.argv[2]).resolve() / "ultralytics")  # its fonts are in place before the disk fills
    limit = int(sys.argv[3])
    if limit:  # files may grow to `limit` bytes: a full disk, as the training meets it
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        run = train(sys.argv[1], sys.argv[2], model=sys.argv[4], epochs=2, imgsz=64, batch=8, device="cpu",
                    seed=0, workers=0, plots=False, progress=lambda line: print("CONSOLE", line, flush=True))
    except TrainingError as error:
        print("ERROR", error, flush=True)
        sys.exit(1)
    print("RUN_DIR", run)
""")


def test_a_full_disk_is_one_line_and_the_cut_checkpoint_is_set_aside(dataset, tmp_path):
    """Training on a disk that fills up (files limited to 300 kB) fails with one line naming the run
    folder and leaves a cut last.pt; once there is space, the same call sets it aside and trains."""
    yolo, _ = dataset
    script = tmp_path / "disk_full.py"
    script.write_text(DISK_FULL_SCRIPT)
    work = tmp_path / "train"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))

    def attempt(limit: int) -> subprocess.CompletedProcess:
        command = [sys.executable, str(script), str(yolo / "dataset.yaml"), str(work), str(limit), MODEL]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)

    full = attempt(300_000)
    assert full.returncode == 1, full.stdout[-3000:] + full.stderr[-3000:]
    (line,) = [line for line in full.stdout.splitlines() if line.startswith("ERROR ")]
    assert "File too large" in line and str(work / "runs") in line and "run the same command again" in line
    (last,) = work.glob("runs/*/weights/last.pt")
    cut_size = last.stat().st_size
    assert 0 < cut_size <= 300_000  # cut where the disk was full

    again = attempt(0)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    notes = [line for line in again.stdout.splitlines() if "set aside" in line]
    assert notes and "cut short or corrupt" in notes[0] and "training from the start" in notes[0]
    run_dir = Path(again.stdout.split("RUN_DIR ")[-1].strip())
    assert pd.read_csv(run_dir / "results.csv")["epoch"].tolist() == [1, 2]
    (aside,) = run_dir.parent.glob(f"{run_dir.name}.set-aside-*")
    assert (aside / "weights" / "last.pt").stat().st_size == cut_size and "cut short" in (aside / "WHY.txt").read_text()
