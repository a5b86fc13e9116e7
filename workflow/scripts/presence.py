from pathlib import Path

import pandas as pd

from sospine import analytics, plots
from sospine.split import test_trials_of
from sospine.tables import read_annotations, read_detections, readable
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
params = snakemake.params
boxes = read_annotations(snakemake.input.bbox)
frames = analytics.frame_index(boxes)
test_trials = test_trials_of(pd.read_csv(snakemake.input.split))
tables = [analytics.presence(frames, boxes, analytics.GROUND_TRUTH)]
threshold_rows = []
for name, detections_path, scores_path in zip(
    params.detectors, snakemake.input.detections, snakemake.input.scores, strict=True
):
    thresholds = analytics.presence_thresholds(pd.read_csv(scores_path), params.threshold)
    threshold_rows += [{"detector": name, "label": k, "threshold": v} for k, v in thresholds.items()]
    detections = read_detections(detections_path)
    tables.append(analytics.detector_presence(frames, detections, thresholds, f"detections:{name}", test_trials))
table = analytics.smooth(pd.concat(tables, ignore_index=True), params.min_gap, params.min_run)
table.to_csv(snakemake.output.presence, index=False)
pd.DataFrame(threshold_rows, columns=["detector", "label", "threshold"]).to_csv(
    snakemake.output.thresholds, index=False
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
