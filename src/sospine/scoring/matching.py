"""Matching detections to truth boxes and the two AP rules (VOC all-point and the paper's); see
`sospine.scoring` for both rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from sospine.constants import BOX_LABELS, COORDS
from sospine.dataset.boxes import paired_iou, paired_iou_inclusive
from sospine.tables import split_frame_names

Rule = Literal["voc", "paper"]


class ScoringError(ValueError):
    pass


@dataclass
class Matched:
    """Detections in rank order (score descending; ties broken by frame and box for the VOC rule, by
    file order for the paper's) with TP flags."""

    detections: pd.DataFrame  # columns: stem, trial, label, score, x1..y2, tp (bool), rank
    n_truth: pd.DataFrame  # columns: trial, label, n


def prepare_truth(boxes: pd.DataFrame, trials: list[str] | None) -> pd.DataFrame:
    truth = pd.concat(
        [boxes.reset_index(drop=True), split_frame_names(boxes["trial_frame"]).reset_index(drop=True)], axis=1
    )
    if trials is not None:
        truth = truth[truth["trial"].isin(trials)]
    return truth.dropna(subset=["label"]).reset_index(drop=True)


def prepare_detections(
    detections: pd.DataFrame, trials: list[str] | None, parsed: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Detections with trial, frame and stem parsed from their names (the `frame` column is redundant;
    `parsed`: `split_frame_names` of their names, when already at hand)."""
    own = detections.drop(columns=["frame"], errors="ignore").reset_index(drop=True)
    parsed = split_frame_names(own["trial_frame"]) if parsed is None else parsed.reset_index(drop=True)
    dets = pd.concat([own, parsed], axis=1)
    if trials is not None:
        tested = dets["trial"].isin(trials)
        dets = dets if tested.all() else dets[tested]  # a filter copies every column, even to keep all
    return dets.reset_index(drop=True)


def _frames_of(*tables: pd.DataFrame) -> np.ndarray:
    """The frames (stems) of the tables, sorted, each once; distinct values first, then sorted, as
    a million detections name a few thousand frames."""
    return np.sort(pd.unique(np.concatenate([t["stem"].astype(str).to_numpy(dtype=object) for t in tables])))


def coded(truth: pd.DataFrame, detections: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Copies of both tables whose frames (stems), trials and labels are categoricals with the same
    categories (frames and trials sorted, labels in BOX_LABELS' order): compared, joined and sorted
    by integer codes. Tables already coded alike are returned as they are."""
    if _coded_alike(truth, detections):
        return truth, detections
    stems = pd.CategoricalDtype(pd.Index(_frames_of(truth, detections)))
    trials = sorted(set(truth["trial"].dropna().astype(str)) | set(detections["trial"].dropna().astype(str)))
    wanted = {"stem": stems, "trial": pd.CategoricalDtype(trials), "label": pd.CategoricalDtype(list(BOX_LABELS))}
    tables = []
    for table in (truth, detections):
        if all(_coded_as(table[column], dtype) for column, dtype in wanted.items()):
            tables.append(table)
            continue
        table = table.copy()
        for column, dtype in wanted.items():
            table[column] = pd.Categorical(table[column], dtype=dtype)
        tables.append(table)
    return tables[0], tables[1]


def _coded_alike(truth: pd.DataFrame, detections: pd.DataFrame) -> bool:
    """Both tables `coded` together already: the same sorted categories for frames and trials, and
    BOX_LABELS for labels."""
    for column in ("stem", "trial", "label"):
        dtypes = truth[column].dtype, detections[column].dtype
        if not all(isinstance(dtype, pd.CategoricalDtype) for dtype in dtypes):
            return False
        categories = dtypes[0].categories
        if not categories.equals(dtypes[1].categories):
            return False
        if column == "label" and list(categories) != list(BOX_LABELS):
            return False
        if column != "label" and not categories.is_monotonic_increasing:
            return False
    return True


def _coded_as(values: pd.Series, dtype: pd.CategoricalDtype) -> bool:
    # CategoricalDtype's == ignores the order of categories; codes compare only in the same order
    return isinstance(values.dtype, pd.CategoricalDtype) and values.cat.categories.equals(dtype.categories)


def _stable_order(table: pd.DataFrame, keys: list[str], descending: set[str] = frozenset()) -> np.ndarray:
    """Row positions of a stable sort by `keys`, the first the most significant: `sort_values(keys,
    kind="mergesort")`'s order. Sorted by the first key, then each further key only among the rows
    still tied (a million detections have few rows that tie on score, frame and label); pandas sorts
    where a key has a missing value (placed last)."""
    arrays = []
    for key in keys:
        values = table[key]
        if isinstance(values.dtype, pd.CategoricalDtype):
            array = values.cat.codes.to_numpy()
            missing = array < 0
        else:
            array = values.to_numpy(float)
            missing = np.isnan(array)
        if missing.any():
            ascending = [key not in descending for key in keys]
            ordered = table.reset_index(drop=True).sort_values(keys, ascending=ascending, kind="mergesort")
            return ordered.index.to_numpy()
        arrays.append(-array if key in descending else array)
    if not arrays or len(table) < 2:
        return np.arange(len(table))
    order = np.argsort(arrays[0], kind="stable")
    first = arrays[0][order]
    starts = np.r_[True, first[1:] != first[:-1]]  # where a run of equal keys so far begins
    for array in arrays[1:]:
        group = np.cumsum(starts) - 1
        tied = np.flatnonzero(np.bincount(group)[group] > 1)
        if not len(tied):
            break
        rows = order[tied]
        values = array[rows]
        within = np.lexsort((values, group[tied]))  # stable: equal rows keep their order so far
        order[tied] = rows[within]
        values, runs = values[within], group[tied][within]
        starts[tied] = np.r_[True, (values[1:] != values[:-1]) | (runs[1:] != runs[:-1])]
    return order


def match(truth: pd.DataFrame, detections: pd.DataFrame, iou_threshold: float = 0.5, rule: Rule = "voc") -> Matched:
    """Rank detections and flag true positives by the VOC rule or the paper's (vectorised).

    Frames, trials and labels become categoricals first (`coded`): a million detections are
    compared, joined and sorted by integer codes, not by strings."""
    truth, dets = coded(truth, detections)
    dets = dets[["stem", "trial", "label", "score", *COORDS]].copy()
    dets["score"] = dets["score"].astype(float)
    if rule == "voc":
        # a canonical order makes the result independent of the file's row order, ties included
        order = _stable_order(dets, ["score", "stem", "label", *COORDS], descending={"score"})
    else:  # the authors' stable sort by score: ties stay in file order
        order = _stable_order(dets, ["score"], descending={"score"})
    dets = dets.take(order).reset_index(drop=True)
    dets["rank"] = np.arange(len(dets))
    gt = truth[["stem", "label", *COORDS]].reset_index(drop=True)
    gt["gt_id"] = np.arange(len(gt))
    pairs = dets[["rank", "stem", "label", *COORDS]].merge(gt, on=["stem", "label"], suffixes=("", "_gt"))
    iou = paired_iou if rule == "voc" else paired_iou_inclusive
    pairs["iou"] = iou(pairs[COORDS].to_numpy(float), pairs[[f"{c}_gt" for c in COORDS]].to_numpy(float))
    # each detection's best-overlapping truth box (first truth box on ties, like np.argmax)
    best = pairs.take(_stable_order(pairs, ["rank", "iou", "gt_id"], descending={"iou"}))
    best = best[~best["rank"].duplicated()]
    hit = best["iou"] >= iou_threshold if rule == "voc" else best["iou"] > iou_threshold
    hits = best[hit].sort_values("rank", kind="stable")
    first_on_box = hits[~hits["gt_id"].duplicated(keep="first")]
    tp = np.zeros(len(dets), dtype=bool)
    tp[first_on_box["rank"].to_numpy()] = True
    best_iou = np.zeros(len(dets))
    best_iou[best["rank"].to_numpy()] = best["iou"].fillna(0.0).to_numpy(float)
    dets["tp"] = tp
    dets["iou"] = best_iou
    n_truth = truth.groupby(["trial", "label"], observed=True).size().rename("n").reset_index()
    n_truth["trial"] = n_truth["trial"].astype(str)
    n_truth["label"] = n_truth["label"].astype(str)
    return Matched(dets, n_truth)


def ap_from_flags(tp: np.ndarray, n_truth: float, weights: np.ndarray | None = None) -> float:
    """VOC all-point AP from rank-ordered TP flags (optionally weighted, for the bootstrap).

    >>> round(ap_from_flags(np.array([True, False, True]), 4), 6)  # 0.25 * 1 + 0.25 * 2/3
    0.416667
    """
    if n_truth <= 0:
        return float("nan")
    if len(tp) == 0:
        return 0.0
    w = np.ones(len(tp)) if weights is None else weights
    tp_cum = np.cumsum(w * tp)
    fp_cum = np.cumsum(w * (~tp))
    recall = tp_cum / n_truth
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp_cum + fp_cum > 0, tp_cum / (tp_cum + fp_cum), 0.0)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def paper_ap_from_flags(tp: np.ndarray, n_truth: float) -> float:
    """The paper's AP from rank-ordered TP flags: the recall steps between consecutive detections
    times the monotone precision envelope, without the first step from recall 0.

    >>> round(paper_ap_from_flags(np.array([True, False, True]), 4), 6)  # VOC's 0.4167 less 1.0 * 1/4
    0.166667
    """
    if n_truth <= 0:
        return float("nan")
    if len(tp) == 0:
        return 0.0
    tp_cum = np.cumsum(tp)
    recall = tp_cum / n_truth
    precision = tp_cum / np.arange(1, len(tp) + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum(np.diff(recall) * envelope[1:]))


def pr_curve(tp: np.ndarray, scores: np.ndarray, n_truth: int) -> pd.DataFrame:
    """The precision-recall curve where it steps: at every true positive (where recall grows and
    precision, F1 and the AP envelope peak), the first detection and the last one. A million
    detections give at most as many rows as there are truth boxes, and the best F1 is the same."""
    tp_cum = np.cumsum(tp)
    fp_cum = np.cumsum(~tp)
    recall = tp_cum / n_truth if n_truth else np.zeros(len(tp))
    precision = tp_cum / np.maximum(tp_cum + fp_cum, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    keep = np.asarray(tp, dtype=bool).copy()
    if len(keep):
        keep[[0, -1]] = True
    return pd.DataFrame({"score": scores[keep], "precision": precision[keep], "recall": recall[keep], "f1": f1[keep]})


def best_f1_point(curve: pd.DataFrame) -> pd.Series | None:
    """The row of a `pr_curve` where F1 is highest (the first such row), or None for no detection:
    its `score` is the class's best-F1 threshold (`best_threshold` of `ap_per_class.csv`)."""
    return curve.loc[curve["f1"].idxmax()] if len(curve) else None


def best_f1_threshold(matched: Matched, label: str, trials: list[str]) -> float:
    """The best-F1 threshold of one class over some of the matched trials, exactly as scoring only
    those trials gives it (`sospine score --test-trials`): a detection is matched within its own
    frame, so the flags of a subset of trials are those of the subset matched alone. NaN where the
    trials have no detection of the class.

    >>> flags = {"trial": ["A", "B", "A"], "label": "needle", "score": [0.9, 0.7, 0.5], "tp": [True, True, False]}
    >>> m = Matched(pd.DataFrame(flags), pd.DataFrame({"trial": ["A", "B"], "label": "needle", "n": [1, 1]}))
    >>> best_f1_threshold(m, "needle", ["A", "B"]), best_f1_threshold(m, "needle", ["A"])
    (0.7, 0.9)
    """
    dets = matched.detections
    mine = dets[(dets["label"] == label).to_numpy() & dets["trial"].isin(trials).to_numpy()]  # codes, not strings
    counts = matched.n_truth
    n = int(counts.loc[(counts["label"] == label) & counts["trial"].isin(trials), "n"].sum())
    best = best_f1_point(pr_curve(mine["tp"].to_numpy(bool), mine["score"].to_numpy(float), n))
    return float(best["score"]) if best is not None else float("nan")


def paper_operating_point(tp: np.ndarray, scores: np.ndarray, n_truth: int) -> tuple[float, float]:
    """The best F1 over the paper-rule ranking and the score of the detection where it is reached,
    as the authors' script takes it: F1 = 2 (P R) / (P + R) after every detection, the first
    maximum; (0, NaN) where no detection is a true positive (the script falls back to 0.5 there).

    >>> paper_operating_point(np.array([True, False, True, False]), np.array([0.9, 0.8, 0.7, 0.6]), 3)
    (0.6666666666666666, 0.7)
    """
    tp = np.asarray(tp, dtype=bool)
    if n_truth <= 0 or not tp.any():
        return 0.0, float("nan")
    tp_cum = np.cumsum(tp)
    fp_cum = np.cumsum(~tp)
    precision = tp_cum / (fp_cum + tp_cum)
    recall = tp_cum / n_truth
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = 2 * np.divide(precision * recall, precision + recall)
    best = int(np.nanargmax(f1))
    return float(f1[best]), float(np.asarray(scores, dtype=float)[best])


#: ap_per_class.csv's columns by the paper's matching rule (inclusive boxes, IoU strictly above the
#: threshold, ties in file order), after every other column
PAPER_POINT_COLUMNS = ["n_tp_paper", "n_fp_paper", "best_f1_paper", "best_threshold_paper"]


def class_table(matched: Matched, paper: Matched, at_iou50: Matched) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per class: VOC AP and the paper's AP at the matching IoU, VOC AP at IoU 0.5, counts and the
    best-F1 operating point by VOC matching, the same by the paper's (`PAPER_POINT_COLUMNS`); and the
    PR curves (VOC matching)."""
    rows, curves = [], []
    for label in BOX_LABELS:
        d = _of_label(matched, label)
        n = int(matched.n_truth.loc[matched.n_truth["label"] == label, "n"].sum())
        tp = d["tp"].to_numpy(bool)
        curve = pr_curve(tp, d["score"].to_numpy(float), n).assign(label=label)
        best = best_f1_point(curve)
        theirs = _of_label(paper, label)
        paper_tp = theirs["tp"].to_numpy(bool)
        paper_f1, paper_threshold = paper_operating_point(paper_tp, theirs["score"].to_numpy(float), n)
        rows.append(
            {
                "label": label,
                "n_truth": n,
                "n_detections": len(d),
                "n_true_positives": int(tp.sum()),
                "ap_voc": ap_from_flags(tp, n),
                "ap_paper": paper_ap_from_flags(paper_tp, n),
                "ap50_voc": ap_from_flags(_of_label(at_iou50, label)["tp"].to_numpy(bool), n),
                "best_f1": float(best["f1"]) if best is not None else 0.0,
                "best_threshold": float(best["score"]) if best is not None else np.nan,
                "precision_at_best_f1": float(best["precision"]) if best is not None else np.nan,
                "recall_at_best_f1": float(best["recall"]) if best is not None else np.nan,
                "n_tp_paper": int(paper_tp.sum()),
                "n_fp_paper": int((~paper_tp).sum()),
                "best_f1_paper": paper_f1,
                "best_threshold_paper": paper_threshold,
            }
        )
        curves.append(curve)
    return pd.DataFrame(rows), pd.concat(curves, ignore_index=True)


def _of_label(matched: Matched, label: str) -> pd.DataFrame:
    return matched.detections[matched.detections["label"] == label]


PER_TRIAL_COLUMNS = ["trial", "label", "n_truth", "n_detections", "ap_voc", "ap_paper"]


def per_trial_ap(matched: Matched, paper: Matched) -> pd.DataFrame:
    """VOC and paper-rule AP of each test trial and class that has truth boxes."""
    mine = matched.detections.groupby(["trial", "label"], observed=True).indices
    theirs = paper.detections.groupby(["trial", "label"], observed=True).indices
    none = np.array([], dtype=int)
    mine_tp, theirs_tp = matched.detections["tp"].to_numpy(bool), paper.detections["tp"].to_numpy(bool)
    rows = []
    for (trial, label), n in matched.n_truth.set_index(["trial", "label"])["n"].items():
        own, other = mine.get((trial, label), none), theirs.get((trial, label), none)
        rows.append(
            {
                "trial": trial,
                "label": label,
                "n_truth": int(n),
                "n_detections": len(own),
                "ap_voc": ap_from_flags(mine_tp[np.sort(own)], n),
                "ap_paper": paper_ap_from_flags(theirs_tp[np.sort(other)], n),
            }
        )
    return pd.DataFrame(rows, columns=PER_TRIAL_COLUMNS)
