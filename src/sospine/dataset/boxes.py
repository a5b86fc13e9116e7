"""Boxes from tool tips, the paper's rule, and comparison with a published bbox file."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sospine.constants import (
    ANNOTATION_COLUMNS,
    BOX_LABELS,
    COORDS,
    SINGLE_POINT_HALF_SIZE,
    SINGLE_POINT_LOWEST,
    TIP_TO_TOOL,
)


def derive_boxes(tips: pd.DataFrame, half_size: int = SINGLE_POINT_HALF_SIZE) -> pd.DataFrame:
    """Boxes in the published bbox format from tool-tip rows.

    Points of one frame are grouped by tool (needle tip + base -> needle, needle driver tip + base
    -> needle driver, the rest as they are); a box is the min/max of x and y over the tool's
    points, and a tool with a single point becomes a square of +-`half_size` px whose low corners
    stop at pixel `SINGLE_POINT_LOWEST` (the published file's convention; the high corners may reach
    past the frame, as there). Frames whose only
    row is empty keep one empty row. Frames keep the order of the tool-tip file, boxes within a
    frame are sorted by label as in the published file.
    """
    frame_order = pd.Index(tips["trial_frame"].drop_duplicates())
    points = tips.dropna(subset=["label"]).assign(tool=lambda t: t["label"].map(TIP_TO_TOOL))
    grouped = points.groupby(["trial_frame", "tool"], sort=False)
    boxes = grouped.agg(
        x1=("x1", "min"), y1=("y1", "min"), x2=("x2", "max"), y2=("y2", "max"), n_points=("x1", "size")
    ).reset_index()
    single = boxes["n_points"] == 1
    boxes.loc[single, ["x1", "y1"]] = (boxes.loc[single, ["x1", "y1"]] - half_size).clip(lower=SINGLE_POINT_LOWEST)
    boxes.loc[single, ["x2", "y2"]] += half_size
    boxes = boxes.rename(columns={"tool": "label"})

    empty_frames = frame_order.difference(boxes["trial_frame"], sort=False)
    empty = pd.DataFrame({"trial_frame": empty_frames})
    out = pd.concat([boxes, empty], ignore_index=True)
    out["_frame_rank"] = pd.Categorical(out["trial_frame"], categories=frame_order).codes
    # the published file orders a frame's boxes by label name
    out = out.sort_values(["_frame_rank", "label"], kind="stable", na_position="first")
    out = out[list(ANNOTATION_COLUMNS)].reset_index(drop=True)
    for column in COORDS:
        out[column] = out[column].astype("Int64")
    return out


def paired_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of two equally long (N, 4) arrays."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, np.where((a == b).all(axis=1), 1.0, 0.0))


def paired_iou_inclusive(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of inclusive pixel boxes, the SOSpine authors' convention: a box covers the pixels
    x1..x2 and y1..y2, so its width is x2 - x1 + 1 (likewise height, intersection and union), and two
    boxes overlap only where max(x1) <= min(x2) and max(y1) <= min(y2).

    >>> paired_iou_inclusive(np.array([[0, 0, 9, 9]]), np.array([[5, 0, 14, 9]])).round(4).tolist()
    [0.3333]
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    left, right = np.maximum(a[:, 0], b[:, 0]), np.minimum(a[:, 2], b[:, 2])
    top, bottom = np.maximum(a[:, 1], b[:, 1]), np.minimum(a[:, 3], b[:, 3])
    overlaps = (left <= right) & (top <= bottom)
    inter = np.where(overlaps, (right - left + 1) * (bottom - top + 1), 0.0)
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    union = area_a + area_b - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def compare_boxes(derived: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """Per-label counts of identical, differing, missing (published only) and extra (derived only)
    boxes, keyed by (frame, label) since the published file has one box per frame and label."""
    key = ["trial_frame", "label"]
    derived_boxes = derived.dropna(subset=["label"])[key + COORDS]
    published_boxes = published.dropna(subset=["label"])[key + COORDS]
    merged = derived_boxes.merge(
        published_boxes, on=key, how="outer", suffixes=("_derived", "_published"), indicator=True
    )
    both = merged["_merge"] == "both"
    dcols = [f"{c}_derived" for c in COORDS]
    pcols = [f"{c}_published" for c in COORDS]
    same = both & (merged[dcols].to_numpy(float) == merged[pcols].to_numpy(float)).all(axis=1)
    merged["status"] = np.select(
        [same, both, merged["_merge"] == "right_only"], ["identical", "differing", "missing"], "extra"
    )
    merged["iou"] = np.nan
    diff = merged["status"] == "differing"
    if diff.any():
        merged.loc[diff, "iou"] = paired_iou(
            merged.loc[diff, dcols].to_numpy(float), merged.loc[diff, pcols].to_numpy(float)
        )
    counts = merged.pivot_table(index="label", columns="status", values="trial_frame", aggfunc="size", fill_value=0)
    counts = counts.reindex(
        index=list(BOX_LABELS), columns=["identical", "differing", "missing", "extra"], fill_value=0
    )
    iou = merged[diff].groupby("label")["iou"].agg(["mean", "min"]).reindex(list(BOX_LABELS))
    out = counts.join(iou.rename(columns={"mean": "differing_iou_mean", "min": "differing_iou_min"}))
    return out.reset_index().rename(columns={"index": "label"})
