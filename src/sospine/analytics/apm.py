"""Automated performance metrics (APMs) per trial, from the annotations or from a detector, and
whether a detector's APMs agree with the annotator's: Lin's concordance correlation with its
interval, and Bland-Altman bias and limits of agreement.

APMs are what the timelines give per trial: each tool's seconds in view and number of entries into
the field, each phase's total seconds and number of occurrences.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .outcomes import tool_metrics

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
_Z975 = 1.959963984540054


def apms(presence_table: pd.DataFrame, segments: pd.DataFrame, phases: Sequence[str], source: str) -> pd.DataFrame:
    """One row per trial the source covers, one column per APM (tool and phase metrics), from the
    smoothed presence and the phase segments of `source` (ground_truth or detections:<name>)."""
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
    if np.array_equal(x, y):
        return 1.0, 1.0, 1.0
    mx, my = x.mean(), y.mean()
    vx, vy = x.var(), y.var()
    sxy = ((x - mx) * (y - my)).mean()
    denominator = vx + vy + (mx - my) ** 2
    if denominator == 0:
        return np.nan, np.nan, np.nan
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


def verdict(ccc: float, low: float, high: float, n: int) -> str:
    """Whether the detector reproduces the metric, plainly: from the CCC's interval, never from the
    point estimate alone."""
    if np.isnan(ccc):
        return f"cannot tell: the metric does not vary over these {n} trials"
    if np.isnan(low):
        return f"cannot tell: {n} trials are too few for an interval"
    if low >= REPRODUCES_AT:
        return "reproduces it"
    if high < REPRODUCES_AT:
        return "does not reproduce it"
    return "cannot tell: the interval spans the bar"


def apm_agreement(truth: pd.DataFrame, detected: pd.DataFrame, detector: str) -> pd.DataFrame:
    """Per APM, the detector's values against the annotations' over the trials both have."""
    trials = truth.index.intersection(detected.index)
    rows = []
    for metric in truth.columns:
        x = truth.loc[trials, metric].to_numpy(float)
        y = detected.reindex(trials)[metric].fillna(0).to_numpy(float) if metric in detected else np.zeros(len(trials))
        ccc, low, high = concordance(x, y)
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
                "verdict": verdict(ccc, low, high, len(trials)),
            }
        )
    return pd.DataFrame(rows, columns=APM_AGREEMENT_COLUMNS)
