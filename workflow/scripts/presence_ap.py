from sospine import plots
from sospine.analytics import frame_index
from sospine.analytics.presence_ap import (
    confidences,
    presence_ap_table,
    presence_note,
    presence_paired,
    truth_presence,
)
from sospine.scoring.claims import not_out_of_fold_note, withhold_presence_claims
from sospine.scoring.detector_tables import read_detector_tables
from sospine.scoring.leaderboard import LeaderboardError, common_trials, for_reading, reference_of
from sospine.tables import read_annotations
from sospine.workflow_io import expected_errors, setup_logging

log = setup_logging(snakemake)
params = snakemake.params
boxes = read_annotations(snakemake.input.bbox)
tables, trials_of = read_detector_tables(
    snakemake.input.detections, params.files_per_detector, params.kinds, snakemake.input.split
)
with expected_errors(log, LeaderboardError):
    trials = common_trials(trials_of)  # the leaderboard's test trials: the same frames for every detector
    out_of_fold = params.out_of_fold if params.loso else None  # only detectors out of fold make claims
    reference = reference_of(list(tables), params.reference, params.baseline, out_of_fold)
frames = frame_index(boxes)
frames = frames[frames["trial"].isin(trials)].reset_index(drop=True)
truth = truth_presence(frames, boxes)
confidence_of = {name: confidences(frames, table) for name, table in tables.items()}
table = presence_ap_table(truth, confidence_of, trials, n_resamples=params.bootstrap, seed=params.seed)
paired = presence_paired(truth, confidence_of, trials, reference, seed=params.seed)
if params.loso:  # only detectors held out from each fold's surgeon make claims
    table, paired = withhold_presence_claims(table, paired, params.out_of_fold)
    if note := not_out_of_fold_note(params.out_of_fold):
        log.warning("presence AP: %s", note)
for_reading(table.rename(columns={"presence_ap": "ap_voc"})).rename(columns={"ap_voc": "presence_ap"}).to_csv(
    snakemake.output.table, index=False
)
for_reading(paired).to_csv(snakemake.output.paired, index=False)
plots.presence_ap(table, paired, snakemake.output.figure)
log.info("presence AP on %d frames of %s:\n%s", len(frames), trials, table.to_string(index=False))
if note := presence_note(table):  # what the table's zeros mean, where a detector found nothing
    log.warning("%s", note)
