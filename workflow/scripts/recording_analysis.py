import json
from pathlib import Path

import pandas as pd

from sospine import analytics
from sospine.analytics import recordings
from sospine.analytics.apm import apms
from sospine.tables import read_detections, read_outcomes, read_table, readable
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
params = snakemake.params
name = snakemake.wildcards.video
sampling = json.loads(Path(snakemake.input.sampling).read_text())
chosen = json.loads(Path(snakemake.input.detector).read_text())
detector = chosen["detector"]
source = f"detections:{detector}"
# the detections' numbers and the thresholds read as the timelines read them (tables.read_detections)
detections = read_detections(snakemake.input.detections)
# a new recording's thresholds are chosen on all test trials (the trials' own on the other ones)
thresholds = analytics.for_new_recordings(read_table(snakemake.input.thresholds), detector)
table = recordings.presence(name, sampling["frames"], detections, thresholds, source, params.min_gap, params.min_run)
table[["frame", "tool", "present"]].to_csv(snakemake.output.presence, index=False)
segments = recordings.phases_of(table, params.phases)
segments.to_csv(snakemake.output.segments, index=False)
metrics = recordings.metrics(table, segments, list(params.phases), source)
readable(metrics.reset_index().rename(columns={"trial": "recording"})).to_csv(snakemake.output.apms, index=False)

outcome = {"recording": name, "detector": detector, "frames": sampling["frames"], "sampling": sampling}
if snakemake.input.outcomes:
    all_presence = pd.read_csv(snakemake.input.presence)
    all_segments = pd.read_csv(snakemake.input.segments)
    truth = apms(all_presence, all_segments, list(params.phases), analytics.GROUND_TRUTH)
    outcomes = analytics.outcomes_table(read_outcomes(snakemake.input.outcomes))
    prediction = pd.read_csv(snakemake.input.prediction)
    outcome["outcomes"] = recordings.outcome_estimates(truth, outcomes, metrics, prediction)
else:
    outcome["outcomes"] = None
    outcome["statement"] = "No outcome estimate: this run's data source has no outcomes file."
if sampling.get("note"):
    outcome["note"] = sampling["note"]
Path(snakemake.output.outcome).write_text(json.dumps(outcome, indent=2, default=str, allow_nan=False) + "\n")
title = f"{name}: tools detected by {detector} (1 frame per second) and phases"
recordings.timeline_figure(table, segments, title, snakemake.output.timeline)
log.info("recording %s: %d frames, %d phase segments; %s", name, sampling["frames"], len(segments), outcome)
