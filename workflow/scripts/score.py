import pandas as pd

from sospine.dataset.split import tested_trials
from sospine.scoring import ScoringError, write_scores
from sospine.scoring.detector_tables import covered_trials, trials_of
from sospine.tables import read_annotations
from sospine.validation import read_validated
from sospine.workflow_io import expected_errors, setup_logging

log = setup_logging(snakemake)
name = snakemake.wildcards.detector
detections = read_validated(snakemake.input.detections)
trials = trials_of(snakemake.params.kind, snakemake.input.split, detections)
with expected_errors(log, ScoringError):
    if not trials:
        raise ScoringError(
            f"detections of {name!r} cover none of the test trials "
            f"({' '.join(tested_trials(pd.read_csv(snakemake.input.split, dtype=str)))}); "
            f"they cover {' '.join(covered_trials(detections))}"
        )
    summary = write_scores(
        read_annotations(snakemake.input.truth),
        detections,
        snakemake.output.summary.rsplit("/", 1)[0],
        test_trials=trials,
        iou=snakemake.params.iou,
        bootstrap=snakemake.params.bootstrap,
        seed=snakemake.params.seed,
        name=name,
    )
log.info("summary: %s", summary)
