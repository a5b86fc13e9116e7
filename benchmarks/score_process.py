"""Whole-process cost of `sospine score` on the 3,823 published detections, beside a plain
pandas/numpy VOC scoring of the same file and the import of torch + torchmetrics alone (the floor
that keeping torchmetrics' COCO figures sets), each a fresh process, measured in the same run.

python benchmarks/score_process.py [--shared ../shared/sospine] [--repeat 3]
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


def measure(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of one child process."""
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
    args = parser.parse_args()
    truth = str(Path(args.shared) / "sospine_bbox.csv")
    dets = str(Path(args.shared) / "sospine_detections_3.6_0.05.csv")
    with tempfile.TemporaryDirectory() as out:
        cases = {
            # peak memory is the largest child so far: measure the small ones first
            "plain VOC (pandas/numpy)": [sys.executable, "-c", PLAIN, truth, dets],
            "import torch+torchmetrics": [sys.executable, "-c", "import torchmetrics.detection"],
            "sospine score (whole)": [
                sys.executable,
                "-m",
                "sospine",
                "score",
                "--truth",
                truth,
                "--detections",
                dets,
                "--out",
                out,
            ],
        }
        for name, command in cases.items():
            runs = [measure(command) for _ in range(args.repeat)]
            best = min(wall for wall, _ in runs)
            print(f"{name:28s} best wall {best:6.2f} s of {args.repeat}   peak RSS {max(p for _, p in runs):7.0f} MiB")


if __name__ == "__main__":
    main()
