"""A leaderboard of detectors scored on the same test trials, and paired comparisons with a reference.

Every detector is scored on the trials common to all of them (a trained detector's test trials, the
trials a detections file covers). The intervals come from one trial bootstrap shared by all
detectors: each resample draws test trials with replacement, and every detector is scored on the
same draw. The difference between two detectors in a resample is therefore paired, which is what
makes it narrower than the two separate intervals suggest. With a handful of test trials (the
paper's split has 4) there are few distinct resamples and the intervals are wide; the `note` column
says so.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .constants import BOX_LABELS, INSTRUMENTS
from .scoring import (
    bootstrap_samples,
    interval_note,
    resample_weights,
    score,
)

#: The leaderboard's rows per detector: the classes, then the means over the instruments and all five.
LABELS: tuple[str, ...] = (*BOX_LABELS, "instruments", "all")
#: Fewer test trials than this, and the paired note says the intervals are wide and the p-values coarse.
FEW_TRIALS = 10
BOARD_COLUMNS = [
    "rank",
    "detector",
    "label",
    "ap_voc",
    "ci95_low",
    "ci95_high",
    "ap50_coco",
    "ap50_95_coco",
    "ap_paper",
    "n_truth",
    "n_detections",
    "iou_threshold",
    "n_trials",
    "test_trials",
]
PAIRED_COLUMNS = ["detector", "reference", "label", "diff", "ci95_low", "ci95_high", "p_value", "n_trials", "note"]


class LeaderboardError(ValueError):
    pass


def common_trials(trials_of: Mapping[str, list[str]]) -> list[str]:
    """The test trials every detector was evaluated on.

    >>> common_trials({"a": ["S1A1", "S2A1"], "b": ["S2A1", "S3A1"]})
    ['S2A1']
    """
    if not trials_of:
        raise LeaderboardError("no detectors to rank")
    shared = set.intersection(*(set(t) for t in trials_of.values()))
    if not shared:
        listed = "; ".join(f"{name}: {' '.join(sorted(t)) or 'none'}" for name, t in trials_of.items())
        raise LeaderboardError(f"the detectors share no test trial, so they cannot be compared ({listed})")
    return sorted(shared)


def reference_of(names: list[str], wanted: str, baseline: str | None) -> str:
    """The detector the others are compared with: `wanted`, or for `auto` the baseline, else the first."""
    if wanted != "auto":
        if wanted not in names:
            raise LeaderboardError(f"leaderboard.reference: {wanted!r} is not a detector of this run; known: {names}")
        return wanted
    return baseline if baseline in names else names[0]


def p_value(differences: np.ndarray) -> float:
    """Two-sided bootstrap p-value of a difference being 0: twice the smaller tail, at most 1.

    >>> p_value(np.array([0.0, 0.0])), p_value(np.array([0.1, 0.2, 0.3, -0.1]))
    (1.0, 0.5)
    """
    values = differences[~np.isnan(differences)]
    if not len(values):
        return float("nan")
    return float(min(1.0, 2 * min(np.mean(values <= 0), np.mean(values >= 0))))


def _point(table: pd.DataFrame, column: str) -> dict[str, float]:
    values = table.set_index("label")[column]
    return {
        **values.to_dict(),
        "instruments": float(values[list(INSTRUMENTS)].mean()),
        "all": float(values[list(BOX_LABELS)].mean()),
    }


def rank(
    truth: pd.DataFrame,
    detections: Mapping[str, pd.DataFrame],
    trials_of: Mapping[str, list[str]],
    *,
    reference: str,
    iou: float = 0.5,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The leaderboard (one row per detector and label) and the paired differences against `reference`.

    `detections` holds each detector's detections (published format), `trials_of` the trials each
    was evaluated on; all are scored on the trials common to them.
    """
    trials = common_trials(trials_of)
    note = interval_note(len(trials), n_resamples)
    weights = resample_weights(len(trials), n_resamples, seed) if note is None else None
    rows, samples = [], {}
    for name, table in detections.items():
        scored = score(truth, table, test_trials=trials, iou=iou, bootstrap=0)
        columns = {c: _point(scored["table"], c) for c in ("ap_voc", "ap50_coco", "ap50_95_coco", "ap_paper")}
        counts = scored["table"].set_index("label")[["n_truth", "n_detections"]]
        if weights is not None:
            samples[name] = bootstrap_samples(scored["matched"], trials, weights).rename(
                columns={"map_voc_instruments": "instruments", "map_voc_all": "all"}
            )
        for label in LABELS:
            group = list(BOX_LABELS) if label == "all" else list(INSTRUMENTS) if label == "instruments" else [label]
            low, high = (
                np.nanquantile(samples[name][label], [0.025, 0.975]) if weights is not None else (np.nan, np.nan)
            )
            rows.append(
                {
                    "detector": name,
                    "label": label,
                    **{c: columns[c][label] for c in columns},
                    "ci95_low": low,
                    "ci95_high": high,
                    "n_truth": int(counts.loc[group, "n_truth"].sum()),
                    "n_detections": int(counts.loc[group, "n_detections"].sum()),
                }
            )
    board = pd.DataFrame(rows)
    board["iou_threshold"] = iou
    board["n_trials"] = len(trials)
    board["test_trials"] = " ".join(trials)
    overall = board[board["label"] == "all"].set_index("detector")["ap_voc"]
    order = overall.sort_values(ascending=False, kind="stable").index
    board["rank"] = board["detector"].map({name: i + 1 for i, name in enumerate(order)})
    board = board.sort_values(["rank"], kind="stable")[BOARD_COLUMNS].reset_index(drop=True)
    return board, paired(board, samples, reference, trials, note)


def paired(
    board: pd.DataFrame, samples: Mapping[str, pd.DataFrame], reference: str, trials: list[str], note: str | None
) -> pd.DataFrame:
    """Each detector minus the reference, per label: the difference of the point estimates, and its
    95% interval and p-value from the per-resample differences (the same trials for both)."""
    point = board.set_index(["detector", "label"])["ap_voc"]
    rows = []
    for name in board["detector"].unique():
        if name == reference:
            continue
        for label in LABELS:
            diff = float(point[(name, label)] - point[(reference, label)])
            if samples:
                differences = (samples[name][label] - samples[reference][label]).to_numpy(float)
                low, high = np.nanquantile(differences, [0.025, 0.975])
                p = p_value(differences)
            else:
                low = high = p = np.nan
            rows.append(
                {
                    "detector": name,
                    "reference": reference,
                    "label": label,
                    "diff": diff,
                    "ci95_low": low,
                    "ci95_high": high,
                    "p_value": p,
                }
            )
    table = pd.DataFrame(rows, columns=PAIRED_COLUMNS[:-2])
    table["n_trials"] = len(trials)
    table["note"] = note or (
        f"paired trial bootstrap over {len(trials)} test trials"
        + ("; with so few trials the intervals are wide and the p-values coarse" if len(trials) < FEW_TRIALS else "")
    )
    return table
