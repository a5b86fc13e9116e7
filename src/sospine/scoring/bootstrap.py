"""Intervals of AP over test trials: a trial bootstrap of the ranked, matched detections."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sospine.constants import BOX_LABELS, INSTRUMENTS
from sospine.scoring.matching import Matched, _of_label
from sospine.statistics import resample_weights, t_interval


def weighted_aps(tp: np.ndarray, n_truth: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """VOC all-point AP of rank-ordered TP flags under each row of detection weights at once
    (`ap_from_flags` with weights, vectorised over resamples): row r weighs detection i by
    weights[r, i] and has n_truth[r] truth boxes.

    >>> tp = np.array([True, False, True])
    >>> weighted_aps(tp, np.array([4.0, 2.0]), np.array([[1.0, 1, 1], [0, 1, 1]])).round(6).tolist()
    [0.416667, 0.25]
    """
    weights = np.atleast_2d(weights)
    n_truth = np.asarray(n_truth, dtype=float)
    if weights.shape[1] == 0:
        return np.where(n_truth > 0, 0.0, np.nan)
    hits = weights * tp
    tp_cum = np.cumsum(hits, axis=1)
    all_cum = np.cumsum(weights, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(all_cum > 0, tp_cum / all_cum, 0.0)
        envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
        ap = (hits * envelope).sum(axis=1) / n_truth
    return np.where(n_truth > 0, ap, np.nan)


def bootstrap_samples(matched: Matched, trials: list[str], weights: np.ndarray) -> pd.DataFrame:
    """Each class's VOC AP (and the mAPs) in every resample of `weights` (see `resample_weights`).

    A detection's TP flag only depends on its own frame, so a resample re-weights the ranked
    detections by how often their trial was drawn; no re-matching is needed.
    """
    index = {t: i for i, t in enumerate(trials)}
    samples = {}
    for label in BOX_LABELS:
        d = _of_label(matched, label)
        tp = d["tp"].to_numpy(bool)
        det_trial = d["trial"].astype(object).map(index).to_numpy(dtype=int)
        n_per_trial = (
            matched.n_truth[matched.n_truth["label"] == label]
            .set_index("trial")["n"]
            .reindex(trials, fill_value=0)
            .to_numpy(float)
        )
        samples[label] = weighted_aps(tp, weights @ n_per_trial, weights[:, det_trial])
    table = pd.DataFrame(samples)
    table["map_voc_all"] = table[list(BOX_LABELS)].mean(axis=1)
    table["map_voc_instruments"] = table[list(INSTRUMENTS)].mean(axis=1)
    return table


def bootstrap_ap(matched: Matched, trials: list[str], n_resamples: int, seed: int = 0) -> pd.DataFrame:
    """95% intervals of each class's VOC AP (and the mAPs) over test trials (see `t_interval`)."""
    table = bootstrap_samples(matched, trials, resample_weights(len(trials), n_resamples, seed))
    point = bootstrap_samples(matched, trials, np.ones((1, len(trials)))).iloc[0]
    rows = {column: t_interval(point[column], table[column], len(trials)) for column in table.columns}
    return pd.DataFrame(rows, index=["ci95_low", "ci95_high"]).T
