"""Figures of the analyses: timelines, the learning curve, presence AP, Bland-Altman agreement, outcome
models, tool-combination states and the tool profile."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sospine.constants import BOX_LABELS
from sospine.plots.style import count, detector_palette, p_text, palette, save, subplots

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def timeline(presence_table: pd.DataFrame, trial: str, path: str | Path) -> None:
    """One trial: a row per tool and source (ground truth above detections), ticks where present."""
    data = presence_table[(presence_table["trial"] == trial) & presence_table["present"]]
    sources = sorted(
        presence_table.loc[presence_table["trial"] == trial, "source"].unique(), key=lambda s: (s != "ground_truth", s)
    )
    rows = [(tool, source) for tool in BOX_LABELS for source in sources]
    fig, ax = subplots(figsize=(11, 0.35 * len(rows) + 1.2))
    _draw_timeline(ax, data, rows)
    ax.set_title(f"{trial}: tool presence")
    save(fig, path)


def _draw_timeline(ax: Axes, data: pd.DataFrame, rows: list[tuple[str, str]]) -> None:
    for y, (tool, source) in enumerate(rows):
        frames = data.loc[(data["tool"] == tool) & (data["source"] == source), "frame"]
        alpha = 1.0 if source == "ground_truth" else 0.6
        ax.vlines(frames, y - 0.4, y + 0.4, color=palette()[tool], alpha=alpha, linewidth=0.8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(
        [f"{tool} ({'truth' if source == 'ground_truth' else source.split(':', 1)[-1]})" for tool, source in rows],
        fontsize=7,
    )
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel("frame (s)")


def timeline_grid(presence_table: pd.DataFrame, trials: list[str], path: str | Path) -> None:
    """The test trials side by side, ground truth vs detections (the paper's Fig. 4)."""
    sources = sorted(presence_table["source"].unique(), key=lambda s: (s != "ground_truth", s))
    rows = [(tool, source) for tool in BOX_LABELS for source in sources]
    fig, axes = subplots(len(trials), 1, figsize=(11, (0.3 * len(rows) + 0.8) * max(len(trials), 1)), squeeze=False)
    for ax, trial in zip(axes[:, 0], trials, strict=False):
        data = presence_table[(presence_table["trial"] == trial) & presence_table["present"]]
        _draw_timeline(ax, data, rows)
        ax.set_title(trial, fontsize=9)
    save(fig, path)


def learning_curve(by_attempt: pd.DataFrame, path: str | Path) -> None:
    """Success rate and mean repair time by attempt; the legend below the axes hides no marker."""
    data = by_attempt[by_attempt["attempt"] != "all"]
    fig, ax = subplots(figsize=(6, 4.8))
    ax.bar(data["attempt"].astype(str), data["success_rate"] * 100, color="#88c", label="success (no leak) %")
    ax.set_xlabel("attempt")
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(0, 100)
    twin = ax.twinx()
    twin.plot(
        data["attempt"].astype(str), data["mean_time_s"], "o-", color="#c44", label="mean repair time, all trials (s)"
    )
    twin.plot(
        data["attempt"].astype(str),
        data["mean_time_success_s"],
        "s--",
        color="#e90",
        label="mean repair time, successful (s)",
    )
    twin.set_ylabel("time for repair (s)")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(
        handles,
        [h.get_label() for h in handles],
        fontsize=7,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        ncol=2,
        frameon=False,
    )
    save(fig, path)


def presence_ap(table: pd.DataFrame, paired: pd.DataFrame, path: str | Path) -> None:
    """Presence AP per tool (groups) and detector (bars, in the board's colours), with intervals where
    given and each detector's paired p-value against the reference above its bar, at its precision
    (the smallest p the test can give marked "(min)")."""
    names = list(dict.fromkeys(table["detector"]))
    colours = detector_palette(names)
    tools = list(BOX_LABELS)
    fig, ax = subplots(figsize=(11, 4.5))
    width = 0.8 / max(len(names), 1)
    p_of = {(r.detector, r.tool): (r.p_value, getattr(r, "p_min", None)) for r in paired.itertuples()}
    for i, name in enumerate(names):
        rows = table[table["detector"] == name].set_index("tool").reindex(tools)
        x = [j + (i - (len(names) - 1) / 2) * width for j in range(len(tools))]
        has_ci = rows["ci95_low"].notna().any()
        err = [
            (rows["presence_ap"] - rows["ci95_low"]).clip(lower=0),
            (rows["ci95_high"] - rows["presence_ap"]).clip(lower=0),
        ]
        ax.bar(x, rows["presence_ap"], width, label=name, color=colours[name], yerr=err if has_ci else None)
        for xi, tool, value in zip(x, tools, rows["presence_ap"], strict=True):
            p, p_min = p_of.get((name, tool), (None, None))
            if p is not None and pd.notna(p) and pd.notna(value):
                ax.annotate(
                    p_text(p, p_min), (xi, value), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=6
                )
    ax.set_xticks(range(len(tools)), tools)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("presence AP over test frames")
    trials = table["n_trials"].iat[0] if len(table) else 0
    title = f"tool presence: AP of the frames' highest score per tool, {count(trials, 'test trial')}"
    if len(paired) and paired["p_value"].notna().any():
        reference = paired["reference"].dropna().iat[0]
        title += f"\np: paired permutation test against {reference}"
        if "p_min" in paired and paired["p_min"].notna().any():
            title += (
                f"; (min): the smallest p {count(trials, 'test trial')} can give, {paired['p_min'].dropna().iat[0]:.4g}"
            )
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    save(fig, path)


_METRIC_TITLES = (
    (re.compile(r"(.+)_time_in_view_s"), "{}: seconds in view"),
    (re.compile(r"(.+)_in_n_outs"), "{}: entries into view"),
    (re.compile(r"(.+)_total_s"), "{}: total seconds"),
    (re.compile(r"(.+)_count"), "{}: occurrences"),
    (re.compile(r"state_share_empty"), "share of frames with no tool"),
    (re.compile(r"state_share_(.+)"), "share of frames with only {}"),
    (re.compile(r"pattern_entropy"), "tool-combination entropy"),
    (re.compile(r"pattern_entropy_authors"), "tool-combination entropy (authors' scale)"),
)


def metric_title(metric: str) -> str:
    """A per-trial metric's column name (`sospine.analytics.apm.apms`) in words.

    >>> metric_title("durotomy_in_n_outs"), metric_title("needle_driver_time_in_view_s")
    ('durotomy: entries into view', 'needle driver: seconds in view')
    >>> metric_title("taking_a_bite_count"), metric_title("state_share_durotomy+needle_driver")
    ('taking a bite: occurrences', 'share of frames with only durotomy+needle driver')
    """
    for pattern, words in _METRIC_TITLES:
        if found := pattern.fullmatch(metric):
            return words.format(*(g.replace("_", " ") for g in found.groups()))
    return metric.replace("_", " ")


def bland_altman(truth: pd.DataFrame, detected: pd.DataFrame, agreement: pd.DataFrame, path: str | Path) -> None:
    """One Bland-Altman panel per metric: difference against mean per trial, bias and limits."""
    metrics = list(truth.columns)
    trials = truth.index.intersection(detected.index)
    columns = 4
    rows = max(1, -(-len(metrics) // columns))
    fig, axes = subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows), squeeze=False)
    by_metric = agreement.set_index("metric") if len(agreement) else pd.DataFrame()
    for ax, metric in zip(axes.flat, metrics, strict=False):
        x = truth.loc[trials, metric].to_numpy(float)
        y = detected.reindex(trials)[metric].fillna(0).to_numpy(float) if metric in detected else 0 * x
        ax.scatter((x + y) / 2, y - x, s=14)
        if metric in by_metric.index:
            row = by_metric.loc[metric]
            for value, style in ((row["bias"], "-"), (row["loa_low"], "--"), (row["loa_high"], "--")):
                if pd.notna(value):
                    ax.axhline(value, color="grey", linestyle=style, linewidth=1)
            ccc = "" if pd.isna(row["ccc"]) else f"CCC {row['ccc']:.2f}"
            ax.set_title(f"{metric_title(metric)}\n{ccc}", fontsize=8)
        else:
            ax.set_title(metric_title(metric), fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    fig.supxlabel("mean of annotations and detector", fontsize=9)
    fig.supylabel("detector minus annotations", fontsize=9)
    save(fig, path)


def prediction(table: pd.DataFrame, path: str | Path) -> None:
    """AUC (success) and R^2 (repair time) per feature set, with intervals; chance lines."""
    fig, axes = subplots(1, 2, figsize=(11, 4))
    for ax, (outcome, metric, chance) in zip(axes, (("success", "auc", 0.5), ("repair_time", "r2", 0.0)), strict=True):
        rows = table[(table["outcome"] == outcome) & (table["metric"] == metric)].reset_index(drop=True)
        values = pd.to_numeric(rows["value"], errors="coerce")
        low = (values - pd.to_numeric(rows["ci95_low"], errors="coerce")).clip(lower=0)
        high = (pd.to_numeric(rows["ci95_high"], errors="coerce") - values).clip(lower=0)
        ax.errorbar(range(len(rows)), values, yerr=[low.fillna(0), high.fillna(0)], fmt="o", capsize=4)
        ax.axhline(chance, color="grey", linestyle="--", linewidth=1)
        labels = [f"{f}\n(n={n})" for f, n in zip(rows["features"], rows["n_trials"], strict=True)]
        ax.set_xticks(range(len(rows)), labels, rotation=30, ha="right", fontsize=7)
        ax.set_ylabel(metric.upper() if metric == "auc" else "R²")
        ax.set_title(f"{outcome.replace('_', ' ')}: leave-one-surgeon-out", fontsize=9)
    save(fig, path)


def _source_name(source: str) -> str:
    return "annotations" if source == "ground_truth" else source.split(":", 1)[-1]


def tool_states(states: pd.DataFrame, trial: str, order: list[str], path: str | Path) -> None:
    """The authors' plot of a trial: its tool-combination state frame by frame, a row per state
    (`order`: empty, the single tools, the pairs ... all five, named), a panel per source."""
    data = states[states["trial"] == trial]
    sources = sorted(data["source"].unique(), key=lambda s: (s != "ground_truth", s))
    row = {state: i for i, state in enumerate(order)}
    fig, axes = subplots(
        len(sources) or 1, 1, figsize=(11, 0.6 + 0.19 * len(order) * max(len(sources), 1)), squeeze=False, sharex=True
    )
    for ax, source in zip(axes[:, 0], sources, strict=False):
        mine = data[data["source"] == source]
        ax.scatter(mine["frame"], mine["state"].map(row), marker="|", s=30, c="black", linewidths=0.8)
        ax.set_yticks(range(len(order)), order, fontsize=6)
        ax.set_ylim(-0.7, len(order) - 0.3)
        ax.invert_yaxis()
        ax.grid(axis="y", color="#ddd", linewidth=0.5)
        visited = mine["state"].nunique()
        title = f"{trial}, {_source_name(source)}: tool combination per frame ({visited} state{'s' * (visited != 1)})"
        ax.set_title(title, fontsize=9)
    axes[-1, 0].set_xlabel("frame (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight", pad_inches=0.15)  # the longest state's name whole


def tool_profile(profile: pd.DataFrame, path: str | Path) -> None:
    """A panel per tool: its share of its frames in each tenth of the trial, the mean over the trials
    where it appears (line) +- one standard deviation (band), the annotations against each detector."""
    sources = sorted(profile["source"].unique(), key=lambda s: (s != "ground_truth", s))
    tools = sorted(palette())
    colours = ["black", *[c for tool, c in palette().items() if tool != "durotomy"]]
    fig, axes = subplots(1, len(tools), figsize=(3.1 * len(tools), 3.6), squeeze=False, sharey=True)
    for ax, tool in zip(axes[0], tools, strict=True):
        for k, source in enumerate(sources):
            rows = profile[(profile["source"] == source) & (profile["tool"] == tool)].sort_values("tenth")
            if rows.empty or rows["share_mean"].isna().all():
                continue
            colour = colours[k % len(colours)]
            mean, sd = rows["share_mean"].to_numpy(float), rows["share_sd"].to_numpy(float)
            label = f"{_source_name(source)} ({int(rows['n_trials'].max())} trials)"
            ax.plot(rows["tenth"], mean, "o-", color=colour, markersize=3, linewidth=1.2, label=label)
            ax.fill_between(rows["tenth"], np.clip(mean - sd, 0, None), mean + sd, color=colour, alpha=0.1, lw=0)
        ax.axhline(0.1, color="grey", linestyle=":", linewidth=1)  # a tool used evenly throughout
        ax.set_xticks(range(1, 11))
        ax.set_xlim(0.7, 10.3)
        ax.set_xlabel("tenth of the trial", fontsize=8)
        ax.set_title(tool, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="upper right", frameon=False)
    top = (profile["share_mean"] + profile["share_sd"]).max()
    axes[0, 0].set_ylim(0, min(1.0, 1.05 * top) if pd.notna(top) and top > 0 else 1.0)  # shared by every panel
    axes[0, 0].set_ylabel("share of the tool's frames")
    save(fig, path)
