from pathlib import Path

import pandas as pd

from sospine.scoring import ScoringError, score_files
from sospine.split import test_trials_of
from sospine.workflow_io import expected_errors, setup_logging

log = setup_logging(snakemake)
if snakemake.input.split:
    split = pd.read_csv(snakemake.input.split)
    test_trials = test_trials_of(split) or None
else:
    test_trials = None  # a baseline: the trials its detections file covers
with expected_errors(log, ScoringError):
    summary = score_files(
        snakemake.input.truth,
        snakemake.input.detections,
        Path(snakemake.output.summary).parent,
        test_trials=test_trials,
        iou=snakemake.params.iou,
        bootstrap=snakemake.params.bootstrap,
        seed=snakemake.params.seed,
        name=snakemake.wildcards.detector,
    )
log.info("summary: %s", summary)
