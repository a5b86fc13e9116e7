from pathlib import Path

import pandas as pd

from sospine import analytics, plots
from sospine.split import test_trials_of
from sospine.tables import read_annotations, read_detections, readable, split_frame_names
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
params = snakemake.params
boxes = read_annotations(snakemake.input.bbox)
frames = analytics.frame_index(boxes)
trials = pd.read_csv(snakemake.input.split)
test_trials = test_trials_of(trials)
tables = [analytics.presence(frames, boxes, analytics.GROUND_TRUTH)]
threshold_rows = []
for name, detections_path, scores_path in zip(
    params.detectors, snakemake.input.detections, snakemake.input.scores, strict=False
):
    detections = read_detections(detections_path)
    scored = pd.read_csv(scores_path).set_index("label")
    thresholds = (
        scored["best_threshold"].to_dict()
        if params.threshold == "best_f1"
        else {label: float(params.threshold) for label in scored.index}
    )
    threshold_rows += [{"detector": name, "label": k, "threshold": v} for k, v in thresholds.items()]
    detected_trials = set(split_frame_names(detections["trial_frame"])["trial"].dropna()) | set(test_trials)
    tables.append(
        analytics.presence(
            frames[frames["trial"].isin(detected_trials)],
            analytics.thresholded(detections, thresholds),
            f"detections:{name}",
        )
    )
table = analytics.smooth(pd.concat(tables, ignore_index=True), params.min_gap, params.min_run)
table.to_csv(snakemake.output.presence, index=False)
pd.DataFrame(threshold_rows, columns=["detector", "label", "threshold"]).to_csv(
    snakemake.output.thresholds, index=False
)
truth = table[table["source"] == analytics.GROUND_TRUTH].drop(columns="source")
metrics = [
    analytics.agreement(truth, table[table["source"] == s].drop(columns="source"), ["trial", "tool"]).assign(source=s)
    for s in table["source"].unique()
    if s != analytics.GROUND_TRUTH
]
columns = ["source", "trial", "tool", "tp", "fp", "fn", "precision", "recall", "f1"]
readable(pd.concat(metrics)[columns] if metrics else pd.DataFrame(columns=columns)).to_csv(
    snakemake.output.metrics, index=False
)
figures = Path(snakemake.output.figures)
figures.mkdir(parents=True, exist_ok=True)
for trial in sorted(frames["trial"].unique()):
    plots.timeline(table, trial, figures / f"{trial}.png")
# the grid shows the test trials; with leave-one-surgeon-out (no single test split) the detected ones
detected = sorted(table.loc[table["source"] != analytics.GROUND_TRUTH, "trial"].unique())
grid_trials = test_trials or detected or sorted(frames["trial"].unique())[:4]
plots.timeline_grid(table[table["trial"].isin(grid_trials)], grid_trials, snakemake.output.grid)
log.info("presence for %d trials, sources %s", frames["trial"].nunique(), sorted(table["source"].unique()))
