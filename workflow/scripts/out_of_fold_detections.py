import pandas as pd

from sospine.scoring.detector_tables import out_of_fold_table
from sospine.validation import read_validated
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
tables = {fold: read_validated(path) for fold, path in zip(snakemake.params.folds, snakemake.input.folds, strict=True)}
joined, left_out = out_of_fold_table(tables, pd.read_csv(snakemake.input.split, dtype=str))
joined.to_csv(snakemake.output[0], index=False)
for fold, rows in left_out.items():
    if rows:
        log.warning(
            "%s: fold %s's file has %d detections on trials that fold does not test: left out",
            snakemake.wildcards.detector,
            fold,
            rows,
        )
log.info("%s: %d out-of-fold detections from %d folds", snakemake.wildcards.detector, len(joined), len(tables))
