import json

import pandas as pd

from sospine.export import ExportError, export_yolo
from sospine.tables import read_annotations
from sospine.workflow_io import console, expected_errors, setup_logging

log = setup_logging(snakemake)
with expected_errors(log, ExportError):
    summary = export_yolo(
        snakemake.input.frames,
        read_annotations(snakemake.input.bbox),
        pd.read_csv(snakemake.input.split),
        snakemake.output.dataset.rsplit("/", 1)[0],
        max_side=snakemake.params.max_side,
        jpeg_quality=snakemake.params.jpeg_quality,
        workers=snakemake.threads,
        progress=console(log),
    )
with open(snakemake.output.summary, "w") as handle:
    json.dump(summary, handle, indent=2)
log.info("export: %s", summary)
