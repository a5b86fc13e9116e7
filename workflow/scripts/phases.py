import pandas as pd

from sospine import analytics as A
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
phases = snakemake.params.phases
presence = pd.read_csv(snakemake.input.presence)
activity = A.phase_activity(presence, phases)
segments = A.segments(activity)
segments.to_csv(snakemake.output.segments, index=False)
frames = presence[["trial", "frame"]].drop_duplicates()
A.phase_table(segments, frames, list(phases)).to_csv(snakemake.output.table, index=False)
truth = activity[activity["source"] == A.GROUND_TRUTH].drop(columns="source")
rows = []
for source in sorted(set(activity["source"]) - {A.GROUND_TRUTH}):
    predicted = activity[activity["source"] == source].drop(columns="source")
    frame_level = A.agreement(truth, predicted, ["trial", "phase"], flag="active")
    overlap = A.segment_overlap(segments[segments["source"] == A.GROUND_TRUTH], segments[segments["source"] == source])
    rows.append(frame_level.merge(overlap, on=["trial", "phase"], how="left").assign(source=source))
columns = ["source", "trial", "phase", "tp", "fp", "fn", "precision", "recall", "f1", "truth_segments", "mean_best_iou"]
(pd.concat(rows)[columns] if rows else pd.DataFrame(columns=columns)).to_csv(snakemake.output.agreement, index=False)
if snakemake.input.truth:
    scripted = pd.read_csv(snakemake.input.truth)
    scripted = scripted[scripted["phase"].isin(list(phases))].assign(source="script")
    script_activity = A.expand_segments(scripted, frames, list(phases), "script")
    parts = []
    for source in sorted(activity["source"].unique()):
        predicted = activity[activity["source"] == source].drop(columns="source")
        frame_level = A.agreement(script_activity.drop(columns="source"), predicted, ["trial", "phase"], flag="active")
        overlap = A.segment_overlap(scripted, segments[segments["source"] == source])
        parts.append(frame_level.merge(overlap, on=["trial", "phase"], how="left").assign(source=source))
    pd.concat(parts)[columns].to_csv(snakemake.output.vs_script, index=False)
log.info("%d phase segments", len(segments))
