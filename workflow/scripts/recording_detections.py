import json
import sys
from pathlib import Path

import pandas as pd
import torch

from sospine.analytics.recordings import choose_detector
from sospine.detectors.commands import CommandError, predict_frames
from sospine.detectors.train import TrainingError, predict_images, resolve_device
from sospine.tables import write_csv
from sospine.workflow_io import console, expected_errors, setup_logging

log = setup_logging(snakemake)
torch.set_num_threads(snakemake.threads)
params = snakemake.params
video = snakemake.wildcards.video
weights = dict(zip(params.names, snakemake.input.weights, strict=True))
name, why = choose_detector(params.detector, pd.read_csv(snakemake.input.board), list(weights))
frames = sorted(Path(snakemake.input.frames).glob("*.jpeg"))
console(log)(f"recording {video}: {len(frames)} frames, detector {name} ({why})")
if params.kinds[name] == "command":
    # its prediction command, with the model its run on the main split left in its work folder (read, not redone)
    command = params.commands[name]
    with expected_errors(log, TrainingError, CommandError):
        detections, cost = predict_frames(
            command["predict"],
            snakemake.input.frames,
            command["work_dir"],
            Path(params.predict_dir) / "detections.csv",
            recording=video,
            detector=name,
            device=resolve_device(command["device"], command["gpus"]),
            threads=snakemake.threads,
            log=sys.stdout,  # the job's own log stream (see setup_logging): its one writer
            say=console(log),
            timeout_s=60 * snakemake.resources.runtime,
        )
    record = {"detector": name, "why": why, "kind": "command", "work_dir": command["work_dir"], **cost}
else:
    settings = params.settings[name]
    items = [(path, path.name, number, None) for number, path in enumerate(frames, start=1)]
    with expected_errors(log, TrainingError):
        detections, cost = predict_images(
            weights[name],
            items,
            imgsz=settings["imgsz"],
            conf=settings["predict_conf"],
            device=settings["device"],
            settings_dir=params.settings_dir,
            model_name=settings["model"],
            say=lambda line: log.info("%s", line),
        )
    record = {"detector": name, "why": why, "kind": params.kinds[name], "weights": weights[name], **cost}
write_csv(detections, snakemake.output.detections, crlf=False)
record = {**record, "frames": len(frames)}
Path(snakemake.output.detector).write_text(json.dumps(record, indent=2) + "\n")
log.info("recording %s: %d detections by %s", video, len(detections), name)
