"""COCO AP at IoU 0.5 and 0.5:0.95 with faster_coco_eval directly (the backend torchmetrics'
MeanAveragePrecision runs), without importing torch."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sospine.constants import BOX_LABELS, COORDS
from sospine.scoring.matching import _frames_of

COCO_BACKEND = "faster_coco_eval"  # same figures as pycocotools, much faster


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
