"""Scoring against plain loops, each reference measured in the same run:

- the VOC matching of the 3,823 published detections: vectorised against a per-detection DataFrame
  loop;
- `sospine score` on a 1,000,000-row detections file (the published detections repeated and
  jittered, as in score_process.py) against a plain per-detection Python loop scoring the same file
  (csv module, truth boxes by frame and label in a dict, one IoU at a time, VOC AP): each in a fresh
  process, timed after its imports (start-up is what score_process.py measures). `sospine score`
  validates both files with pandera on the way (the calls and their seconds are printed); targets:
  within 2x of the loop and under 2 GiB peak memory.

python benchmarks/score.py [--shared ../shared/sospine] [--rows 1000000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sospine.constants import BOX_LABELS
from sospine.scoring import ap_from_flags, match, prepare_detections, prepare_truth
from sospine.tables import read_annotations

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score_process import BIG  # noqa: E402 - the same 1,000,000-row file as the whole-process figures


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


# A plain per-detection Python loop: what scoring a detections file takes without pandas or numpy.
# Same matching as `sospine score` (detections by score, then frame, label and corners; each one's
# best truth box of its frame and label, the first on ties; a box taken once; VOC all-point AP).
PLAIN_LOOP = r"""
import csv, json, sys, time
start = time.perf_counter()
LABELS = ("needle", "needle driver", "grasper", "nerve hook", "durotomy")

def rows(path, columns):
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader)
        at = [header.index(c) for c in columns]
        for row in reader:
            yield [row[i] for i in at]

detections = {label: [] for label in LABELS}
trials = set()
for name, x1, y1, x2, y2, score, label in rows(sys.argv[2], ("trial_frame", "x1", "y1", "x2", "y2", "score", "label")):
    stem = name.rsplit(".", 1)[0]
    trials.add(stem.split("_frame_")[0])
    detections[label].append((-float(score), stem, label, float(x1), float(y1), float(x2), float(y2)))
truth, n_truth = {}, dict.fromkeys(LABELS, 0)
for name, x1, y1, x2, y2, label in rows(sys.argv[1], ("trial_frame", "x1", "y1", "x2", "y2", "label")):
    stem = name.rsplit(".", 1)[0]
    if label and stem.split("_frame_")[0] in trials:
        truth.setdefault((stem, label), []).append((float(x1), float(y1), float(x2), float(y2)))
        n_truth[label] += 1
ap = {}
for label in LABELS:
    n = n_truth[label]
    taken, tp, fp, recall, precision = set(), 0, 0, [], []
    for _, stem, _, x1, y1, x2, y2 in sorted(detections[label]):
        best, best_box = 0.0, None
        for i, (gx1, gy1, gx2, gy2) in enumerate(truth.get((stem, label), ())):
            iw, ih = min(x2, gx2) - max(x1, gx1), min(y2, gy2) - max(y1, gy1)
            inter = iw * ih if iw > 0 and ih > 0 else 0.0
            union = (x2 - x1) * (y2 - y1) + (gx2 - gx1) * (gy2 - gy1) - inter
            iou = inter / union if union > 0 else float((x1, y1, x2, y2) == (gx1, gy1, gx2, gy2))
            if iou > best:
                best, best_box = iou, i
        if best >= 0.5 and (stem, best_box) not in taken:
            taken.add((stem, best_box))
            tp += 1
        else:
            fp += 1
        recall.append(tp / n if n else 0.0)
        precision.append(tp / (tp + fp))
    mrec, mpre = [0.0, *recall, 1.0], [0.0, *precision, 0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    ap[label] = sum((mrec[i + 1] - mrec[i]) * mpre[i + 1] for i in range(len(mrec) - 1) if mrec[i + 1] != mrec[i])
    ap[label] = ap[label] if n else float("nan")
print(json.dumps({"seconds": time.perf_counter() - start, "ap": ap}))
"""

# `sospine score` in-process, once on the published file (every import it makes, then the work) and
# timed on the large file; pandera's DataFrameSchema.validate counted and timed on the way
SCORE = r"""
import json, resource, sys, time
import pandas as pd
import pandera.pandas as pa
from sospine.cli import main
truth, published, big, out = sys.argv[1:5]
validate, calls, inside = pa.DataFrameSchema.validate, [], [0.0]
def timed(self, *args, **kwargs):
    start = time.perf_counter()
    try:
        return validate(self, *args, **kwargs)
    finally:
        inside[0] += time.perf_counter() - start
        calls.append(self.name)
pa.DataFrameSchema.validate = timed
assert main(["score", "--truth", truth, "--detections", published, "--out", out]) == 0
calls.clear(); inside[0] = 0.0
start = time.perf_counter()
assert main(["score", "--truth", truth, "--detections", big, "--out", out]) == 0
seconds = time.perf_counter() - start
table = pd.read_csv(f"{out}/ap_per_class.csv").set_index("label")
print(json.dumps({"seconds": seconds, "pandera_calls": calls, "pandera_seconds": inside[0],
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "ap": {label: float(table.loc[label, "ap50_voc"]) for label in table.index}}))
"""


def run_json(code: str, *args: str) -> dict:
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def published_matching(shared: Path) -> None:
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


def large_file(shared: Path, rows: int, repeat: int) -> None:
    truth = str(shared / "sospine_bbox.csv")
    published = str(shared / "sospine_detections_3.6_0.05.csv")
    with tempfile.TemporaryDirectory() as work:
        big = str(Path(work) / "big.csv")
        subprocess.run([sys.executable, "-c", BIG, published, big, str(rows)], check=True)
        loops = [run_json(PLAIN_LOOP, truth, big) for _ in range(repeat)]
        scores = [run_json(SCORE, truth, published, big, work) for _ in range(repeat)]
    loop = min(loops, key=lambda r: r["seconds"])
    ours = min(scores, key=lambda r: r["seconds"])
    peak = max(r["peak_mib"] for r in scores)
    ratio = ours["seconds"] / loop["seconds"]
    print(f"\n{rows:,} detections, best of {repeat}, each in a fresh process after its imports:")
    print(f"plain per-detection Python loop (VOC AP):  {loop['seconds']:6.2f} s")
    print(
        f"sospine score (validation, VOC, paper and COCO AP, bootstrap, figure): {ours['seconds']:6.2f} s, "
        f"peak {peak:.0f} MiB"
    )
    print(
        f"  of which pandera's validation: {ours['pandera_seconds']:.2f} s "
        f"({len(ours['pandera_calls'])} calls: {', '.join(ours['pandera_calls'])})"
    )
    print(f"sospine score / plain loop: {ratio:.2f}x (target 2x); peak {peak / 1024:.2f} GiB (target 2 GiB)")
    differences = [
        abs(ours["ap"][label] - loop["ap"][label]) for label in BOX_LABELS if loop["ap"][label] == loop["ap"][label]
    ]
    print(f"largest VOC AP difference between the two: {max(differences):.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared" / "sospine"))
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the large detections file (0: none)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each large-file case (the best is shown)")
    args = parser.parse_args()
    shared = Path(args.shared)
    published_matching(shared)
    if args.rows:
        large_file(shared, args.rows, args.repeat)


if __name__ == "__main__":
    main()
