"""What a training leaves behind, for the rules and the board: its weights, metrics and figures
published as outputs with its arguments and environment, and its cost (epochs, seconds, device,
parameters and GFLOPs)."""

from __future__ import annotations

import json
import platform
import shutil
from pathlib import Path

import pandas as pd

from sospine.data.files import link_or_copy


def environment() -> dict:
    import torch
    import ultralytics

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "ultralytics": ultralytics.__version__,
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "platform": platform.platform(),
    }


PLOT_SUFFIXES = (".png", ".jpg")


def publish_run(run_dir: Path, out: dict[str, str], args: dict) -> None:
    """The run's weights (hard links: one copy on disk), metrics and ultralytics' figures as the
    rule's outputs, and the arguments beside them."""
    link_or_copy(run_dir / "weights" / "best.pt", Path(out["best"]))
    link_or_copy(run_dir / "weights" / "last.pt", Path(out["last"]))
    if "plots" in out:
        plots = Path(out["plots"])
        plots.mkdir(parents=True, exist_ok=True)
        for figure in sorted(run_dir.iterdir()):
            if figure.suffix in PLOT_SUFFIXES:
                shutil.copyfile(figure, plots / figure.name)
    results = pd.read_csv(run_dir / "results.csv")
    results.columns = [c.strip() for c in results.columns]
    results.to_csv(out["results"], index=False)
    trained_on = _trained_device(run_dir)
    record = {"arguments": args, "run_dir": str(run_dir), "device": trained_on, "environment": environment()}
    Path(out["args"]).write_text(json.dumps(record, indent=2, default=str) + "\n")


def _trained_device(run_dir: Path) -> str:
    """The device ultralytics trained on, from the run's args.yaml ("cpu", "0", "0,1")."""
    import yaml

    try:
        return str((yaml.safe_load((run_dir / "args.yaml").read_text()) or {}).get("device") or "")
    except (OSError, yaml.YAMLError):
        return ""


def model_size(network, imgsz: int) -> dict:
    """Parameters and GFLOPs (at `imgsz`, ultralytics' own count) of a network."""
    from ultralytics.utils.torch_utils import get_flops, get_num_params

    flops = get_flops(network, imgsz)
    return {"params": int(get_num_params(network)), "gflops": round(float(flops), 3) if flops else None}


def device_name(device: str) -> str:
    """`cpu`, or the GPUs by name (`cuda:0 NVIDIA H200`)."""
    if device == "cpu":
        return "cpu"
    import torch

    return ", ".join(f"cuda:{i} {torch.cuda.get_device_name(int(i))}" for i in device.split(","))


def training_cost(train_args: str | Path, results_csv: str | Path) -> dict:
    """Epochs, training seconds and device of a finished training, from what `publish_run` wrote:
    ultralytics' results.csv (its `time` column is the cumulative training time, resumes included)."""
    record = json.loads(Path(train_args).read_text())
    results = pd.read_csv(results_csv)
    results.columns = [c.strip() for c in results.columns]
    seconds = float(results["time"].iloc[-1]) if "time" in results and len(results) else None
    environment = record.get("environment", {})
    device = str(record.get("device") or "")
    if not device:
        device = "cpu" if not environment.get("gpu") else "cuda"
    name = "cpu" if device == "cpu" else f"cuda:{device} {environment.get('gpu') or ''}".strip()
    return {"epochs": int(len(results)), "train_s": seconds, "train_device": name}
