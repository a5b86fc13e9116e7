import pandas as pd

from sospine.detectors import scored_trials
from sospine.scoring import ScoringError, write_scores
from sospine.split import tested_trials
from sospine.tables import read_annotations, split_frame_names
from sospine.validation import read_validated
from sospine.workflow_io import expected_errors, setup_logging

log = setup_logging(snakemake)
name = snakemake.wildcards.detector
detections = read_validated(snakemake.input.detections)
tested = tested_trials(pd.read_csv(snakemake.input.split, dtype=str))
covered = sorted(split_frame_names(detections["trial_frame"])["trial"].dropna().unique())
trials = scored_trials(snakemake.params.kind, tested, covered)
with expected_errors(log, ScoringError):
    if not trials:
        raise ScoringError(
            f"detections of {name!r} cover none of the test trials ({' '.join(tested)}); they cover {' '.join(covered)}"
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
