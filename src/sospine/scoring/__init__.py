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

from sospine.scoring.bootstrap import bootstrap_ap, bootstrap_samples, weighted_aps
from sospine.scoring.coco import COCO_BACKEND, COCO_MAX_DETECTIONS, coco_candidates, coco_map
from sospine.scoring.files import (
    FOLD_METRICS,
    SCORE_OUTPUTS,
    VALIDATION_REPORT,
    fold_summary,
    score,
    score_files,
    write_scores,
)
from sospine.scoring.matching import (
    PAPER_POINT_COLUMNS,
    PER_TRIAL_COLUMNS,
    Matched,
    Rule,
    ScoringError,
    _stable_order,
    ap_from_flags,
    class_table,
    coded,
    match,
    paper_ap_from_flags,
    paper_operating_point,
    per_trial_ap,
    pr_curve,
    prepare_detections,
    prepare_truth,
)
from sospine.statistics import (
    MIN_TRIALS_FOR_INTERVAL,
    interval_note,
    resample_weights,
    t_interval,
    t_quantile,
)

__all__ = [
    "COCO_BACKEND",
    "COCO_MAX_DETECTIONS",
    "FOLD_METRICS",
    "MIN_TRIALS_FOR_INTERVAL",
    "PAPER_POINT_COLUMNS",
    "PER_TRIAL_COLUMNS",
    "SCORE_OUTPUTS",
    "VALIDATION_REPORT",
    "Matched",
    "Rule",
    "ScoringError",
    "_stable_order",
    "ap_from_flags",
    "bootstrap_ap",
    "bootstrap_samples",
    "class_table",
    "coco_candidates",
    "coco_map",
    "coded",
    "fold_summary",
    "interval_note",
    "match",
    "paper_ap_from_flags",
    "paper_operating_point",
    "per_trial_ap",
    "pr_curve",
    "prepare_detections",
    "prepare_truth",
    "resample_weights",
    "score",
    "score_files",
    "t_interval",
    "t_quantile",
    "weighted_aps",
    "write_scores",
]
