from pathlib import Path

import pandas as pd

from sospine import analytics, plots
from sospine.analytics.apm import apm_agreement, apms
from sospine.analytics.prediction import no_video_features, prediction_table
from sospine.tables import read_outcomes, readable
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
params = snakemake.params
outcomes = analytics.outcomes_table(read_outcomes(snakemake.input.outcomes))
presence = pd.read_csv(snakemake.input.presence)
segments = pd.read_csv(snakemake.input.segments)
tool_patterns = pd.read_csv(snakemake.input.patterns)
entropy = pd.read_csv(snakemake.input.entropy)
common = analytics.common_states(tool_patterns)  # from the annotations: the same metrics for every source


def metrics(source: str) -> pd.DataFrame:
    """The source's APMs: tools and phases, then the tool-combination entropies and common states' shares."""
    patterns = analytics.pattern_metrics(tool_patterns, entropy, source, common)
    return apms(presence, segments, params.phases, source, patterns)


truth = metrics(analytics.GROUND_TRUTH)
detectors = sorted(s for s in presence["source"].unique() if s != analytics.GROUND_TRUTH)
detected = {source: metrics(source) for source in detectors}

agreement = pd.concat(
    [apm_agreement(truth, table, source.split(":", 1)[1]) for source, table in detected.items()]
    or [apm_agreement(truth, truth.iloc[:0], "")],
    ignore_index=True,
)
readable(agreement, digits=4).to_csv(snakemake.output.agreement, index=False)
figures = Path(snakemake.output.agreement_figures)
figures.mkdir(parents=True, exist_ok=True)
for source, table in detected.items():
    name = source.split(":", 1)[1]
    plots.bland_altman(truth, table, agreement[agreement["detector"] == name], figures / f"{name}.png")

feature_sets = {"ground_truth": truth, **detected, "no_video": no_video_features(outcomes), "control": None}
prediction = prediction_table(outcomes, feature_sets, n_permutations=params.permutations, seed=params.seed)
readable(prediction, digits=4).to_csv(snakemake.output.prediction, index=False)
plots.prediction(prediction, snakemake.output.prediction_figure)
log.info("APM agreement:\n%s\nprediction:\n%s", agreement.to_string(index=False), prediction.to_string(index=False))
