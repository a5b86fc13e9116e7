import json
from pathlib import Path

import torch

from sospine.tables import write_csv
from sospine.train import TrainingError, predict
from sospine.workflow_io import expected_errors, setup_logging

log = setup_logging(snakemake)
torch.set_num_threads(snakemake.threads)
params = snakemake.params
with expected_errors(log, TrainingError):
    detections, cost = predict(
        snakemake.input.weights,
        Path(snakemake.input.coco) / "test.json",
        Path(snakemake.input.images).parent,
        imgsz=params.imgsz,
        conf=params.conf,
        device=params.device,
        settings_dir=params.settings_dir,
        model_name=params.model,
    )
write_csv(detections, snakemake.output.detections, crlf=False)
cost.update({"epochs": None, "train_s": None, "train_device": ""})  # trained elsewhere: its cost is not known here
Path(snakemake.output.cost).write_text(json.dumps(cost, indent=2) + "\n")
log.info("%d detections above %.2f; cost %s", len(detections), params.conf, cost)
