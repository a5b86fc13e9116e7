from pathlib import Path

import torch

from sospine.tables import write_csv
from sospine.train import predict
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
torch.set_num_threads(snakemake.threads)
params = snakemake.params
coco = Path(snakemake.input.coco)
detections = predict(
    snakemake.input.weights,
    coco / "test.json",
    Path(snakemake.input.images).parent,
    imgsz=params.imgsz,
    conf=params.conf,
    device=params.device,
    settings_dir=params.settings_dir,
)
write_csv(detections, snakemake.output.detections, crlf=False)
log.info("%d detections above %.2f", len(detections), params.conf)
