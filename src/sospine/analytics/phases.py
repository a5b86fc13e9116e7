"""Phases read from tool co-occurrence: runs of frames where a configured set of tools is present
together and another set absent; and their agreement with a reference."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from sospine.analytics.presence import GROUND_TRUTH, agreement, smooth_signal
from sospine.constants import BOX_LABELS


def phase_activity(presence_table: pd.DataFrame, phases: Mapping[str, Mapping]) -> pd.DataFrame:
    """Per (source, trial, frame, phase): whether the phase's rule holds, runs shorter than its
    `min_frames` removed. A rule: all `require` tools present, no `forbid` tool present."""
    wide = presence_table.pivot_table(
        index=["source", "trial", "frame"], columns="tool", values="present", aggfunc="any", fill_value=False
    )
    wide = wide.reindex(columns=list(BOX_LABELS), fill_value=False).astype(bool).sort_index()
    parts = []
    for name, rule in phases.items():
        active = wide[list(rule["require"])].all(axis=1)
        if rule.get("forbid"):
            active &= ~wide[list(rule["forbid"])].any(axis=1)
        frame = active.rename("active").reset_index().assign(phase=name)
        min_frames = int(rule.get("min_frames", 1))
        if min_frames > 1:
            frame["active"] = frame.groupby(["source", "trial"])["active"].transform(
                lambda s, min_frames=min_frames: smooth_signal(s.to_numpy(), 0, min_frames)
            )
        parts.append(frame)
    columns = ["source", "trial", "frame", "phase", "active"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def segments(activity: pd.DataFrame) -> pd.DataFrame:
    """Consecutive active frames as segments `trial, source, phase, start_frame, end_frame` (inclusive).

    Frames are consecutive when their numbers differ by one (1 fps).
    """
    active = activity[activity["active"].astype(bool)].sort_values(["source", "trial", "phase", "frame"])
    if active.empty:
        return pd.DataFrame(columns=["trial", "source", "phase", "start_frame", "end_frame"])
    key = ["source", "trial", "phase"]
    new_run = (active["frame"].diff() != 1) | (active[key].shift() != active[key]).any(axis=1)
    run_id = new_run.cumsum()
    grouped = active.groupby(run_id)
    out = grouped.agg(
        trial=("trial", "first"),
        source=("source", "first"),
        phase=("phase", "first"),
        start_frame=("frame", "min"),
        end_frame=("frame", "max"),
    )
    return out.reset_index(drop=True)[["trial", "source", "phase", "start_frame", "end_frame"]]


def phase_table(segs: pd.DataFrame, frames: pd.DataFrame, phases: list[str]) -> pd.DataFrame:
    """Per trial, source and phase: occurrences, total and mean duration (s), fraction of the trial."""
    seg = segs.assign(duration_s=segs["end_frame"] - segs["start_frame"] + 1)
    stats = seg.groupby(["trial", "source", "phase"]).agg(
        occurrences=("duration_s", "size"), total_s=("duration_s", "sum"), mean_duration_s=("duration_s", "mean")
    )
    trial_frames = frames.groupby("trial").size().rename("trial_frames")
    sources = segs["source"].unique() if not segs.empty else [GROUND_TRUTH]
    grid = pd.MultiIndex.from_product(
        [sorted(trial_frames.index), sorted(sources), phases], names=["trial", "source", "phase"]
    )
    out = stats.reindex(grid).reset_index()
    out[["occurrences", "total_s"]] = out[["occurrences", "total_s"]].fillna(0).astype(int)
    out = out.merge(trial_frames.reset_index(), on="trial")
    out["fraction_of_trial"] = out["total_s"] / out["trial_frames"]
    return out


def expand_segments(segs: pd.DataFrame, frames: pd.DataFrame, phases: list[str], source: str) -> pd.DataFrame:
    """Segments back to per-frame activity over `frames` (for comparing with scripted phases)."""
    grid = frames.merge(pd.DataFrame({"phase": phases}), how="cross")
    if segs.empty:
        return grid.assign(active=False, source=source)
    lengths = (segs["end_frame"] - segs["start_frame"] + 1).to_numpy()
    rows = segs.loc[segs.index.repeat(lengths), ["trial", "phase", "start_frame"]].reset_index(drop=True)
    offsets = np.concatenate([np.arange(n) for n in lengths])
    rows["frame"] = rows["start_frame"].to_numpy() + offsets
    hit = rows[["trial", "phase", "frame"]].drop_duplicates().assign(active=True)
    out = grid.merge(hit, on=["trial", "frame", "phase"], how="left")
    out["active"] = out["active"].notna()
    return out.assign(source=source)


def segment_overlap(truth: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """For each truth segment, the best temporal IoU with a predicted segment of the same trial and
    phase; averaged per trial and phase."""
    pairs = truth.merge(predicted, on=["trial", "phase"], how="left", suffixes=("", "_pred"))
    inter = (
        np.minimum(pairs["end_frame"], pairs["end_frame_pred"])
        - np.maximum(pairs["start_frame"], pairs["start_frame_pred"])
        + 1
    ).clip(lower=0)
    union = (
        (pairs["end_frame"] - pairs["start_frame"] + 1)
        + (pairs["end_frame_pred"] - pairs["start_frame_pred"] + 1)
        - inter
    )
    pairs["iou"] = (inter / union).fillna(0.0)
    best = pairs.groupby(["trial", "phase", "start_frame", "end_frame"])["iou"].max().reset_index()
    return (
        best.groupby(["trial", "phase"])
        .agg(truth_segments=("iou", "size"), mean_best_iou=("iou", "mean"))
        .reset_index()
    )


PHASE_AGREEMENT_COLUMNS = [
    "source",
    "trial",
    "phase",
    "tp",
    "fp",
    "fn",
    "precision",
    "recall",
    "f1",
    "truth_segments",
    "mean_best_iou",
]


def phase_agreement(
    reference_activity: pd.DataFrame,
    reference_segments: pd.DataFrame,
    activity: pd.DataFrame,
    segs: pd.DataFrame,
    sources: list[str],
) -> pd.DataFrame:
    """Each source's phases against a reference (ground truth or the generator's script): frame-level
    precision/recall/F1 and the mean best temporal IoU of the reference segments."""
    reference = reference_activity.drop(columns="source", errors="ignore")
    parts = []
    for source in sources:
        predicted = activity[activity["source"] == source].drop(columns="source")
        frame_level = agreement(reference, predicted, ["trial", "phase"], flag="active")
        overlap = segment_overlap(reference_segments, segs[segs["source"] == source])
        parts.append(frame_level.merge(overlap, on=["trial", "phase"], how="left").assign(source=source))
    return pd.concat(parts)[PHASE_AGREEMENT_COLUMNS] if parts else pd.DataFrame(columns=PHASE_AGREEMENT_COLUMNS)
