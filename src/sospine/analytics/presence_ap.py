"""How good a detector is as a tool-presence detector, in the convention of the surgical tool-presence
literature: per tool, average precision over the test frames, threshold-free.

A frame's presence confidence for a tool is the highest score of that tool's detections in the frame
(0 where there is none); the truth is whether the tool is annotated there. AP is scikit-learn's
`average_precision_score` (the step-wise sum of precision times the gain in recall over the distinct
confidences, without interpolation), the figure tool-presence papers report, with one exception: a
detector without any detection of the tool in the frames (every confidence 0) retrieves nothing, so
its recall stays 0 and its AP is 0, where scikit-learn, ranking every frame in one tie at 0, would
give the tool's prevalence. The intervals and the
paired comparisons follow the box leaderboard: trials are the units (a trial bootstrap from
`MIN_TRIALS_FOR_INTERVAL` trials on, exact paired permutation tests swapping two detectors'
confidences inside trials, Holm across the table).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from sospine.constants import BOX_LABELS
from sospine.statistics import (
    MIN_TRIALS_FOR_INTERVAL,
    MONTE_CARLO_SAMPLES,
    arrangements,
    holm,
    resample_weights,
    smallest_p,
    t_interval,
)
from sospine.tables import split_frame_names

PRESENCE_AP_COLUMNS = [
    "detector",
    "tool",
    "presence_ap",
    "ci95_low",
    "ci95_high",
    "n_frames",
    "n_present",
    "n_detected",
    "n_trials",
]
PRESENCE_PAIRED_COLUMNS = ["detector", "reference", "tool", "diff", "p_value", "p_holm", "p_min", "n_trials", "test"]


def confidences(frames: pd.DataFrame, detections: pd.DataFrame) -> pd.DataFrame:
    """Per frame (`trial`, `frame` of `frames`) and tool, the highest score of that tool's detections
    there, 0 where there is none: one column per tool."""
    parts = split_frame_names(detections["trial_frame"])
    scored = pd.DataFrame({"trial": parts["trial"], "frame": parts["frame"], "tool": detections["label"].to_numpy()})
    scored["score"] = detections["score"].to_numpy(float)
    best = scored.dropna(subset=["trial", "frame"]).groupby(["trial", "frame", "tool"])["score"].max()
    wide = best.unstack("tool").reindex(columns=list(BOX_LABELS))
    wide.index = wide.index.set_levels(wide.index.levels[1].astype(int), level="frame")
    keys = pd.MultiIndex.from_frame(frames[["trial", "frame"]].astype({"frame": int}))
    return wide.reindex(keys).fillna(0.0).reset_index()


def truth_presence(frames: pd.DataFrame, boxes: pd.DataFrame) -> pd.DataFrame:
    """Per frame and tool, whether the tool is annotated there: one boolean column per tool."""
    parts = split_frame_names(boxes["trial_frame"])
    labelled = pd.DataFrame({"trial": parts["trial"], "frame": parts["frame"], "tool": boxes["label"].to_numpy()})
    labelled = labelled.dropna(subset=["tool", "trial", "frame"]).drop_duplicates().assign(present=True)
    wide = labelled.set_index(["trial", "frame", "tool"])["present"].unstack("tool").reindex(columns=list(BOX_LABELS))
    wide.index = wide.index.set_levels(wide.index.levels[1].astype(int), level="frame")
    keys = pd.MultiIndex.from_frame(frames[["trial", "frame"]].astype({"frame": int}))
    return wide.reindex(keys).fillna(False).astype(bool).reset_index()


def presence_aps(scores: np.ndarray, present: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """scikit-learn's average precision of `scores` against `present`, under each row of frame
    weights at once (a trial bootstrap re-weights frames by how often their trial was drawn); 0 for a
    row that weighs no frame with a positive score (no detection: nothing retrieved).

    >>> aps = presence_aps(np.array([0.9, 0.8, 0.8, 0.1]), np.array([True, False, True, False]), np.ones((1, 4)))
    >>> round(float(aps[0]), 6)  # sklearn.metrics.average_precision_score: 0.5 * 1 + 0.5 * 2/3
    0.833333
    >>> presence_aps(np.zeros(4), np.array([True, False, True, False]), np.ones((1, 4))).tolist()  # sklearn: 0.5
    [0.0]
    """
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    order = np.argsort(-np.asarray(scores, dtype=float), kind="mergesort")
    ranked, hits = np.asarray(scores, dtype=float)[order], np.asarray(present, dtype=bool)[order]
    weights = weights[:, order]
    # a threshold per distinct score: the cumulative counts at the last frame of each tie block
    last = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    tp = np.cumsum(weights * hits, axis=1)[:, last]
    seen = np.cumsum(weights, axis=1)[:, last]
    total = tp[:, -1:] if tp.shape[1] else np.zeros((len(weights), 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(seen > 0, tp / seen, 0.0)
        recall = np.where(total > 0, tp / total, np.nan)
    gain = np.diff(np.concatenate([np.zeros((len(weights), 1)), recall], axis=1), axis=1)
    # a confidence of 0 is no detection: scikit-learn's one tie of every frame would "retrieve" them
    # all at the prevalence, though nothing was ever detected
    retrieved = (weights[:, ranked > 0] > 0).any(axis=1)
    ap = np.where(retrieved, (gain * precision).sum(axis=1), 0.0)
    return np.where(total[:, 0] > 0, ap, np.nan)


def presence_ap_table(
    truth: pd.DataFrame,
    confidence_of: Mapping[str, pd.DataFrame],
    trials: Sequence[str],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Presence AP per detector and tool over the frames of `trials` (the same frames for every
    detector), with its 95% interval from `MIN_TRIALS_FOR_INTERVAL` trials on."""
    trials = sorted(trials)
    keep = truth["trial"].isin(trials).to_numpy()
    index = {t: i for i, t in enumerate(trials)}
    frame_trial = truth.loc[keep, "trial"].map(index).to_numpy()
    enough = len(trials) >= MIN_TRIALS_FOR_INTERVAL and n_resamples > 0
    weights = resample_weights(len(trials), n_resamples, seed)[:, frame_trial] if enough else None
    rows = []
    for name, conf in confidence_of.items():
        for tool in BOX_LABELS:
            present, scores = truth.loc[keep, tool].to_numpy(bool), conf.loc[keep, tool].to_numpy(float)
            point = float(presence_aps(scores, present, np.ones((1, len(scores))))[0])
            low, high = (np.nan, np.nan)
            if weights is not None:
                low, high = t_interval(point, presence_aps(scores, present, weights), len(trials))
            rows.append(
                {
                    "detector": name,
                    "tool": tool,
                    "presence_ap": point,
                    "ci95_low": low,
                    "ci95_high": high,
                    "n_frames": int(keep.sum()),
                    "n_present": int(present.sum()),
                    "n_detected": int((scores > 0).sum()),
                    "n_trials": len(trials),
                }
            )
    return pd.DataFrame(rows, columns=PRESENCE_AP_COLUMNS)


def presence_note(table: pd.DataFrame) -> str:
    """The detectors and tools of a presence AP table without any detection in its frames, in words
    (their AP is 0); empty when every detector detects every tool somewhere.

    >>> table = pd.DataFrame({"detector": ["a", "a", "b"], "tool": ["needle", "grasper", "needle"]})
    >>> presence_note(table.assign(n_detected=[0, 3, 0])).split(": ", 1)[1]
    'a: no detection of needle; b: no detection of any tool'
    """
    parts = []
    for name, rows in table.groupby("detector", sort=False):
        missing = rows.loc[rows["n_detected"] == 0, "tool"].tolist()
        if missing:
            what = "any tool" if len(missing) == len(rows) else ", ".join(missing)
            parts.append(f"{name}: no detection of {what}")
    if not parts:
        return ""
    return "no detection in these frames, so nothing retrieved and presence AP 0: " + "; ".join(parts)


def presence_paired(
    truth: pd.DataFrame,
    confidence_of: Mapping[str, pd.DataFrame],
    trials: Sequence[str],
    reference: str,
    *,
    seed: int = 0,
    samples: int = MONTE_CARLO_SAMPLES,
) -> pd.DataFrame:
    """Each detector's presence AP minus the reference's per tool, with the exact paired permutation
    test over the test trials (the two detectors' confidences swapped inside subsets of trials)."""
    trials = sorted(trials)
    keep = truth["trial"].isin(trials).to_numpy()
    frame_trial = truth.loc[keep, "trial"].map({t: i for i, t in enumerate(trials)}).to_numpy()
    swapped, exact = arrangements(len(trials), seed=seed, samples=samples)
    test = (
        f"exact paired permutation test over {len(trials)} test trials ({len(swapped)} arrangements)"
        if exact
        else f"Monte Carlo paired permutation test over {len(trials)} test trials ({len(swapped) - 1} random "
        "arrangements)"
    )
    rows = []
    for name, conf in confidence_of.items():
        if name == reference:
            continue
        for tool in BOX_LABELS:
            present = truth.loc[keep, tool].to_numpy(bool)
            a = conf.loc[keep, tool].to_numpy(float)
            b = confidence_of[reference].loc[keep, tool].to_numpy(float)
            # both detectors' confidences in one list, each frame twice; an arrangement weighs in, for
            # each side, one of the two entries of every frame (by its trial): one ranking for all
            scores, hits = np.concatenate([a, b]), np.concatenate([present, present])
            differences = np.empty(len(swapped))
            for start in range(0, len(swapped), 512):
                chunk = swapped[start : start + 512][:, frame_trial].astype(float)
                side_a = np.hstack([1.0 - chunk, chunk])
                differences[start : start + len(chunk)] = presence_aps(scores, hits, side_a) - presence_aps(
                    scores, hits, 1.0 - side_a
                )
            observed = differences[0]
            extreme = np.abs(differences) >= abs(observed) - 1e-12 * max(1.0, abs(observed))
            rows.append(
                {
                    "detector": name,
                    "reference": reference,
                    "tool": tool,
                    "diff": observed,
                    "p_value": float(extreme.mean()) if not np.isnan(observed) else np.nan,
                }
            )
    table = pd.DataFrame(rows, columns=PRESENCE_PAIRED_COLUMNS[:5])
    table["p_holm"] = holm(table["p_value"].to_numpy(float)) if len(table) else []
    table["p_min"] = smallest_p(len(trials))
    table["n_trials"] = len(trials)
    table["test"] = test
    return table[PRESENCE_PAIRED_COLUMNS]
