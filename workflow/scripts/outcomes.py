import pandas as pd

from sospine import analytics, plots
from sospine.tables import read_outcomes, readable
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
outcomes = analytics.outcomes_table(read_outcomes(snakemake.input.outcomes))
attempts = analytics.by_attempt(outcomes)
readable(attempts).to_csv(snakemake.output.by_attempt, index=False)
log.info("by attempt:\n%s", attempts.to_string(index=False))
presence = pd.read_csv(snakemake.input.presence)
segments = pd.read_csv(snakemake.input.segments)
tool_patterns = pd.read_csv(snakemake.input.patterns)
patterns = analytics.pattern_metrics(
    tool_patterns,
    pd.read_csv(snakemake.input.entropy),
    analytics.GROUND_TRUTH,
    analytics.common_states(tool_patterns),
)
per_trial = analytics.per_trial_metrics(outcomes, presence, segments, list(snakemake.params.phases), patterns)
readable(per_trial).to_csv(snakemake.output.per_trial, index=False)
numeric = per_trial.drop(columns=["leak", "missing_reason"])
compared = analytics.by_outcome(numeric).assign(metric=lambda t: t["metric"].str.replace(" ", "_"))
readable(compared, digits=4).to_csv(snakemake.output.by_outcome, index=False)
plots.learning_curve(attempts, snakemake.output.figure)
