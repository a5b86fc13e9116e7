import json
from pathlib import Path

import pandas as pd
import torch

from sospine.recordings import choose_detector
from sospine.tables import write_csv
from sospine.train import TrainingError, predict_images
from sospine.workflow_io import console, expected_errors, setup_logging

log = setup_logging(snakemake)
torch.set_num_threads(snakemake.threads)
params = snakemake.params
weights = dict(zip(params.names, snakemake.input.weights, strict=True))
name, why = choose_detector(params.detector, pd.read_csv(snakemake.input.board), list(weights))
settings = params.settings[name]
frames = sorted(Path(snakemake.input.frames).glob("*.jpeg"))
items = [(path, path.name, number, None) for number, path in enumerate(frames, start=1)]
console(log)(f"recording {snakemake.wildcards.video}: {len(frames)} frames, detector {name} ({why})")
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
write_csv(detections, snakemake.output.detections, crlf=False)
record = {"detector": name, "why": why, "weights": weights[name], "frames": len(frames), **cost}
Path(snakemake.output.detector).write_text(json.dumps(record, indent=2) + "\n")
