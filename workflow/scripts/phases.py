import pandas as pd

from sospine import analytics
from sospine.tables import readable
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
phases = snakemake.params.phases
presence = pd.read_csv(snakemake.input.presence)
activity = analytics.phase_activity(presence, phases)
segments = analytics.segments(activity)
segments.to_csv(snakemake.output.segments, index=False)
frames = presence[["trial", "frame"]].drop_duplicates()
readable(analytics.phase_table(segments, frames, list(phases))).to_csv(snakemake.output.table, index=False)
detected = sorted(set(activity["source"]) - {analytics.GROUND_TRUTH})
agreement = analytics.phase_agreement(
    activity[activity["source"] == analytics.GROUND_TRUTH],
    segments[segments["source"] == analytics.GROUND_TRUTH],
    activity,
    segments,
    detected,
)
readable(agreement).to_csv(snakemake.output.agreement, index=False)
if snakemake.input.truth:
    scripted = pd.read_csv(snakemake.input.truth)
    scripted = scripted[scripted["phase"].isin(list(phases))]
    scripted_activity = analytics.expand_segments(scripted, frames, list(phases), "script")
    vs_script = analytics.phase_agreement(
        scripted_activity, scripted, activity, segments, sorted(activity["source"].unique())
    )
    readable(vs_script).to_csv(snakemake.output.vs_script, index=False)
log.info("%d phase segments", len(segments))
