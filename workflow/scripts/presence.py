from pathlib import Path

import pandas as pd

from sospine import analytics, plots
from sospine.dataset.split import test_trials_of, tested_trials
from sospine.detectors.kinds import scored_trials
from sospine.scoring.detector_tables import covered_trials
from sospine.scoring.matching import match, prepare_detections, prepare_truth
from sospine.tables import read_annotations, read_detections, readable, write_table
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
params = snakemake.params
boxes = read_annotations(snakemake.input.bbox)
frames = analytics.frame_index(boxes)
split = pd.read_csv(snakemake.input.split, dtype=str)
test_trials = test_trials_of(split)
tables = [analytics.presence(frames, boxes, analytics.GROUND_TRUTH)]
thresholds = []
for name, detections_path in zip(params.detectors, snakemake.input.detections, strict=True):
    detections = read_detections(detections_path)
    covered = covered_trials(detections)
    # each trial's thresholds are chosen on the other test trials the detector is scored on
    scored = scored_trials(params.kinds.get(name, "file"), tested_trials(split), covered)
    # (under leave-one-surgeon-out a table of the first fold covers that fold's trials only)
    scored = [t for t in scored if t in covered or t in test_trials]
    matched = match(prepare_truth(boxes, scored), prepare_detections(detections, scored), params.iou)
    chosen = analytics.cross_fitted_thresholds(
        matched, sorted(set(covered) | set(test_trials)), scored, params.threshold
    )
    thresholds.append(chosen.assign(detector=name)[analytics.THRESHOLD_COLUMNS])
    if params.threshold == "best_f1" and len(scored) < 2:
        log.warning(
            "%s is scored on %d test trial(s): no other test trial to choose a trial's presence threshold on, so its "
            "tools are never shown present there; give analytics.presence_threshold a number",
            name,
            len(scored),
        )
    tables.append(analytics.presence_at(frames, detections, thresholds[-1], name, test_trials))
table = analytics.smooth(pd.concat(tables, ignore_index=True), params.min_gap, params.min_run)
table.to_csv(snakemake.output.presence, index=False)
columns = analytics.THRESHOLD_COLUMNS
# each threshold is a score of the detections as they were read: written in the same digits
write_table(
    pd.concat(thresholds, ignore_index=True) if thresholds else pd.DataFrame(columns=columns),
    snakemake.output.thresholds,
)
readable(analytics.presence_metrics(table)).to_csv(snakemake.output.metrics, index=False)
figures = Path(snakemake.output.figures)
figures.mkdir(parents=True, exist_ok=True)
for trial in sorted(frames["trial"].unique()):
    plots.timeline(table, trial, figures / f"{trial}.png")
# the grid shows the test trials; with leave-one-surgeon-out (no single test split) the detected ones
detected = sorted(table.loc[table["source"] != analytics.GROUND_TRUTH, "trial"].unique())
grid_trials = test_trials or detected or sorted(frames["trial"].unique())[:4]
plots.timeline_grid(table[table["trial"].isin(grid_trials)], grid_trials, snakemake.output.grid)
log.info("presence for %d trials, sources %s", frames["trial"].nunique(), sorted(table["source"].unique()))
