"""Tool presence over time, phases read from tool co-occurrence, and outcome analyses.

Presence is a long table `trial, frame, tool, source, present` with one row per annotated frame
(1 fps) and tool; phases are runs of frames where a configured set of tools is present together
and another set absent.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .constants import BOX_LABELS
from .tables import split_frame_names

GROUND_TRUTH = "ground_truth"


def frame_index(boxes: pd.DataFrame) -> pd.DataFrame:
    """Every annotated frame (trial, frame), sorted: the time axis of the timelines."""
    parts = split_frame_names(boxes["trial_frame"].drop_duplicates())
    return (
        parts[["trial", "frame"]].dropna().astype({"frame": int}).sort_values(["trial", "frame"]).reset_index(drop=True)
    )


def presence(frames: pd.DataFrame, items: pd.DataFrame, source: str) -> pd.DataFrame:
    """Long presence table: a tool is present in a frame when `items` (boxes) has it there."""
    parts = split_frame_names(items["trial_frame"]).assign(label=items["label"].to_numpy())
    hits = parts.dropna(subset=["label", "trial"])[["trial", "frame", "label"]].drop_duplicates()
    hits = hits.astype({"frame": int}).assign(present=True)
    grid = frames.merge(pd.DataFrame({"tool": list(BOX_LABELS)}), how="cross")
    out = grid.merge(hits.rename(columns={"label": "tool"}), on=["trial", "frame", "tool"], how="left")
    out["present"] = out["present"].notna()
    out["source"] = source
    return out[["trial", "frame", "tool", "source", "present"]]


def thresholded(detections: pd.DataFrame, thresholds: Mapping[str, float]) -> pd.DataFrame:
    """Detections at or above each class's threshold (e.g. its best-F1 score)."""
    floor = detections["label"].map(thresholds).fillna(np.inf)
    return detections[detections["score"] >= floor]


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run-length encoding: (starts, lengths, run values) of a 1-D array."""
    if len(values) == 0:
        return np.array([], int), np.array([], int), values
    change = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [len(values)]]))
    return starts, lengths, values[starts]


def smooth_signal(present: np.ndarray, min_gap: int, min_run: int) -> np.ndarray:
    """Fill absent gaps shorter than `min_gap` between two present runs, then drop present runs
    shorter than `min_run`. Zero disables each step."""
    out = present.astype(bool).copy()
    if min_gap > 0:
        starts, lengths, vals = _runs(out)
        for s, n, v in zip(starts, lengths, vals, strict=False):
            if not v and n < min_gap and s > 0 and s + n < len(out):
                out[s : s + n] = True
    if min_run > 0:
        starts, lengths, vals = _runs(out)
        for s, n, v in zip(starts, lengths, vals, strict=False):
            if v and n < min_run:
                out[s : s + n] = False
    return out


def smooth(table: pd.DataFrame, min_gap: int, min_run: int) -> pd.DataFrame:
    """`smooth_signal` on every (trial, tool, source) series of a presence table."""
    if min_gap <= 0 and min_run <= 0:
        return table
    table = table.sort_values(["source", "trial", "tool", "frame"]).copy()
    table["present"] = table.groupby(["source", "trial", "tool"], sort=False)["present"].transform(
        lambda s: smooth_signal(s.to_numpy(), min_gap, min_run)
    )
    return table.sort_values(["source", "trial", "frame", "tool"]).reset_index(drop=True)


def agreement(truth: pd.DataFrame, predicted: pd.DataFrame, keys: list[str], flag: str = "present") -> pd.DataFrame:
    """Frame-level precision, recall and F1 of `predicted` against `truth`, per `keys`."""
    merged = truth.merge(predicted, on=[*keys, "frame"], suffixes=("_truth", "_pred"))
    t, p = merged[f"{flag}_truth"].astype(bool), merged[f"{flag}_pred"].astype(bool)
    merged = merged.assign(tp=t & p, fp=~t & p, fn=t & ~p)
    out = merged.groupby(keys)[["tp", "fp", "fn"]].sum().reset_index()
    out["precision"] = out["tp"] / (out["tp"] + out["fp"]).replace(0, np.nan)
    out["recall"] = out["tp"] / (out["tp"] + out["fn"]).replace(0, np.nan)
    out["f1"] = 2 * out["tp"] / (2 * out["tp"] + out["fp"] + out["fn"]).replace(0, np.nan)
    return out


# --- phases -------------------------------------------------------------------------------------


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


# --- performance metrics and outcomes ----------------------------------------------------------


def tool_metrics(presence_table: pd.DataFrame) -> pd.DataFrame:
    """Per trial, source and tool: seconds in view and number of entries into the field."""
    table = presence_table.sort_values(["source", "trial", "tool", "frame"])
    previous = table.groupby(["source", "trial", "tool"])["present"].shift(fill_value=False)
    table = table.assign(entry=table["present"] & ~previous)
    return (
        table.groupby(["trial", "source", "tool"])
        .agg(time_in_view_s=("present", "sum"), in_n_outs=("entry", "sum"))
        .reset_index()
    )


def outcomes_table(outcomes: pd.DataFrame) -> pd.DataFrame:
    """The outcomes file with typed columns: attempt, success (no leak at 40 mmHg), repair time."""
    trial = outcomes["Trial ID"].astype(str)
    return pd.DataFrame(
        {
            "trial": trial,
            "surgeon": trial.str.extract(r"^(S\d+)A")[0],
            "attempt": pd.to_numeric(trial.str.extract(r"A(\d+)$")[0]).astype("Int64"),
            "pgy": pd.to_numeric(outcomes["Postgraduate year"]).astype("Int64"),
            "prior_miss": outcomes["Prior experience with MISS"],
            "prior_cases": outcomes["Number prior cases"],
            "repair_time_s": pd.to_numeric(outcomes["Time for repair"]).astype(float),
            "leak": outcomes["Leak At 40mmHg"],
            "success": outcomes["Leak At 40mmHg"].map({"N": True, "Y": False}),
        }
    )


NO_ANNOTATIONS = "no annotations: the trial has no frames in the bbox file"


def per_trial_metrics(
    outcomes: pd.DataFrame, presence_table: pd.DataFrame, segs: pd.DataFrame, phases: list[str]
) -> pd.DataFrame:
    """One row per trial of the outcomes table: its outcome, and from the ground truth each tool's
    seconds in view and entries, and each phase's total seconds and number of segments.

    Over every annotated trial: a phase (or tool) that never occurs lasted 0 s and occurred 0 times,
    so every metric is compared over the same trials. A trial without annotations has no metrics
    and `missing_reason` says so.
    """
    truth = presence_table[presence_table["source"] == GROUND_TRUTH]
    tools = tool_metrics(truth).pivot_table(index="trial", columns="tool", values=["time_in_view_s", "in_n_outs"])
    tools.columns = [f"{tool}_{metric}" for metric, tool in tools.columns]
    annotated = pd.Index(sorted(truth["trial"].unique()), name="trial")
    truth_segs = segs[segs["source"] == GROUND_TRUTH]
    durations = truth_segs.assign(seconds=truth_segs["end_frame"] - truth_segs["start_frame"] + 1)
    grouped = durations.groupby(["trial", "phase"])["seconds"]
    full = pd.MultiIndex.from_product([annotated, list(phases)], names=["trial", "phase"])
    totals = grouped.sum().reindex(full, fill_value=0).unstack("phase")
    counts = grouped.size().reindex(full, fill_value=0).unstack("phase")
    phase_columns = pd.concat([totals.add_suffix("_total_s"), counts.add_suffix("_count")], axis=1)[
        [f"{name}_{stat}" for name in phases for stat in ("total_s", "count")]
    ]
    metrics = tools.reindex(annotated).fillna(0).astype(int).join(phase_columns.astype(int))
    table = outcomes.merge(metrics.reset_index(), on="trial", how="left")
    table["missing_reason"] = np.where(table["trial"].isin(annotated), "", NO_ANNOTATIONS)
    return table


def by_attempt(table: pd.DataFrame) -> pd.DataFrame:
    """Success rate and mean repair time per attempt, over all trials and over successful ones."""
    rated = table.dropna(subset=["attempt", "success"]).astype({"success": bool})
    grouped = rated.groupby("attempt")
    out = pd.DataFrame(
        {
            "n_trials": grouped.size(),
            "n_success": grouped["success"].sum(),
            "mean_time_s": grouped["repair_time_s"].mean(),
            "mean_time_success_s": rated[rated["success"]].groupby("attempt")["repair_time_s"].mean(),
        }
    )
    out["success_rate"] = out["n_success"] / out["n_trials"]
    total = pd.DataFrame(
        {
            "n_trials": [len(rated)],
            "n_success": [int(rated["success"].sum())],
            "mean_time_s": [rated["repair_time_s"].mean()],
            "mean_time_success_s": [rated.loc[rated["success"], "repair_time_s"].mean()],
            "success_rate": [rated["success"].mean()],
        },
        index=pd.Index(["all"], name="attempt"),
    )
    out = pd.concat([out.reset_index().astype({"attempt": str}), total.reset_index()], ignore_index=True)
    return out[["attempt", "n_trials", "n_success", "success_rate", "mean_time_s", "mean_time_success_s"]]


def permutation_test(values: np.ndarray, groups: np.ndarray, n: int = 10000, seed: int = 0) -> float:
    """Two-sided permutation p-value for a difference in means between two boolean groups."""
    values, groups = np.asarray(values, float), np.asarray(groups, bool)
    ok = ~np.isnan(values)
    values, groups = values[ok], groups[ok]
    if groups.all() or not groups.any():
        return float("nan")
    observed = abs(values[groups].mean() - values[~groups].mean())
    rng = np.random.default_rng(seed)
    perms = np.array([rng.permutation(groups) for _ in range(n)])
    diffs = np.abs((perms * values).sum(1) / perms.sum(1) - (~perms * values).sum(1) / (~perms).sum(1))
    return float((1 + (diffs >= observed - 1e-12).sum()) / (n + 1))


def by_outcome(metrics: pd.DataFrame, n_permutations: int = 5000) -> pd.DataFrame:
    """Mean of each per-trial metric for leak vs no leak, with a permutation-test p-value."""
    rated = metrics.dropna(subset=["success"])
    columns = [
        c
        for c in rated.columns
        if c not in ("trial", "surgeon", "success", "leak", "prior_miss", "prior_cases", "source")
    ]
    rows = []
    for column in columns:
        values = pd.to_numeric(rated[column], errors="coerce").to_numpy(float)
        success = rated["success"].astype(bool).to_numpy()
        rows.append(
            {
                "metric": column,
                "n_success": int(np.sum(success & ~np.isnan(values))),
                "n_leak": int(np.sum(~success & ~np.isnan(values))),
                "mean_success": np.nanmean(values[success]) if success.any() else np.nan,
                "mean_leak": np.nanmean(values[~success]) if (~success).any() else np.nan,
                "p_permutation": permutation_test(values, success, n_permutations),
            }
        )
    return pd.DataFrame(rows)


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
