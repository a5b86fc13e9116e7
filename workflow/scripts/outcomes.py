import pandas as pd

from sospine import analytics, plots
from sospine.tables import read_outcomes
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
outcomes = analytics.outcomes_table(read_outcomes(snakemake.input.outcomes))
attempts = analytics.by_attempt(outcomes)
attempts.to_csv(snakemake.output.by_attempt, index=False)
log.info("by attempt:\n%s", attempts.to_string(index=False))
presence = pd.read_csv(snakemake.input.presence)
truth = presence[presence["source"] == analytics.GROUND_TRUTH]
tools = analytics.tool_metrics(truth).pivot_table(index="trial", columns="tool", values=["time_in_view_s", "in_n_outs"])
tools.columns = [f"{tool}_{metric}" for metric, tool in tools.columns]
segments = pd.read_csv(snakemake.input.segments)
segments = segments[segments["source"] == analytics.GROUND_TRUTH].assign(
    duration=lambda s: s["end_frame"] - s["start_frame"] + 1
)
phase = segments.groupby(["trial", "phase"])["duration"].agg(["sum", "size"]).unstack("phase")
phase.columns = [f"{name}_{'total_s' if stat == 'sum' else 'count'}" for stat, name in phase.columns]
per_trial = outcomes.merge(tools.reset_index(), on="trial", how="left").merge(
    phase.reset_index(), on="trial", how="left"
)
per_trial.to_csv(snakemake.output.per_trial, index=False)
numeric = per_trial[[c for c in per_trial.columns if c not in ("leak",)]]
analytics.by_outcome(numeric).to_csv(snakemake.output.by_outcome, index=False)
plots.learning_curve(attempts, snakemake.output.figure)
