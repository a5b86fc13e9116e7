"""The synthetic source's stand-in for the paper's YOLOv4 detections: ground truth jittered, with
misses and false positives. Not a detector: a known, seeded detections file to score and rank."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sospine import constants
from sospine.constants import COORDS


def synthetic_detections(boxes: pd.DataFrame, spec: Any, rng: np.random.Generator) -> pd.DataFrame:  # a SynthSpec
    """Detections in the published format made from ground-truth boxes: each box kept with
    probability 1 - miss_rate and its corners jittered, plus false positives (random boxes of a
    random class) at `detection_false_positives` per frame; seeded, so the same spec gives the same file.

    >>> truth = pd.DataFrame({"trial_frame": ["S1A1_frame_00000001.jpeg"] * 2, "x1": [10, 50], "y1": [10, 50],
    ...                       "x2": [40, 90], "y2": [30, 80], "label": ["needle", "grasper"]})
    >>> from sospine.data.synth import SynthSpec
    >>> dets = synthetic_detections(truth, SynthSpec(width=100, height=100), np.random.default_rng(0))
    >>> list(dets.columns), bool(dets["trial_frame"].str.endswith(".jpg").all())
    (['trial_frame', 'frame', 'x1', 'y1', 'x2', 'y2', 'score', 'label'], True)
    """
    real = boxes.dropna(subset=["label"]).reset_index(drop=True)
    kept = real[rng.random(len(real)) >= spec.detection_miss_rate].reset_index(drop=True)
    corners = kept[COORDS].to_numpy(float)
    size = np.repeat(corners[:, 2:] - corners[:, :2], 2, axis=0).reshape(-1, 4)
    corners = corners + rng.normal(0, spec.detection_jitter, corners.shape) * np.maximum(size, 1)
    hits = pd.DataFrame(corners, columns=COORDS).assign(
        trial_frame=kept["trial_frame"], label=kept["label"], score=rng.beta(5, 2, len(kept))
    )
    frames = boxes["trial_frame"].drop_duplicates().to_numpy()
    n_false = rng.poisson(spec.detection_false_positives, len(frames))
    if len(kept) + n_false.sum() == 0:  # a detections file holds at least one detection
        n_false[0] = 1
    where = np.repeat(frames, n_false)
    centre = rng.uniform([0, 0], [spec.width, spec.height], (len(where), 2))
    half = rng.uniform(0.02, 0.1, (len(where), 2)) * [spec.width, spec.height]
    false = pd.DataFrame(np.hstack([centre - half, centre + half]), columns=COORDS).assign(
        trial_frame=where,
        label=rng.choice(constants.BOX_LABELS, len(where)),
        score=rng.beta(2, 5, len(where)),
    )
    dets = pd.concat([hits, false], ignore_index=True)
    # corners in order and inside the frame, scores above the published file's 0.05 cut
    x = np.sort(dets[["x1", "x2"]].clip(0, spec.width - 1).to_numpy(), axis=1)
    y = np.sort(dets[["y1", "y2"]].clip(0, spec.height - 1).to_numpy(), axis=1)
    dets[["x1", "x2"]], dets[["y1", "y2"]] = x, y
    dets["score"] = dets["score"].clip(0.051, 0.999).round(4)
    names = dets["trial_frame"].str.replace(r"\.jpeg$", ".jpg", regex=True)
    dets = dets.assign(trial_frame=names, frame=names.str.extract(r"_frame_(\d+)", expand=False).astype(int))
    dets = dets.sort_values(["trial_frame", "score"], ascending=[True, False], kind="stable")
    return dets[list(constants.DETECTION_COLUMNS)].round({c: 2 for c in COORDS}).reset_index(drop=True)
