"""Time VOC scoring of the 3,823 published detections: vectorised vs a per-detection DataFrame loop.

python benchmarks/score.py [--shared ../shared/sospine]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sospine.constants import BOX_LABELS
from sospine.scoring import ap_from_flags, match, prepare_detections, prepare_truth
from sospine.tables import read_annotations


def naive_flags(truth: pd.DataFrame, dets: pd.DataFrame, iou_thr: float = 0.5) -> dict[str, np.ndarray]:
    """The straightforward way: iterate detections row by row, filter the truth DataFrame each time."""
    flags = {}
    for label in BOX_LABELS:
        d = dets[dets["label"] == label].sort_values("score", ascending=False)
        taken: set[int] = set()
        tp = []
        for _, det in d.iterrows():
            gt = truth[(truth["stem"] == det["stem"]) & (truth["label"] == label)]
            best, best_idx = 0.0, None
            for idx, g in gt.iterrows():
                iw = max(0.0, min(det["x2"], g["x2"]) - max(det["x1"], g["x1"]))
                ih = max(0.0, min(det["y2"], g["y2"]) - max(det["y1"], g["y1"]))
                union = (
                    (det["x2"] - det["x1"]) * (det["y2"] - det["y1"])
                    + (g["x2"] - g["x1"]) * (g["y2"] - g["y1"])
                    - iw * ih
                )
                iou = iw * ih / union if union > 0 else 0.0
                if iou > best:
                    best, best_idx = iou, idx
            hit = best >= iou_thr and best_idx not in taken
            if hit:
                taken.add(best_idx)
            tp.append(hit)
        flags[label] = np.array(tp, bool)
    return flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared" / "sospine"))
    args = parser.parse_args()
    shared = Path(args.shared)
    truth_all = read_annotations(shared / "sospine_bbox.csv")
    dets_all = pd.read_csv(shared / "sospine_detections_3.6_0.05.csv")
    trials = sorted(dets_all["trial_frame"].str.split("_frame_").str[0].unique())

    start = time.perf_counter()
    truth = prepare_truth(truth_all, trials)
    dets = prepare_detections(dets_all, trials)
    matched = match(truth, dets)
    n = matched.n_truth.groupby("label")["n"].sum()
    fast = {
        label: ap_from_flags(
            matched.detections.loc[matched.detections["label"] == label, "tp"].to_numpy(bool), n[label]
        )
        for label in BOX_LABELS
    }
    fast_s = time.perf_counter() - start

    start = time.perf_counter()
    flags = naive_flags(truth, dets)
    naive = {label: ap_from_flags(flags[label], n[label]) for label in BOX_LABELS}
    naive_s = time.perf_counter() - start

    print(f"detections: {len(dets)}  ground-truth boxes: {len(truth)}")
    print(f"vectorised: {fast_s:.3f} s   per-detection loop: {naive_s:.3f} s   speed-up: {naive_s / fast_s:.1f}x")
    for label in BOX_LABELS:
        print(f"  {label:14s} AP50 vectorised {fast[label]:.4f}  loop {naive[label]:.4f}")


if __name__ == "__main__":
    main()
