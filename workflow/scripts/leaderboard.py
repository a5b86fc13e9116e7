import json
from pathlib import Path

import pandas as pd

from sospine import plots
from sospine.scoring.claims import not_out_of_fold_note, withhold_claims
from sospine.scoring.detector_tables import read_detector_tables
from sospine.scoring.leaderboard import (
    COST_COLUMNS,
    LeaderboardError,
    add_costs,
    for_reading,
    headline_text,
    rank,
    reference_of,
)
from sospine.tables import read_annotations
from sospine.workflow_io import expected_errors, setup_logging

log = setup_logging(snakemake)
params = snakemake.params
# a trained detector was tested on every trial the split did not train or validate on (the test
# split, or every fold's test trials for leave-one-surgeon-out); a file on the test trials it covers
detections, trials_of = read_detector_tables(
    snakemake.input.detections, params.files_per_detector, params.kinds, snakemake.input.split
)
with expected_errors(log, LeaderboardError):
    out_of_fold = params.out_of_fold if params.loso else None  # only detectors out of fold make claims
    reference = reference_of(list(detections), params.reference, params.baseline, out_of_fold)
    board, paired = rank(
        read_annotations(snakemake.input.truth),
        detections,
        trials_of,
        reference=reference,
        iou=params.iou,
        n_resamples=params.bootstrap,
        seed=params.seed,
    )
if params.loso:  # only detectors held out from each fold's surgeon make claims
    board, paired = withhold_claims(board, paired, params.out_of_fold)
costs = pd.DataFrame(
    [
        {"detector": name, **json.loads(Path(path).read_text())}
        for name, path in zip(params.cost_of, snakemake.input.costs, strict=True)
    ],
    columns=["detector", *COST_COLUMNS],
)
board = add_costs(board, costs)
board.insert(3, "kind", board["detector"].map(params.kinds))
board.insert(4, "model", board["detector"].map(params.models))
board.insert(5, "validation", board["detector"].map(lambda n: params.validation if params.kinds[n] == "train" else ""))
if "out_of_fold" in board:
    board.insert(6, "out_of_fold", board.pop("out_of_fold"))
# for reading: APs to 4 decimals, p-values to 4 significant digits (nothing downstream reads them)
for_reading(board).to_csv(snakemake.output.board, index=False)
for_reading(paired).to_csv(snakemake.output.paired, index=False)
plots.leaderboard(board, paired, snakemake.output.figure)
plots.accuracy_cost(board, snakemake.output.cost_figure)
log.info("%s", headline_text(board, paired))
if params.loso and (note := not_out_of_fold_note(params.out_of_fold)):
    log.warning("%s", note)
