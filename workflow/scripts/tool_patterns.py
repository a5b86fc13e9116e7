from pathlib import Path

import pandas as pd

from sospine import analytics, plots
from sospine.dataset.split import test_trials_of
from sospine.tables import read_annotations, read_detections, read_table
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
boxes = read_annotations(snakemake.input.bbox)
frames = analytics.frame_index(boxes)
test_trials = test_trials_of(pd.read_csv(snakemake.input.split))
thresholds = read_table(snakemake.input.thresholds)  # each as written, as the detections are read
# presence before smoothing, as the authors computed their patterns: the annotations as they are,
# each detector at the presence thresholds of the timelines
tables = [analytics.presence(frames, boxes, analytics.GROUND_TRUTH)]
for name, path in zip(snakemake.params.detectors, snakemake.input.detections, strict=True):
    tables.append(analytics.presence_at(frames, read_detections(path), thresholds, name, test_trials))
presence = pd.concat(tables, ignore_index=True)
states = analytics.frame_states(presence)
patterns = analytics.tool_patterns(states)
entropy = analytics.pattern_entropy(states)
profile = analytics.tool_profile(presence)
# full precision: the outcome steps read these tables again
patterns.to_csv(snakemake.output.patterns, index=False)
entropy.to_csv(snakemake.output.entropy, index=False)
profile.to_csv(snakemake.output.profile, index=False)
figures = Path(snakemake.output.states)
figures.mkdir(parents=True, exist_ok=True)
for trial in sorted(states["trial"].unique()):
    plots.tool_states(states, trial, list(analytics.STATES), figures / f"{trial}.png")
plots.tool_profile(profile, snakemake.output.profile_figure)
log.info(
    "tool-combination states of %d trials, sources %s; common states %s",
    states["trial"].nunique(),
    sorted(states["source"].unique()),
    analytics.common_states(patterns),
)
