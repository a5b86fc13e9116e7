"""Automated performance metrics (APMs) per trial, from the annotations or from a detector, and
whether a detector's APMs agree with the annotator's: Lin's concordance correlation with its
interval, and Bland-Altman bias and limits of agreement.

APMs are what the timelines give per trial: each tool's seconds in view and number of entries into
the field, each phase's total seconds and number of occurrences.

Trials are the units, as on the leaderboard: below `MIN_TRIALS_FOR_INTERVAL` of them there is no
interval and no verdict (identical values on 3 trials are CCC 1, which shows nothing), and a metric
the annotations give the same value in every trial has no CCC at all (its variance is 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sospine.analytics.outcomes import tool_metrics
from sospine.statistics import MIN_TRIALS_FOR_INTERVAL

APM_AGREEMENT_COLUMNS = [
    "detector",
    "metric",
    "ccc",
    "ci95_low",
    "ci95_high",
    "bias",
    "loa_low",
    "loa_high",
    "n_trials",
    "agreement",
    "verdict",
]
#: McBride's (2005) strength of agreement for Lin's CCC
MCBRIDE = ((0.99, "almost perfect"), (0.95, "substantial"), (0.90, "moderate"), (-np.inf, "poor"))
#: a detector reproduces a metric when even the CCC's lower 95% bound reaches this (McBride's "moderate")
REPRODUCES_AT = 0.90
#: the verdict on a metric without variance in the annotations (Lin's CCC is 0/0 or 0 whatever the detector)
CONSTANT_TRUTH = "the annotations give the same value in every trial: agreement cannot be measured"
_Z975 = 1.959963984540054


def apms(
    presence_table: pd.DataFrame,
    segments: pd.DataFrame,
    phases: Sequence[str],
    source: str,
    patterns: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per trial the source covers, one column per APM (tool and phase metrics), from the
    smoothed presence and the phase segments of `source` (ground_truth or detections:<name>); then
    the columns of `patterns` (the source's tool-combination entropies and common states' shares,
    indexed by trial: `patterns.pattern_metrics`), where given."""
    table = presence_table[presence_table["source"] == source]
    trials = pd.Index(sorted(table["trial"].unique()), name="trial")
    tools = tool_metrics(table).pivot_table(index="trial", columns="tool", values=["time_in_view_s", "in_n_outs"])
    tools.columns = [f"{tool}_{metric}" for metric, tool in tools.columns]
    mine = segments[segments["source"] == source]
    seconds = mine.assign(seconds=mine["end_frame"] - mine["start_frame"] + 1).groupby(["trial", "phase"])["seconds"]
    full = pd.MultiIndex.from_product([trials, list(phases)], names=["trial", "phase"])
    totals = seconds.sum().reindex(full, fill_value=0).unstack("phase") if len(phases) else pd.DataFrame(index=trials)
    counts = seconds.size().reindex(full, fill_value=0).unstack("phase") if len(phases) else pd.DataFrame(index=trials)
    phase_columns = pd.concat([totals.add_suffix("_total_s"), counts.add_suffix("_count")], axis=1)
    phase_columns = (
        phase_columns[[f"{p}_{stat}" for p in phases for stat in ("total_s", "count")]]
        if len(phases)
        else phase_columns
    )
    out = tools.reindex(trials).fillna(0).join(phase_columns.reindex(trials).fillna(0))
    if patterns is not None:
        out = out.join(patterns.reindex(trials))
    out.columns = [c.replace(" ", "_") for c in out.columns]
    return out.astype(float)


def concordance(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Lin's concordance correlation of y with x and its 95% interval (Lin 1989: the z-transform with
    its asymptotic variance); NaN where it is undefined, no interval with fewer than 4 trials.

    >>> [round(v, 4) for v in concordance(np.array([1.0, 2, 3, 4, 5]), np.array([1.1, 2.1, 2.9, 4.2, 4.8]))]
    [0.9942, 0.9567, 0.9992]
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    if n < 2:
        return np.nan, np.nan, np.nan
    mx, my = x.mean(), y.mean()
    vx, vy = x.var(), y.var()
    sxy = ((x - mx) * (y - my)).mean()
    denominator = vx + vy + (mx - my) ** 2
    if denominator == 0:  # the same constant on both sides: 0/0, not 1
        return np.nan, np.nan, np.nan
    if np.array_equal(x, y):
        return 1.0, 1.0, 1.0
    ccc = 2 * sxy / denominator
    if n < 4 or vx == 0 or vy == 0 or abs(ccc) >= 1:
        return float(ccc), np.nan, np.nan
    r = sxy / np.sqrt(vx * vy)
    if r == 0:
        return float(ccc), np.nan, np.nan
    u = (mx - my) / (vx * vy) ** 0.25
    variance = (
        (1 - r**2) * ccc**2 / ((1 - ccc**2) * r**2)
        + 2 * ccc**3 * (1 - ccc) * u**2 / (r * (1 - ccc**2) ** 2)
        - ccc**4 * u**4 / (2 * r**2 * (1 - ccc**2) ** 2)
    ) / (n - 2)
    if variance <= 0 or not np.isfinite(variance):
        return float(ccc), np.nan, np.nan
    z, half = np.arctanh(ccc), _Z975 * np.sqrt(variance)
    return float(ccc), float(np.tanh(z - half)), float(np.tanh(z + half))


def bland_altman(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Bias (mean of y - x) and the 95% limits of agreement (bias +- 1.96 SD of the differences).

    >>> bland_altman(np.array([1.0, 2, 3]), np.array([2.0, 3, 5]))  # doctest: +ELLIPSIS
    (1.3333333333333333, 0.2017..., 2.4649...)
    """
    d = np.asarray(y, dtype=float) - np.asarray(x, dtype=float)
    if len(d) < 2:
        return (float(d.mean()) if len(d) else np.nan), np.nan, np.nan
    bias, sd = float(d.mean()), float(d.std(ddof=1))
    return bias, bias - _Z975 * sd, bias + _Z975 * sd


def strength(ccc: float) -> str:
    """McBride's words for a CCC: poor, moderate, substantial, almost perfect."""
    if np.isnan(ccc):
        return "undefined"
    return next(word for bound, word in MCBRIDE if ccc > bound)


def verdict(
    ccc: float, low: float, high: float, n: int, *, truth_constant: bool = False, detected_constant: bool = False
) -> str:
    """Whether the detector reproduces the metric, plainly: from the CCC's interval, never from the
    point estimate alone, and not at all below `MIN_TRIALS_FOR_INTERVAL` trials.

    >>> verdict(1.0, 1.0, 1.0, 3)
    'too few trials to judge: 3, where at least 10 are needed'
    >>> verdict(float("nan"), float("nan"), float("nan"), 12, truth_constant=True)
    'the annotations give the same value in every trial: agreement cannot be measured'
    """
    if truth_constant and n >= 2:  # whatever the number of trials: more of the same would not help
        return CONSTANT_TRUTH
    if n < MIN_TRIALS_FOR_INTERVAL:
        return f"too few trials to judge: {n}, where at least {MIN_TRIALS_FOR_INTERVAL} are needed"
    if detected_constant:  # the annotations vary, the detector does not: CCC 0
        return "does not reproduce it: the detector gives the same value in every trial"
    if np.isnan(ccc) or np.isnan(low):
        return "cannot tell: the CCC has no interval here"
    if low >= REPRODUCES_AT:
        return "reproduces it"
    if high < REPRODUCES_AT:
        return "does not reproduce it"
    return "cannot tell: the interval spans the bar"


def apm_agreement(truth: pd.DataFrame, detected: pd.DataFrame, detector: str) -> pd.DataFrame:
    """Per APM, the detector's values against the annotations' over the trials both have: the CCC with
    its interval from `MIN_TRIALS_FOR_INTERVAL` trials on (none for a metric the annotations hold
    constant), Bland-Altman bias and limits, and the verdict."""
    trials = truth.index.intersection(detected.index)
    rows = []
    for metric in truth.columns:
        x = truth.loc[trials, metric].to_numpy(float)
        y = detected.reindex(trials)[metric].fillna(0).to_numpy(float) if metric in detected else np.zeros(len(trials))
        truth_constant = len(x) >= 2 and bool(np.all(x == x[0]))
        ccc, low, high = concordance(x, y) if not truth_constant else (np.nan,) * 3
        if len(trials) < MIN_TRIALS_FOR_INTERVAL:  # as on the leaderboard: none would cover at its 95%
            low = high = np.nan
        bias, loa_low, loa_high = bland_altman(x, y)
        rows.append(
            {
                "detector": detector,
                "metric": metric,
                "ccc": ccc,
                "ci95_low": low,
                "ci95_high": high,
                "bias": bias,
                "loa_low": loa_low,
                "loa_high": loa_high,
                "n_trials": len(trials),
                "agreement": strength(ccc),
                "verdict": verdict(
                    ccc,
                    low,
                    high,
                    len(trials),
                    truth_constant=truth_constant,
                    detected_constant=len(y) >= 2 and bool(np.all(y == y[0])),
                ),
            }
        )
    return pd.DataFrame(rows, columns=APM_AGREEMENT_COLUMNS)
