"""Whole-process cost of scoring, each case a fresh process measured in the same run, start-up
(the interpreter and every import: pandas, pandera, matplotlib, faster_coco_eval) included:

- a plain pandas/numpy VOC scoring of the 3,823 published detections (the reference);
- `sospine score` on the same file (validation of both files with pandera, VOC and paper-rule AP,
  COCO AP with faster_coco_eval, trial bootstrap, PR figure);
- `sospine score` on a 1,000,000-row detections file (the published boxes repeated and jittered);
- the leaderboard of five detectors (the published file and four degraded copies) with 1,000 paired
  resamples and the exact permutation tests.

These figures are information: where a small file's scoring is mostly start-up, they measure
imports. The target where users wait, a million detections against a plain per-detection loop with
the work timed after the imports, is benchmarks/score.py's.

python benchmarks/score_process.py [--shared ../shared/sospine] [--repeat 3] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAIN = """
import sys
import pandas as pd
from sospine.constants import BOX_LABELS
from sospine.scoring import ap_from_flags, match, prepare_detections, prepare_truth
from sospine.tables import read_annotations
truth_all = read_annotations(sys.argv[1])
dets_all = pd.read_csv(sys.argv[2])
trials = sorted(dets_all["trial_frame"].str.split("_frame_").str[0].unique())
m = match(prepare_truth(truth_all, trials), prepare_detections(dets_all, trials))
n = m.n_truth.groupby("label")["n"].sum()
print({l: round(ap_from_flags(m.detections.loc[m.detections["label"] == l, "tp"].to_numpy(bool), n[l]), 4)
       for l in BOX_LABELS})
"""

BIG = """
import sys
import numpy as np
import pandas as pd
published = pd.read_csv(sys.argv[1])
rows = int(sys.argv[3])
rng = np.random.default_rng(0)
big = pd.concat([published] * (rows // len(published) + 1), ignore_index=True).iloc[:rows].copy()
for column in ["x1", "y1", "x2", "y2"]:
    big[column] = (big[column] + rng.normal(0, 20, len(big))).round(2)
big["x2"], big["y2"] = np.maximum(big["x2"], big["x1"]), np.maximum(big["y2"], big["y1"])
big["score"] = rng.uniform(0.05, 1, len(big)).round(4)
big.to_csv(sys.argv[2], index=False)
"""

LEADERBOARD = """
import sys
import numpy as np
import pandas as pd
from sospine.scoring.leaderboard import rank
from sospine.scoring import bootstrap_samples, resample_weights
from sospine.tables import read_annotations, split_frame_names
truth = read_annotations(sys.argv[1])
published = pd.read_csv(sys.argv[2])
rng = np.random.default_rng(0)
detections = {"paper": published}
for k in range(4):
    copy = published.copy()
    copy[["x1", "x2"]] += rng.normal(0, 5, (len(copy), 2))
    copy["x2"] = np.maximum(copy["x2"], copy["x1"])
    detections[f"degraded{k}"] = copy.sample(frac=0.9, random_state=k)
trials = sorted(split_frame_names(published["trial_frame"])["trial"].unique())
board, paired = rank(truth, detections, {n: trials for n in detections}, reference="paper", n_resamples=1000)
# four test trials are too few for intervals, so rank() draws none: the 1,000 paired resamples of every
# detector (what a split of 10 or more trials costs on top) are drawn here, the same way
scored = [__import__("sospine.scoring", fromlist=["score"]).score(truth, t, test_trials=trials, bootstrap=0)
          for t in detections.values()]
weights = resample_weights(len(trials), 1000, 0)
for result in scored:
    bootstrap_samples(result["matched"], trials, weights)
print(paired[paired["label"] == "all"][["detector", "diff", "p_value"]].to_string(index=False))
"""


def measure(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of one child process (RUSAGE_CHILDREN keeps the largest
    child so far, so the cases run from the smallest to the largest)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared" / "sospine"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the large detections file")
    args = parser.parse_args()
    truth = str(Path(args.shared) / "sospine_bbox.csv")
    dets = str(Path(args.shared) / "sospine_detections_3.6_0.05.csv")
    score = [sys.executable, "-m", "sospine", "score", "--truth", truth, "--out"]
    with tempfile.TemporaryDirectory() as out:
        big = str(Path(out) / "big.csv")
        cases = {
            "plain VOC (pandas/numpy)": ([sys.executable, "-c", PLAIN, truth, dets], args.repeat),
            "sospine score (whole)": ([*score, out, "--detections", dets], args.repeat),
            "leaderboard, 5 detectors": ([sys.executable, "-c", LEADERBOARD, truth, dets], args.repeat),
            f"sospine score, {args.rows:,} rows": ([*score, out, "--detections", big], 1),
        }
        best = {}
        for name, (command, repeat) in cases.items():
            if big in command:  # made only now: its generator's memory would count as a child's
                subprocess.run([sys.executable, "-c", BIG, dets, big, str(args.rows)], check=True)
            runs = [measure(command) for _ in range(repeat)]
            best[name] = min(wall for wall, _ in runs)
            print(f"{name:32s} best wall {best[name]:6.2f} s of {repeat}   peak RSS {max(p for _, p in runs):7.0f} MiB")
        ratio = best["sospine score (whole)"] / best["plain VOC (pandas/numpy)"]
        print(f"sospine score / plain loop: {ratio:.2f}x")


if __name__ == "__main__":
    main()
