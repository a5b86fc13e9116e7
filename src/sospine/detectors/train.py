"""Detector training and inference with ultralytics, offline and traceable.

Ultralytics keeps settings in the home directory, phones home, and downloads fonts and weights on
demand. `offline_ultralytics` points its settings at a folder inside results/ and turns all of
that off before ultralytics is imported, so a run touches nothing outside the project.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from sospine.constants import BOX_LABELS, DETECTION_COLUMNS, FRAME_NAME_RE
from sospine.dataset.export import to_original_pixels
from sospine.detectors.train_records import device_name, model_size, publish_run, training_cost  # noqa: F401 - as before
from sospine.progress import epoch_line
from sospine.provenance.locks import LockedError, held

log = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    pass


def offline_ultralytics(settings_dir: str | Path):
    """Import ultralytics with its settings under `settings_dir`, offline, no telemetry."""
    settings_dir = Path(settings_dir).resolve()
    settings_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_CONFIG_DIR"] = str(settings_dir)
    os.environ["YOLO_OFFLINE"] = "1"
    # ultralytics' own restricted loading for every checkpoint it reads (after sospine.detectors.checkpoints' gate)
    os.environ["ULTRALYTICS_SAFE_LOAD"] = "1"
    os.environ.setdefault("MPLBACKEND", "Agg")
    # ultralytics downloads Arial.ttf for its plots unless the font is in its settings folder:
    # provide matplotlib's DejaVu Sans under those names instead
    import matplotlib

    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    user_config_dir = settings_dir / "Ultralytics"  # where ultralytics looks, under YOLO_CONFIG_DIR
    user_config_dir.mkdir(exist_ok=True)
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        font = user_config_dir / name
        if not font.exists() or font.stat().st_size != dejavu.stat().st_size:
            partial = font.with_suffix(".part")
            shutil.copyfile(dejavu, partial)  # whole or not at all: a full disk leaves no cut font
            partial.replace(font)
    import ultralytics
    import ultralytics.nn.tasks
    import ultralytics.utils.tqdm
    from ultralytics.utils import SETTINGS

    ultralytics.nn.tasks.SAFE_LOAD = True  # also where ultralytics was imported before the variable was set

    # progress bars as plain final lines, without carriage-return redraws: the log stays readable
    ultralytics.utils.tqdm.is_noninteractive_console = lambda: True

    SETTINGS.update(
        {
            "sync": False,
            "runs_dir": str(settings_dir / "runs"),
            "weights_dir": str(settings_dir / "weights"),
            "datasets_dir": str(settings_dir / "datasets"),
            "clearml": False,
            "comet": False,
            "dvc": False,
            "mlflow": False,
            "raytune": False,
            "tensorboard": False,
            "wandb": False,
        }
    )
    return ultralytics


def resolve_device(device: str | int, gpus: int = 1) -> str:
    """`auto` -> the GPUs when there are any, else CPU; `cuda` without a GPU is an error. See `device_string`."""
    import torch

    return device_string(device, gpus, torch.cuda.device_count() if torch.cuda.is_available() else 0)


def device_string(device: str | int, gpus: int, n_visible: int) -> str:
    """ultralytics' device argument: `gpus` > 1 trains on that many devices ("0,1": DDP).

    A scheduler exposes only the GPUs it booked (CUDA_VISIBLE_DEVICES), numbered from 0.

    >>> device_string("auto", 1, 0), device_string("auto", 2, 2), device_string("cuda", 4, 4), device_string(1, 1, 2)
    ('cpu', '0,1', '0,1,2,3', '1')
    """
    text = str(device).strip().lower()
    if text == "cpu" or (text == "auto" and n_visible == 0):
        return "cpu"
    if n_visible == 0:
        raise TrainingError(f"train.device is {device!r} but no CUDA GPU is visible here; use 'auto' or 'cpu'")
    if text not in ("auto", "cuda"):
        return text
    if gpus > n_visible:
        log.warning("train.gpus is %d but %d GPU(s) are visible: training on %d", gpus, n_visible, n_visible)
    return ",".join(str(i) for i in range(max(1, min(gpus, n_visible))))


def dataloader_workers(setting: int | str, threads: int, device: str) -> int:
    """Dataloader processes per device: `auto` gives each GPU its share of the job's threads (a GPU
    that Slurm gave 8 CPUs is fed by 8 workers), the CPU 2 (there the main process does the work).

    >>> dataloader_workers("auto", 8, "0"), dataloader_workers("auto", 8, "0,1"), dataloader_workers("auto", 8, "cpu")
    (8, 4, 2)
    >>> dataloader_workers(3, 8, "0")
    3
    """
    if setting != "auto":
        return int(setting)
    if device == "cpu":
        return min(2, threads)
    return max(1, threads // len(device.split(",")))


def checkpoint_problem(path: str | Path) -> str | None:
    """Why a checkpoint or weights file may not be loaded, or None: not a complete torch archive
    (an HTML page, cut short by a full disk or a kill), or a pickle that holds anything but a model
    (see `sospine.detectors.checkpoints`, the gate every checkpoint passes)."""
    from sospine.detectors.checkpoints import problem

    return problem(path)


def set_aside(run_dir: Path, reason: str) -> Path:
    """Move a run folder's files (not its lock) into a sibling folder, so the run starts over."""
    aside = run_dir.with_name(f"{run_dir.name}.set-aside-{time.strftime('%Y%m%d-%H%M%S')}")
    aside.mkdir(parents=True, exist_ok=True)
    for child in run_dir.iterdir():
        if child.name != LOCK_NAME:
            shutil.move(str(child), aside / child.name)
    (aside / "WHY.txt").write_text(reason + "\n")
    return aside


def ultralytics_class(model: str):  # noqa: ANN201 - ultralytics.YOLO or ultralytics.RTDETR
    """The ultralytics class that trains and runs a model file: RTDETR for a name starting with
    `rtdetr` (rtdetr-l.yaml, rtdetr-x.pt, resources/models/rtdetr-sospine.yaml), YOLO otherwise."""
    from ultralytics import RTDETR, YOLO

    from sospine.detectors.kinds import family

    return RTDETR if family(model) == "rtdetr" else YOLO


def run_key(args: dict) -> str:
    """Short hash of the resolved training arguments: a run dir is only resumed by the same arguments."""
    return hashlib.sha256(json.dumps(args, sort_keys=True, default=str).encode()).hexdigest()[:12]


# what ultralytics itself writes into a dataset (labels/train.cache, ...) on its first training
ULTRALYTICS_DATASET_FILES = (".cache", ".cache.npy")


def dataset_fingerprint(dataset_yaml: str | Path) -> str:
    """md5 of a YOLO dataset's content: dataset.yaml and every file under images/ and labels/ but the
    caches ultralytics adds (a resumed training would otherwise see another dataset and start over)."""
    from sospine.data.files import md5sum

    root = Path(dataset_yaml).parent
    if not Path(dataset_yaml).is_file():
        return ""  # ultralytics names the missing file itself
    digest = hashlib.md5(Path(dataset_yaml).read_bytes())
    for folder in ("images", "labels"):
        if (root / folder).is_dir():
            digest.update(md5sum(root / folder, skip_suffixes=ULTRALYTICS_DATASET_FILES).encode())
    return digest.hexdigest()


def completed_epochs(run_dir: Path) -> int:
    results = run_dir / "results.csv"
    return len(pd.read_csv(results)) if results.exists() else 0


def forget_unsaved_epochs(run_dir: Path) -> int:
    """Drop results.csv rows of epochs that last.pt does not hold; return the epochs it holds.

    ultralytics writes an epoch's metrics before its checkpoint, so a job killed between the two
    leaves a row for an epoch that the resumed run trains again (and would log twice).
    """
    from sospine.detectors.checkpoints import read

    checkpoint = read(run_dir / "weights" / "last.pt")
    saved = int(checkpoint.get("epoch", -1)) + 1  # 0-based epoch index in the checkpoint
    results = run_dir / "results.csv"
    if results.exists() and saved > 0:
        table = pd.read_csv(results)
        epoch = next(c for c in table.columns if c.strip() == "epoch")  # 1-based, padded in older ultralytics
        table[table[epoch] <= saved].to_csv(results, index=False)
    return saved


LOCK_NAME = "trainer.lock"


@contextmanager
def run_folder_lock(run_dir: Path) -> Iterator[None]:
    """One trainer per run folder: a second one (a rerun while an orphaned training still runs, say
    after Snakemake's parent was killed) would resume the same folder concurrently. A lock of a
    process that is gone is taken over (see `sospine.provenance.locks`)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with held(run_dir / LOCK_NAME, str(run_dir), describe="training"):
            yield
    except LockedError as error:
        raise TrainingError(str(error)) from None


def train(
    dataset_yaml: str | Path,
    work_dir: str | Path,
    *,
    model: str,
    epochs: int,
    imgsz: int,
    batch: int,
    device: str | int,
    seed: int,
    workers: int | str,
    plots: bool = True,
    extra: dict | None = None,
    progress: Callable[[str], None] | None = None,
    name: str = "yolo",
    gpus: int = 1,
    threads: int = 1,
    sha256: str | None = None,
) -> Path:
    """Train (or resume, or reuse a finished run with the same arguments); return the run folder.

    The run folder is `<work_dir>/runs/<hash of the arguments>`; a killed run resumes from its
    `weights/last.pt` when called again with the same arguments, and a `last.pt` that does not load
    (cut short by a full disk or a kill) is set aside and the run starts over. `.pt` weights are
    loaded only when their sha256 (`sha256`, or the published one) matches. `progress` gets one line
    per epoch and the resume, reuse and restart notes.
    """
    from sospine.config import extra_problems

    refused = extra_problems(extra or {}, "extra")
    if refused:  # the configuration check refuses these first; a direct call is held to the same gate
        raise TrainingError("; ".join(refused))
    work = Path(work_dir).resolve()
    offline_ultralytics(work / "ultralytics")
    detector_class = ultralytics_class(model)

    resolved_device = resolve_device(device, gpus)
    workers = dataloader_workers(workers, threads, resolved_device)
    args = {
        "data": str(Path(dataset_yaml).resolve()),
        "model": model,
        "epochs": epochs,
        "imgsz": imgsz,
        "batch": batch,
        "device": resolved_device,
        "seed": seed,
        "workers": workers,
        "deterministic": True,
        "plots": plots,
        "exist_ok": True,
        "verbose": True,
        **(extra or {}),
    }
    # the run folder belongs to these arguments and this dataset's content: a new export (other image
    # size, other split) trains anew instead of reusing a run made from the old images
    key = run_key({**{k: v for k, v in args.items() if k != "device"}, "dataset": dataset_fingerprint(dataset_yaml)})
    run_dir = work / "runs" / key
    say = progress or log.info
    if model.endswith(".pt"):
        verify_weights(model, sha256)
    with run_folder_lock(run_dir):
        last = run_dir / "weights" / "last.pt"
        done = completed_epochs(run_dir)
        if (run_dir / "weights" / "best.pt").exists() and done >= epochs and (run_dir / "finished").exists():
            say(f"train {name}: run {key} already finished {done} epochs; reusing it")
            return run_dir
        problem = checkpoint_problem(last) if last.exists() else None
        if problem:
            aside = set_aside(run_dir, f"{last} is {problem}")
            say(f"train {name}: the checkpoint {last} is {problem}; set aside as {aside}, training from the start")
        try:
            if last.exists():
                saved = forget_unsaved_epochs(run_dir)
                say(f"train {name}: resuming run {key} after {saved} of {epochs} epochs")
                detector = detector_class(str(last))
                detector.add_callback("on_fit_epoch_end", epoch_reporter(name, say))
                detector.train(resume=True, device=resolved_device, workers=workers)
            else:
                log.info("training %s from scratch for %d epochs on %s: %s", model, epochs, resolved_device, args)
                detector = detector_class(model)
                detector.add_callback("on_fit_epoch_end", epoch_reporter(name, say))
                detector.train(project=str(work / "runs"), name=key, **args)
        except OSError as error:
            raise TrainingError(f"training {name}: {_write_failure(error, run_dir)}") from None
        except RuntimeError as error:
            if "write" not in str(error).lower():  # torch's PytorchStreamWriter: a checkpoint could not be written
                raise
            raise TrainingError(f"training {name}: {_write_failure(error, run_dir)}") from None
        (run_dir / "finished").write_text(str(completed_epochs(run_dir)))
    return run_dir


def _write_failure(error: BaseException, run_dir: Path) -> str:
    """A failed write in one line: what, where, and how much space is left there."""
    from sospine.workflow_io import describe

    try:
        free = f"; {shutil.disk_usage(run_dir).free / 2**20:.0f} MB free there"
    except OSError:
        free = ""
    return f"{describe(error)} (writing the run under {run_dir}{free}); free space and run the same command again"


def verify_weights(model: str, sha256: str | None) -> None:
    """Refuse `.pt` weights whose sha256 is unknown or differs, or that are no loadable model."""
    from sospine.data.files import sha256sum
    from sospine.detectors.weights import expected_sha256, mismatch_problem, untrusted_problem

    expected = expected_sha256(model, sha256)
    if not expected:
        raise TrainingError(untrusted_problem(model, sha256, "train.model") or model)
    actual = sha256sum(model)
    if actual != expected:
        raise TrainingError(mismatch_problem(model, actual, expected, bool(sha256)))
    problem = checkpoint_problem(model)
    if problem:
        raise TrainingError(f"{model} is {problem}: refused")


def epoch_reporter(name: str, write: Callable[[str], None]) -> Callable[[object], None]:
    """An ultralytics `on_fit_epoch_end` callback writing one line per epoch: losses, validation
    mAP50, seconds per epoch (over the epochs of this process, so a resume does not skew it), ETA."""
    started = time.monotonic()
    first_epoch: list[int] = []

    def on_fit_epoch_end(trainer) -> None:
        epoch = int(trainer.epoch) + 1
        if epoch > int(trainer.epochs):
            return  # ultralytics' final evaluation of best.pt, logged as one epoch past the end
        first_epoch[:] = first_epoch or [epoch]
        per_epoch = (time.monotonic() - started) / (epoch - first_epoch[0] + 1)
        losses = trainer.tloss if isinstance(trainer.tloss, dict) else {}
        metrics = trainer.metrics or {}
        map50 = metrics.get("metrics/mAP50(B)")
        write(
            epoch_line(
                name,
                epoch,
                int(trainer.epochs),
                {key: float(value) for key, value in losses.items()},
                None if map50 is None else float(map50),
                per_epoch,
            )
        )

    return on_fit_epoch_end


def predict(
    weights: str | Path,
    coco_json: str | Path,
    image_root: str | Path,
    *,
    imgsz: int,
    conf: float,
    device: str | int,
    settings_dir: str | Path,
    batch: int = 16,
    model_name: str | None = None,
) -> pd.DataFrame:
    """Detections in the published format for every image of a COCO split file, in original pixels.
    `model_name` (the detector's model setting) decides the ultralytics class, as in training."""
    images = json.loads(Path(coco_json).read_text())["images"]
    items = [
        (
            Path(image_root) / im["file_name"],
            im["trial_frame"],
            int(FRAME_NAME_RE.match(im["trial_frame"])["frame"]),
            im,
        )
        for im in images
    ]
    return predict_images(
        weights,
        items,
        imgsz=imgsz,
        conf=conf,
        device=device,
        settings_dir=settings_dir,
        batch=batch,
        model_name=model_name,
        to_pixels=to_original_pixels,
    )


def predict_images(
    weights: str | Path,
    items: list[tuple[Path, str, int, dict | None]],
    *,
    imgsz: int,
    conf: float,
    device: str | int,
    settings_dir: str | Path,
    batch: int = 16,
    model_name: str | None = None,
    to_pixels: Callable[[np.ndarray, dict], np.ndarray] | None = None,
    say: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Detections in the published format for images (`items`: path, the name to give, frame number
    and what `to_pixels` needs to map a box to the frame's pixels; None: the image is the frame),
    and the cost of predicting (parameters, GFLOPs, ms per image, device)."""
    offline_ultralytics(settings_dir)
    problem = checkpoint_problem(weights)
    if problem:
        raise TrainingError(f"{weights} is {problem}: refused")
    model = ultralytics_class(model_name or str(weights))(str(weights))
    resolved_device = resolve_device(device)
    rows, milliseconds = [], []
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        results = model.predict(
            [str(item[0]) for item in chunk], imgsz=imgsz, conf=conf, device=resolved_device, verbose=False
        )
        for (_, name, frame, image), result in zip(chunk, results, strict=False):
            milliseconds.append(sum(result.speed.get(k) or 0.0 for k in ("preprocess", "inference", "postprocess")))
            boxes = result.boxes
            if boxes is None or len(boxes) == 0:
                continue
            xyxy = boxes.xyxy.cpu().numpy()
            xyxy = to_pixels(xyxy, image) if to_pixels and image is not None else xyxy.astype(float)
            for (x1, y1, x2, y2), score, cls in zip(
                xyxy, boxes.conf.cpu().numpy(), boxes.cls.cpu().numpy().astype(int), strict=False
            ):
                rows.append((name, frame, x1, y1, x2, y2, float(score), BOX_LABELS[cls]))
        (say or log.info)(f"predicted {min(start + batch, len(items))}/{len(items)} frames")
    detections = pd.DataFrame(rows, columns=list(DETECTION_COLUMNS))
    cost = {**model_size(model.model, imgsz), "infer_ms": float(np.mean(milliseconds)) if milliseconds else None}
    cost["infer_device"] = device_name(resolved_device)
    return detections, cost
