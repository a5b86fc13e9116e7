"""The GPU path, measured: the workflow's training (sospine.detectors.train.train, what the `train` rule runs)
against bare `yolo train` on the same dataset.yaml with the same settings, on a full-size synthetic
set (1920x1080 frames exported as the workflow exports them), with GPU utilisation sampled by
nvidia-smi during each training.

    python benchmarks/gpu_train.py                  # yolo11s at 640 px, 8 trials x 60 frames, 5 epochs
    python benchmarks/gpu_train.py --trials 24 --frames 120 --epochs 10 --batch 32
    python benchmarks/gpu_train.py --smoke          # the CPU, tiny: what the test suite runs

Prints seconds per epoch of both and their ratio (the workflow's overhead), and the GPU's mean and
median utilisation during each; a median well below ~70% says the dataloader does not keep it busy
(raise `train.workers` or the job's threads).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class GpuSampler:
    """nvidia-smi's utilisation (%) and memory (MiB) of every GPU, twice a second, while running."""

    def __init__(self, interval: float = 0.5):
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self.available = shutil.which("nvidia-smi") is not None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        query = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"]
        while not self._stop.is_set():
            try:
                lines = subprocess.run(query, capture_output=True, text=True, timeout=5).stdout.strip().splitlines()
                for line in lines:
                    utilisation, memory = (float(v) for v in line.split(","))
                    self.samples.append((utilisation, memory))
            except (OSError, ValueError, subprocess.SubprocessError):
                pass
            self._stop.wait(self.interval)

    def __enter__(self) -> GpuSampler:
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self.available:
            self._thread.join(timeout=10)

    def summary(self) -> str:
        if not self.available:
            return "GPU utilisation not sampled (no nvidia-smi: no GPU here)"
        if not self.samples:
            return "GPU utilisation: no sample"
        use = [u for u, _ in self.samples]
        memory = max(m for _, m in self.samples)
        busy = "keeps the GPU busy" if statistics.median(use) >= 70 else "does NOT keep the GPU busy"
        return (
            f"GPU utilisation mean {statistics.mean(use):.0f}%, median {statistics.median(use):.0f}% "
            f"({len(use)} samples), peak memory {memory:.0f} MiB: the dataloader {busy}"
        )


def seconds_per_epoch(results_csv: Path, wall: float, epochs: int) -> float:
    """From ultralytics' results.csv (its cumulative `time` column), else wall time / epochs."""
    import pandas as pd

    try:
        table = pd.read_csv(results_csv)
        table.columns = [c.strip() for c in table.columns]
        if "time" in table and len(table):
            return float(table["time"].iloc[-1]) / len(table)
    except (OSError, ValueError):
        pass
    return wall / epochs


def build_dataset(folder: Path, args: argparse.Namespace) -> Path:
    """Synthetic frames at full size, split by trial and exported as the workflow exports them."""
    import numpy as np

    from sospine.data.synth import SynthSpec, generate
    from sospine.dataset.export import export_yolo
    from sospine.tables import read_annotations, with_frame_columns

    spec = SynthSpec(seed=0, trials=args.trials, frames_per_trial=args.frames, width=args.width, height=args.height)
    started = time.monotonic()
    paths = generate(spec, folder / "raw")
    boxes = read_annotations(paths["sospine_bbox.csv"])
    frames = with_frame_columns(boxes).drop_duplicates("trial_frame")[["trial_frame", "trial"]]
    trials = sorted(frames["trial"].unique())
    frames["split"] = np.select([frames["trial"] == trials[0], frames["trial"] == trials[1]], ["test", "val"], "train")
    export_yolo(
        paths["frames.zip"], boxes, frames, folder / "yolo", max_side=args.max_side, workers=os.cpu_count() or 2
    )
    print(
        f"dataset: {args.trials} trials x {args.frames} frames at {args.width}x{args.height}, exported to "
        f"{args.max_side} px in {time.monotonic() - started:.0f} s"
    )
    return folder / "yolo" / "dataset.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="the CPU at tiny scale (what the tests run)")
    parser.add_argument("--model", default="yolo11s.yaml", help="model file (default yolo11s.yaml, from scratch)")
    parser.add_argument("--trials", type=int, default=8, help="synthetic trials (default 8)")
    parser.add_argument("--frames", type=int, default=60, help="frames per trial (default 60)")
    parser.add_argument("--width", type=int, default=1920, help="frame width (default 1920)")
    parser.add_argument("--height", type=int, default=1080, help="frame height (default 1080)")
    parser.add_argument("--max-side", type=int, default=640, help="exported image side (default 640)")
    parser.add_argument("--imgsz", type=int, default=640, help="training image size (default 640)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of each training (default 5)")
    parser.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
    parser.add_argument("--workers", type=int, default=8, help="dataloader workers (default 8)")
    parser.add_argument("--device", default="0", help="device (default 0, the first GPU)")
    parser.add_argument("--keep", default=None, help="keep the dataset and runs in this folder")
    args = parser.parse_args()
    if args.smoke:
        args.model, args.trials, args.frames, args.width, args.height = "yolo11n.yaml", 3, 6, 192, 108
        args.max_side, args.imgsz, args.epochs, args.batch, args.workers, args.device = 96, 64, 1, 8, 0, "cpu"

    folder = Path(args.keep or tempfile.mkdtemp(prefix="sospine-gpu-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT / "src"))
    from sospine.detectors.train import offline_ultralytics, train

    settings = folder / "ultralytics"
    offline_ultralytics(settings)  # the bare run gets the same offline settings through the environment
    dataset = build_dataset(folder, args)
    common = dict(epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, seed=0, workers=args.workers)

    with GpuSampler() as ours:
        started = time.monotonic()
        run_dir = train(dataset, folder / "workflow", model=args.model, device=args.device, plots=False, **common)
        ours_wall = time.monotonic() - started
    bare_command = [
        str(Path(sys.executable).parent / "yolo"),
        "train",
        f"model={args.model}",
        f"data={dataset}",
        f"device={args.device}",
        f"project={folder / 'bare'}",
        "name=run",
        "exist_ok=True",
        "plots=False",
        "deterministic=True",
        *(f"{key}={value}" for key, value in common.items()),
    ]
    env = dict(os.environ, YOLO_CONFIG_DIR=str(settings.resolve()), YOLO_OFFLINE="1")
    with GpuSampler() as bare:
        started = time.monotonic()
        subprocess.run(bare_command, check=True, env=env, capture_output=True)
        bare_wall = time.monotonic() - started

    ours_epoch = seconds_per_epoch(run_dir / "results.csv", ours_wall, args.epochs)
    bare_epoch = seconds_per_epoch(folder / "bare" / "run" / "results.csv", bare_wall, args.epochs)
    device = (
        "CPU" if args.device == "cpu" else os.popen("nvidia-smi --query-gpu=name --format=csv,noheader").read().strip()
    )
    print(
        f"device: {device or args.device}; {args.model} at {args.imgsz} px, batch {args.batch}, {args.workers} workers"
    )
    print(f"workflow training: {ours_epoch:.2f} s/epoch ({ours_wall:.0f} s for {args.epochs} epochs); {ours.summary()}")
    print(f"bare yolo train:   {bare_epoch:.2f} s/epoch ({bare_wall:.0f} s for {args.epochs} epochs); {bare.summary()}")
    print(f"ratio workflow / bare: {ours_epoch / bare_epoch:.2f}")
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
