"""Scoring detections against ground-truth boxes, by two AP rules and COCO's.

VOC all-point AP (`ap_voc`, the headline): detections of a class sorted by score, each matched to
the ground-truth box of its class and frame it overlaps most; a true positive if that IoU reaches
the threshold and the box is not yet taken, otherwise a false positive (PASCAL VOC devkit); AP is
the area under the monotone precision envelope, from recall 0.

The paper's rules (`ap_paper`), as in the SOSpine authors' published analysis code, differ in three
ways, and with them the published detections give exactly the paper's printed APs:
1. boxes are inclusive pixel boxes: width = x2 - x1 + 1, likewise height, intersection and union;
2. a detection is a true positive only if its best IoU is strictly greater than the threshold
   (greedy by descending score, ties in file order, a truth box taken once);
3. AP adds (r_i - r_{i-1}) * p_i over consecutive detections only, p the monotone precision
   envelope: the first step, from recall 0 to the first detection's recall, is left out, so the
   paper's AP is lower than VOC's by up to the first precision divided by the number of truth boxes.

Both are computed without a per-detection loop: all (detection, same-frame same-class truth) pairs
get their IoU at once, each detection keeps its best pair, and the first-ranked detection on each
truth box is the true positive.

COCO-style figures (101-point interpolated precision, IoU 0.5 and 0.5:0.95, which is why they differ
slightly from the VOC all-point figure) are computed with faster_coco_eval directly, the backend
torchmetrics' MeanAveragePrecision runs, without importing torch; the test suite checks them against
torchmetrics to 1e-6.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .boxes import paired_iou, paired_iou_inclusive
from .constants import BOX_LABELS, COORDS, INSTRUMENTS
from .tables import read_annotations, split_frame_names

Rule = Literal["voc", "paper"]
# Intervals of AP over test trials: the trials are the units (frames of one trial are anything but
# independent), so an interval needs enough of them. Below MIN_TRIALS_FOR_INTERVAL trials none is
# given and the tables say why; from it on, the interval is the point estimate plus or minus Student's
# t (n - 1 degrees of freedom) times the trial-bootstrap standard error, scaled by sqrt(n / (n - 1)).
# In a simulation (tests/test_statistics.py: samples of trials from a pool of 192 whose detection
# quality varies from trial to trial, 150 samples per trial count) a plain percentile bootstrap covered
# the pool's AP 77-82% of the time over 4 trials and 89-91% over 10, where it claims 95%; this interval
# covered 90-97% (mean 93%) over 10 trials and 90-93% over 22.
MIN_TRIALS_FOR_INTERVAL = 10
_Z975 = 1.959963984540054  # the standard normal's 97.5% point

COCO_BACKEND = "faster_coco_eval"  # same figures as pycocotools, much faster


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


def class_table(matched: Matched, paper: Matched, at_iou50: Matched) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per class: VOC AP and the paper's AP at the matching IoU, VOC AP at IoU 0.5, counts and the
    best-F1 operating point; and the PR curves (VOC matching)."""
    rows, curves = [], []
    for label in BOX_LABELS:
        d = _of_label(matched, label)
        n = int(matched.n_truth.loc[matched.n_truth["label"] == label, "n"].sum())
        tp = d["tp"].to_numpy(bool)
        curve = pr_curve(tp, d["score"].to_numpy(float), n).assign(label=label)
        best = curve.loc[curve["f1"].idxmax()] if len(curve) else None
        rows.append(
            {
                "label": label,
                "n_truth": n,
                "n_detections": len(d),
                "n_true_positives": int(tp.sum()),
                "ap_voc": ap_from_flags(tp, n),
                "ap_paper": paper_ap_from_flags(_of_label(paper, label)["tp"].to_numpy(bool), n),
                "ap50_voc": ap_from_flags(_of_label(at_iou50, label)["tp"].to_numpy(bool), n),
                "best_f1": float(best["f1"]) if best is not None else 0.0,
                "best_threshold": float(best["score"]) if best is not None else np.nan,
                "precision_at_best_f1": float(best["precision"]) if best is not None else np.nan,
                "recall_at_best_f1": float(best["recall"]) if best is not None else np.nan,
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


def resample_weights(n_trials: int, n_resamples: int, seed: int = 0) -> np.ndarray:
    """How often each test trial is drawn in each resample (rows: resamples, columns: trials).
    Detectors scored with the same weights are resampled on the same trials: a paired bootstrap."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_trials, size=(n_resamples, n_trials))
    return np.stack([np.bincount(d, minlength=n_trials) for d in draws]).astype(float)


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


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile by the Cornish-Fisher expansion (Abramowitz & Stegun 26.7.5), good to
    1e-4 from 9 degrees of freedom on; only p = 0.975 is needed here.

    >>> round(t_quantile(0.975, 9), 3), round(t_quantile(0.975, 21), 3), round(t_quantile(0.975, 1000), 3)
    (2.262, 2.08, 1.962)
    """
    if p != 0.975:
        raise ValueError("only the 97.5% point is implemented")
    z, nu = _Z975, float(df)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / nu + g2 / nu**2 + g3 / nu**3 + g4 / nu**4


def t_interval(point: float, replicates: np.ndarray, n_trials: int, bounds: tuple[float, float] = (0.0, 1.0)):
    """95% interval: point +- t(n - 1) * sqrt(n / (n - 1)) * the bootstrap standard error, within
    `bounds` (AP in [0, 1], a difference of APs in [-1, 1]); (nan, nan) without enough trials."""
    values = np.asarray(replicates, dtype=float)
    values = values[~np.isnan(values)]
    if n_trials < MIN_TRIALS_FOR_INTERVAL or len(values) < 2 or np.isnan(point):
        return float("nan"), float("nan")
    half = t_quantile(0.975, n_trials - 1) * np.sqrt(n_trials / (n_trials - 1)) * values.std(ddof=1)
    return float(max(bounds[0], point - half)), float(min(bounds[1], point + half))


def bootstrap_ap(matched: Matched, trials: list[str], n_resamples: int, seed: int = 0) -> pd.DataFrame:
    """95% intervals of each class's VOC AP (and the mAPs) over test trials (see `t_interval`)."""
    table = bootstrap_samples(matched, trials, resample_weights(len(trials), n_resamples, seed))
    point = bootstrap_samples(matched, trials, np.ones((1, len(trials)))).iloc[0]
    rows = {column: t_interval(point[column], table[column], len(trials)) for column in table.columns}
    return pd.DataFrame(rows, index=["ci95_low", "ci95_high"]).T


def interval_note(n_trials: int, n_resamples: int) -> str | None:
    """Why there is no interval, or None when there is one."""
    if not n_resamples:
        return "no intervals: scoring.bootstrap is 0"
    if n_trials < MIN_TRIALS_FOR_INTERVAL:
        return (
            f"no intervals: {n_trials} test trial(s); an interval over test trials needs at least "
            f"{MIN_TRIALS_FOR_INTERVAL} (below that none covers at its stated 95%; leave-one-surgeon-out pools 22)"
        )
    return None


def _float32_linspace(start: float, end: float, steps: int) -> np.ndarray:
    """torch.linspace's float32 values, as float64: the IoU and recall thresholds torchmetrics hands
    to COCOeval (computed from both ends, as torch does), so that the figures are the same.

    >>> _float32_linspace(0.5, 0.95, 10)[[0, 1, 9]].tolist()
    [0.5, 0.550000011920929, 0.949999988079071]
    """
    step = np.float32((np.float32(end) - np.float32(start)) / np.float32(steps - 1))
    i = np.arange(steps)
    from_start = np.float32(start) + step * i.astype(np.float32)
    from_end = np.float32(end) - step * (steps - 1 - i).astype(np.float32)
    return np.where(i < steps // 2, from_start, from_end).astype(np.float32).astype(np.float64)


def _coco_annotations(table: pd.DataFrame, image_of: dict, class_id: dict, with_scores: bool) -> list[dict]:
    """COCO annotation records in torchmetrics' order and precision: per image, in the table's order;
    boxes as float32 xywh, area w * h, scores float32."""
    order = np.lexsort((np.arange(len(table)), table["stem"].map(image_of).to_numpy()))
    ordered = table.iloc[order]
    corners = ordered[COORDS].to_numpy(np.float32)
    boxes = np.column_stack([corners[:, :2], corners[:, 2:] - corners[:, :2]]).astype(np.float32).astype(float)
    areas = (boxes[:, 2] * boxes[:, 3]).tolist()
    images = ordered["stem"].map(image_of).to_numpy().tolist()
    labels = ordered["label"].map(class_id).to_numpy().tolist()
    columns = (range(1, len(ordered) + 1), images, areas, labels, boxes.tolist())
    records = [
        {"id": n, "image_id": i, "area": a, "category_id": c, "iscrowd": 0, "bbox": b}
        for n, i, a, c, b in zip(*columns, strict=True)
    ]
    if with_scores:
        for record, score in zip(records, ordered["score"].to_numpy(np.float32).astype(float).tolist(), strict=True):
            record["score"] = score
    return records


COCO_MAX_DETECTIONS = 100  # per image and class: COCO's largest maxDets, the one its AP uses


def coco_candidates(detections: pd.DataFrame, limit: int = COCO_MAX_DETECTIONS) -> pd.DataFrame:
    """The detections COCO's evaluation can see: per frame and class, the `limit` best by score as
    COCO rounds it (float32), ties in the table's order, as COCOeval's stable sort leaves them; the
    rest it drops unseen. Kept in the table's order, so the figures are the same to the last digit.

    >>> table = pd.DataFrame({"stem": ["a"] * 3 + ["b"], "label": "needle", "score": [0.1, 0.9, 0.5, 0.2]})
    >>> coco_candidates(table, limit=2)["score"].tolist()
    [0.9, 0.5, 0.2]
    """
    if len(detections) <= limit or detections["score"].isna().any():
        return detections  # (a missing score is COCO's to refuse, wherever it sits)
    frame = pd.factorize(detections["stem"])[0].astype(np.int64)
    label = pd.factorize(detections["label"])[0]
    group = frame * (label.max() + 1) + label
    sizes = np.bincount(group)
    crowded = np.flatnonzero(sizes[group] > limit)  # only these rows can be cut
    if not len(crowded):
        return detections
    # the crowded rows by group, then score as COCO rounds it, descending; a stable sort keeps ties in order
    score = -detections["score"].to_numpy(np.float32)[crowded]
    order = crowded[np.lexsort((score, group[crowded]))]
    starts = np.r_[True, group[order][1:] != group[order][:-1]]
    rank = np.arange(len(order)) - np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    keep = np.ones(len(detections), dtype=bool)
    keep[order[rank >= limit]] = False
    return detections[keep]


def _import_faster_coco_eval() -> None:
    """faster_coco_eval, imported without OpenCV where OpenCV is not loaded yet: faster_coco_eval
    needs it only for segment boundaries, never for boxes, and its import was a fifth of a published
    file's COCO figures (the project's venv has OpenCV for ultralytics)."""
    import sys

    if "faster_coco_eval" not in sys.modules and "cv2" not in sys.modules:
        sys.modules["cv2"] = None  # `import cv2` fails: faster_coco_eval goes on without it
        try:
            import faster_coco_eval  # noqa: F401 - imported here, once, without OpenCV
        finally:
            del sys.modules["cv2"]  # a later `import cv2` imports it as usual


def coco_map(truth: pd.DataFrame, detections: pd.DataFrame) -> dict[str, dict[str, float]]:
    """COCO AP at IoU 0.5 and 0.5:0.95, overall and per class, with faster_coco_eval (no torch).

    This is what torchmetrics' MeanAveragePrecision computes with its faster_coco_eval backend (the
    same datasets, thresholds, float32 rounding and 101 recall points), without importing torch:
    the test suite checks the figures against torchmetrics to 1e-6. One evaluation over IoU 0.5:0.95
    gives both: AP50 is read from the same precision table (its first IoU threshold).
    """
    import contextlib
    import io

    _import_faster_coco_eval()
    from faster_coco_eval import COCO, COCOeval_faster

    class_id = {label: i for i, label in enumerate(BOX_LABELS)}
    stems = _frames_of(truth, detections)
    detections = coco_candidates(detections)
    image_of = {stem: i for i, stem in enumerate(stems)}
    present = sorted(set(truth["label"].map(class_id)) | set(detections["label"].map(class_id)))
    datasets = []
    for table, with_scores in ((truth, False), (detections, True)):
        coco = COCO()
        coco.dataset = {
            "images": [{"id": i} for i in range(len(stems))],
            "annotations": _coco_annotations(table, image_of, class_id, with_scores),
            "categories": [{"id": c, "name": str(c)} for c in present],
        }
        datasets.append(coco)
    with contextlib.redirect_stdout(io.StringIO()):
        for coco in datasets:
            coco.createIndex()
        evaluation = COCOeval_faster(datasets[0], datasets[1], iouType="bbox")
        evaluation.params.iouThrs = _float32_linspace(0.5, 0.95, 10)
        evaluation.params.recThrs = _float32_linspace(0.0, 1.0, 101)
        # only what the figures read: all areas, COCO's 100 detections (each area range and maxDets
        # is evaluated on its own, so the others change nothing here)
        evaluation.params.maxDets = [COCO_MAX_DETECTIONS]
        evaluation.params.areaRng, evaluation.params.areaRngLbl = [[0, 1e10]], ["all"]
        evaluation.evaluate()
        evaluation.accumulate()
    # precision: (IoU thresholds, recall points, classes, area ranges, max detections); -1 = undefined
    precision = np.asarray(evaluation.eval["precision"])[:, :, :, 0, -1]
    defined = precision > -1

    def mean_defined(values: np.ndarray, mask: np.ndarray) -> float:
        # torchmetrics reports float32: the same rounding gives the same figures
        return float(np.float32(values[mask].mean())) if mask.any() else float("nan")

    out: dict[str, dict[str, float]] = {"ap50_coco": {}, "ap50_95_coco": {}}
    for k, c in enumerate(evaluation.params.catIds):
        out["ap50_coco"][BOX_LABELS[c]] = mean_defined(precision[0, :, k], defined[0, :, k])
        out["ap50_95_coco"][BOX_LABELS[c]] = mean_defined(precision[:, :, k], defined[:, :, k])
    out["ap50_coco"]["all"] = mean_defined(precision[0], defined[0]) if defined[0].any() else -1.0
    out["ap50_95_coco"]["all"] = mean_defined(precision, defined) if defined.any() else -1.0
    return out


def score(
    truth_boxes: pd.DataFrame,
    detections: pd.DataFrame,
    *,
    test_trials: list[str] | None = None,
    iou: float = 0.5,
    bootstrap: int = 1000,
    seed: int = 0,
    coco: bool = True,
) -> dict:
    """All scoring tables for one detector; see `score_files` for the files written.

    `ap_voc` and `ap_paper` are at the IoU threshold `iou`; `ap50_voc` is always at IoU 0.5 (the
    name of earlier versions, equal to `ap_voc` at the default threshold); the COCO figures are at
    0.5 and 0.5:0.95. `coco=False` skips the (slower) torchmetrics figures, leaving them NaN.
    """
    with_coco = coco
    parsed = split_frame_names(detections["trial_frame"])
    det_trials = sorted(parsed["trial"].dropna().unique())
    trials = sorted(test_trials) if test_trials else det_trials
    if not trials:
        warnings.warn("no detections and no test trials given: every AP is 0", stacklevel=2)
    truth = prepare_truth(truth_boxes, trials)
    dets = prepare_detections(detections, trials, parsed=parsed)
    dropped = len(detections) - len(dets)
    coded_truth, coded_dets = coded(truth, dets)  # once for every match below
    matched = match(coded_truth, coded_dets, iou)
    paper = match(coded_truth, coded_dets, iou, rule="paper")
    at_iou50 = matched if iou == 0.5 else match(coded_truth, coded_dets, 0.5)
    table, curves = class_table(matched, paper, at_iou50)
    if dets.empty:
        warnings.warn("the detections file has no detections in the test trials: every AP is 0", stacklevel=2)
    coco_ap = coco_map(truth, dets) if with_coco and not dets.empty else {"ap50_coco": {}, "ap50_95_coco": {}}
    table["ap50_coco"] = table["label"].map(coco_ap["ap50_coco"]).astype(float)
    table["ap50_95_coco"] = table["label"].map(coco_ap["ap50_95_coco"]).astype(float)
    if with_coco and dets.empty:
        table[["ap50_coco", "ap50_95_coco"]] = table[["ap50_coco", "ap50_95_coco"]].fillna(0.0)
    note = interval_note(len(trials), bootstrap)
    intervals = bootstrap_ap(matched, trials, bootstrap, seed) if note is None else None
    if intervals is not None:
        table = table.merge(intervals, left_on="label", right_index=True, how="left")
    else:
        table[["ci95_low", "ci95_high"]] = np.nan
    table.insert(1, "iou_threshold", iou)
    instruments = table[table["label"].isin(INSTRUMENTS)]
    summary = {
        "iou_threshold": iou,
        "map_voc_all": float(table["ap_voc"].mean()),
        "map_voc_instruments": float(instruments["ap_voc"].mean()),
        "map_paper_all": float(table["ap_paper"].mean()),
        "map_paper_instruments": float(instruments["ap_paper"].mean()),
        "map50_voc_all": float(table["ap50_voc"].mean()),
        "map50_voc_instruments": float(instruments["ap50_voc"].mean()),
        "map50_coco_all": float(coco_ap["ap50_coco"].get("all", 0.0 if with_coco else np.nan)),
        "map50_95_coco_all": float(coco_ap["ap50_95_coco"].get("all", 0.0 if with_coco else np.nan)),
        "map50_coco_instruments": float(instruments["ap50_coco"].mean()),
        "test_trials": trials,
        "n_detections": int(len(dets)),
        "n_detections_outside_test_trials": int(dropped),
        "n_truth": int(table["n_truth"].sum()),
        "ci95_note": note
        or (
            f"95% intervals of VOC AP at IoU {iou}: point +- t({len(trials) - 1}) x trial-bootstrap standard error "
            f"({bootstrap} resamples of {len(trials)} trials)"
        ),
    }
    if intervals is not None:
        for key in ("map_voc_all", "map_voc_instruments"):
            summary[f"{key}_ci95"] = [float(intervals.loc[key, "ci95_low"]), float(intervals.loc[key, "ci95_high"])]
            if iou == 0.5:  # the earlier name, only where it is true
                summary[f"{key.replace('map_', 'map50_')}_ci95"] = summary[f"{key}_ci95"]
    return {
        "table": table,
        "curves": curves,
        "per_trial": per_trial_ap(matched, paper),
        "summary": summary,
        "matched": matched,  # at `iou`: what a bootstrap over these trials re-weights
    }


# what write_scores writes, summary.json last; score_files writes VALIDATION_REPORT instead when the
# files cannot be scored
SCORE_OUTPUTS = ("ap_per_class.csv", "per_trial_ap.csv", "pr_curves.csv", "pr_curves.png", "summary.json")
VALIDATION_REPORT = "validation_report.csv"


def score_files(
    truth_path: str | Path,
    detections_path: str | Path,
    out_dir: str | Path,
    *,
    test_trials: list[str] | None = None,
    iou: float = 0.5,
    bootstrap: int = 1000,
    seed: int = 0,
    name: str | None = None,
) -> dict:
    """Validate the truth and the detections (`sospine score`), then `write_scores`. `name`
    (default: the detections file's name) titles the figure."""
    from .validation import format_issue, validate

    out = Path(out_dir)
    # the folder holds this run's files alone: an earlier run's scores never sit beside this run's
    # validation report (or the reverse), and summary.json, written last, marks a finished run
    for stale in (*SCORE_OUTPUTS, VALIDATION_REPORT):
        (out / stale).unlink(missing_ok=True)
    paths = {"bbox": truth_path, "detections": detections_path}
    # whether the files can be scored is a question of errors; the warnings (a million detections
    # reaching past the frame are a million of them) go into the report only when it is written
    report, files = validate(paths, errors_only=True)
    errors = report[report["severity"] == "error"]
    if not errors.empty:
        report, _ = validate(paths)
        errors = report[report["severity"] == "error"]
        report.to_csv(out / VALIDATION_REPORT, index=False)
        first = "; ".join(format_issue(r) for r in errors.head(5).itertuples())
        raise ScoringError(f"{len(errors)} validation errors (see {out / VALIDATION_REPORT}): {first}")
    detections = files["detections"].typed
    # scoring needs the typed table only: the rows as read (a million detections are half a gigabyte
    # of strings) and the report of warnings go now
    del report, errors, files
    return write_scores(
        read_annotations(truth_path),
        detections,
        out,
        test_trials=test_trials,
        iou=iou,
        bootstrap=bootstrap,
        seed=seed,
        name=name or Path(detections_path).stem,
    )


def write_scores(
    truth: pd.DataFrame,
    detections: pd.DataFrame,
    out_dir: str | Path,
    *,
    test_trials: list[str] | None = None,
    iou: float = 0.5,
    bootstrap: int = 1000,
    seed: int = 0,
    name: str = "detections",
) -> dict:
    """Score validated detections and write ap_per_class.csv, per_trial_ap.csv, pr_curves.csv/.png
    and summary.json into `out_dir`; return the summary."""
    from .plots import pr_curves, pr_title

    out = Path(out_dir)
    result = score(truth, detections, test_trials=test_trials, iou=iou, bootstrap=bootstrap, seed=seed)
    result["table"].to_csv(out / "ap_per_class.csv", index=False)
    result["per_trial"].to_csv(out / "per_trial_ap.csv", index=False)
    result["curves"].to_csv(out / "pr_curves.csv", index=False)
    title = pr_title(name, iou, result["summary"]["test_trials"])
    pr_curves(result["curves"], result["table"], out / "pr_curves.png", title)
    (out / "summary.json").write_text(json.dumps(result["summary"], indent=2) + "\n")
    return result["summary"]


FOLD_METRICS = [
    "map_voc_all",
    "map_voc_instruments",
    "map_paper_all",
    "map_paper_instruments",
    "map50_coco_all",
    "map50_95_coco_all",
]


def fold_summary(summaries: dict[str, dict]) -> pd.DataFrame:
    """Leave-one-surgeon-out: one row per fold (its summary.json), then the mean and standard deviation."""
    rows = [
        {
            "fold": fold,
            "test_trials": " ".join(summary["test_trials"]),
            "iou_threshold": summary["iou_threshold"],
            **{key: summary[key] for key in FOLD_METRICS},
            "n_truth": summary["n_truth"],
            "n_detections": summary["n_detections"],
        }
        for fold, summary in summaries.items()
    ]
    table = pd.DataFrame(rows)
    spread = pd.DataFrame(
        [
            {"fold": "mean", **table[FOLD_METRICS].mean().to_dict()},
            {"fold": "std", **table[FOLD_METRICS].std().to_dict()},
        ]
    )
    return pd.concat([table, spread], ignore_index=True)
