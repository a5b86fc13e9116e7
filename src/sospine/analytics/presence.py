"""Tool presence over time: a long table `trial, frame, tool, source, present` with one row per
annotated frame (1 fps) and tool, from ground truth or thresholded detections, and its smoothing."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from sospine.constants import BOX_LABELS
from sospine.scoring.matching import Matched, best_f1_threshold
from sospine.tables import split_frame_names

GROUND_TRUTH = "ground_truth"


def frame_index(boxes: pd.DataFrame) -> pd.DataFrame:
    """Every annotated frame (trial, frame), sorted: the time axis of the timelines."""
    parts = split_frame_names(boxes["trial_frame"].drop_duplicates())
    return (
        parts[["trial", "frame"]].dropna().astype({"frame": int}).sort_values(["trial", "frame"]).reset_index(drop=True)
    )


def presence(frames: pd.DataFrame, items: pd.DataFrame, source: str) -> pd.DataFrame:
    """Long presence table: a tool is present in a frame when `items` (boxes) has it there."""
    parts = split_frame_names(items["trial_frame"]).assign(label=items["label"].to_numpy())
    return presence_from(frames, parts[["trial", "frame", "label"]], source)


def presence_from(frames: pd.DataFrame, hits: pd.DataFrame, source: str) -> pd.DataFrame:
    """`presence` from items already placed in time (`trial`, `frame`, `label`): a recording's."""
    hits = hits.dropna(subset=["label", "trial"])[["trial", "frame", "label"]].drop_duplicates()
    hits = hits.astype({"frame": int}).assign(present=True)
    grid = frames.merge(pd.DataFrame({"tool": list(BOX_LABELS)}), how="cross")
    out = grid.merge(hits.rename(columns={"label": "tool"}), on=["trial", "frame", "tool"], how="left")
    out["present"] = out["present"].notna()
    out["source"] = source
    return out[["trial", "frame", "tool", "source", "present"]]


def thresholded(detections: pd.DataFrame, thresholds: Mapping[str, float]) -> pd.DataFrame:
    """Detections at or above each class's threshold (e.g. its best-F1 score)."""
    floor = detections["label"].map(thresholds).fillna(np.inf)
    return detections[detections["score"] >= floor]


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run-length encoding: (starts, lengths, run values) of a 1-D array."""
    if len(values) == 0:
        return np.array([], int), np.array([], int), values
    change = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [len(values)]]))
    return starts, lengths, values[starts]


def smooth_signal(present: np.ndarray, min_gap: int, min_run: int) -> np.ndarray:
    """Fill absent gaps shorter than `min_gap` between two present runs, then drop present runs
    shorter than `min_run`. Zero disables each step."""
    out = present.astype(bool).copy()
    if min_gap > 0:
        starts, lengths, vals = _runs(out)
        for s, n, v in zip(starts, lengths, vals, strict=False):
            if not v and n < min_gap and s > 0 and s + n < len(out):
                out[s : s + n] = True
    if min_run > 0:
        starts, lengths, vals = _runs(out)
        for s, n, v in zip(starts, lengths, vals, strict=False):
            if v and n < min_run:
                out[s : s + n] = False
    return out


def smooth(table: pd.DataFrame, min_gap: int, min_run: int) -> pd.DataFrame:
    """`smooth_signal` on every (trial, tool, source) series of a presence table."""
    if min_gap <= 0 and min_run <= 0:
        return table
    table = table.sort_values(["source", "trial", "tool", "frame"]).copy()
    table["present"] = table.groupby(["source", "trial", "tool"], sort=False)["present"].transform(
        lambda s: smooth_signal(s.to_numpy(), min_gap, min_run)
    )
    return table.sort_values(["source", "trial", "frame", "tool"]).reset_index(drop=True)


def agreement(truth: pd.DataFrame, predicted: pd.DataFrame, keys: list[str], flag: str = "present") -> pd.DataFrame:
    """Frame-level precision, recall and F1 of `predicted` against `truth`, per `keys`."""
    merged = truth.merge(predicted, on=[*keys, "frame"], suffixes=("_truth", "_pred"))
    truth_on, predicted_on = merged[f"{flag}_truth"].astype(bool), merged[f"{flag}_pred"].astype(bool)
    merged = merged.assign(tp=truth_on & predicted_on, fp=~truth_on & predicted_on, fn=truth_on & ~predicted_on)
    out = merged.groupby(keys)[["tp", "fp", "fn"]].sum().reset_index()
    out["precision"] = out["tp"] / (out["tp"] + out["fp"]).replace(0, np.nan)
    out["recall"] = out["tp"] / (out["tp"] + out["fn"]).replace(0, np.nan)
    out["f1"] = 2 * out["tp"] / (2 * out["tp"] + out["fp"] + out["fn"]).replace(0, np.nan)
    return out


def presence_thresholds(scores: pd.DataFrame, threshold: str | float) -> dict[str, float]:
    """Per class, the score above which a detection means the tool is there: each class's best-F1
    threshold from its `ap_per_class` table (`best_f1`), or one number for every class.

    >>> presence_thresholds(pd.DataFrame({"label": ["needle"], "best_threshold": [0.4]}), "best_f1")
    {'needle': 0.4}
    """
    scored = scores.set_index("label")
    if threshold == "best_f1":
        return scored["best_threshold"].to_dict()
    return {label: float(threshold) for label in scored.index}


#: timelines/thresholds.csv: per detector, trial and class the presence threshold and what it was
#: chosen on; the rows without a trial are those for a new recording (`for_new_recordings`)
THRESHOLD_COLUMNS = ["detector", "trial", "label", "threshold", "chosen_on"]


def cross_fitted_thresholds(
    matched: Matched, trials: list[str], test_trials: list[str], threshold: str | float
) -> pd.DataFrame:
    """Each trial's presence threshold per class, never chosen on that trial's own frames: the
    best-F1 threshold (`best_f1`) of the other test trials (of all test trials for a trial that is
    not one), as `sospine score --test-trials <others>` gives it; plus a row per class without a
    trial, from all test trials, for new recordings. A number for `threshold` is every row's.
    NaN (the tool never present) where the other trials have no detection of the class.

    `matched`: the detections of the test trials matched to their truth (`scoring.match`).
    Columns: `THRESHOLD_COLUMNS` but `detector`.
    """
    rows = []
    for trial in [*sorted(trials), None]:
        others = [t for t in test_trials if t != trial]
        if trial is None:
            chosen_on = f"best F1 on all test trials ({', '.join(others)}), for new recordings"
        elif trial in test_trials:
            chosen_on = f"best F1 on the other test trials ({', '.join(others) or 'none'})"
        else:
            chosen_on = f"best F1 on the test trials ({', '.join(others)})"
        for label in BOX_LABELS:
            if threshold != "best_f1":
                value, why = float(threshold), "analytics.presence_threshold"
            else:
                value, why = best_f1_threshold(matched, label, others), chosen_on
            rows.append({"trial": trial, "label": label, "threshold": value, "chosen_on": why})
    return pd.DataFrame(rows, columns=THRESHOLD_COLUMNS[1:])


def for_new_recordings(thresholds: pd.DataFrame, detector: str) -> dict[str, float]:
    """A detector's thresholds for a new recording (the rows of `thresholds.csv` without a trial;
    every row of a file from before thresholds were cross-fitted)."""
    mine = thresholds[thresholds["detector"].astype(str) == detector]
    if "trial" in mine:
        mine = mine[mine["trial"].isna()]
    return dict(zip(mine["label"], mine["threshold"].astype(float), strict=True))


def detector_presence(
    frames: pd.DataFrame, detections: pd.DataFrame, thresholds: Mapping[str, float], source: str, trials: list[str]
) -> pd.DataFrame:
    """Presence from one detector's detections over the trials it covers (and `trials`, the test
    trials, where a detector that found nothing still says "absent")."""
    covered = set(split_frame_names(detections["trial_frame"])["trial"].dropna()) | set(trials)
    return presence(frames[frames["trial"].isin(covered)], thresholded(detections, thresholds), source)


def presence_at(
    frames: pd.DataFrame, detections: pd.DataFrame, thresholds: pd.DataFrame, detector: str, trials: list[str]
) -> pd.DataFrame:
    """`detector_presence` of `detections:<detector>`, unsmoothed, at the thresholds the timelines
    used (`timelines/thresholds.csv`: `detector,label,threshold`, or one per trial where it has a
    `trial` column); a class without a threshold is never present."""
    mine = thresholds[thresholds["detector"].astype(str) == detector]
    source = f"detections:{detector}"
    if "trial" not in mine:
        return detector_presence(
            frames, detections, dict(zip(mine["label"], mine["threshold"], strict=True)), source, trials
        )
    mine = mine[mine["trial"].notna()]
    parts = split_frame_names(detections["trial_frame"])
    key = pd.MultiIndex.from_arrays([parts["trial"].to_numpy(), detections["label"].to_numpy()])
    floor = mine.set_index(["trial", "label"])["threshold"].astype(float).reindex(key).to_numpy()
    kept = detections[detections["score"].to_numpy(float) >= np.where(np.isnan(floor), np.inf, floor)]
    covered = set(parts["trial"].dropna()) | set(trials)
    return presence(frames[frames["trial"].isin(covered)], kept, source)


PRESENCE_METRIC_COLUMNS = ["source", "trial", "tool", "tp", "fp", "fn", "precision", "recall", "f1"]


def presence_metrics(table: pd.DataFrame) -> pd.DataFrame:
    """Each detector's presence against the ground truth's, per trial and tool (frame-level F1)."""
    truth = table[table["source"] == GROUND_TRUTH].drop(columns="source")
    parts = [
        agreement(truth, table[table["source"] == source].drop(columns="source"), ["trial", "tool"]).assign(
            source=source
        )
        for source in table["source"].unique()
        if source != GROUND_TRUTH
    ]
    return pd.concat(parts)[PRESENCE_METRIC_COLUMNS] if parts else pd.DataFrame(columns=PRESENCE_METRIC_COLUMNS)
