"""Per-trial performance metrics and surgical outcomes: by attempt, by outcome."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sospine.analytics.presence import GROUND_TRUTH
from sospine.statistics import permutation_test


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
    outcomes: pd.DataFrame,
    presence_table: pd.DataFrame,
    segs: pd.DataFrame,
    phases: list[str],
    patterns: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per trial of the outcomes table: its outcome, and from the ground truth each tool's
    seconds in view and entries, and each phase's total seconds and number of segments; then the
    columns of `patterns` (indexed by trial: the tool-combination entropies and the common states'
    shares, `patterns.pattern_metrics`), where given.

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
    if patterns is not None:
        metrics = metrics.join(patterns.reindex(annotated))
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
