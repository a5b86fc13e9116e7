"""Figures: one function per figure, each writes a PNG, drawn by matplotlib (Agg backend, no
pyplot) with seaborn's colour-blind palette, both imported when a figure is drawn."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .constants import BOX_LABELS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@cache
def palette() -> dict[str, tuple[float, float, float]]:
    """Each class's colour: seaborn's "colorblind" palette, in the classes' order."""
    import seaborn as sns

    return dict(zip(BOX_LABELS, sns.color_palette("colorblind", len(BOX_LABELS)), strict=True))


def _subplots(nrows: int = 1, ncols: int = 1, **kwargs):  # noqa: ANN202 - (Figure, Axes or array of them)
    """A figure drawn by Agg, without pyplot (no GUI backend, no global state, a faster import)."""
    from matplotlib.figure import Figure

    figsize = kwargs.pop("figsize", None)
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def _save(fig: Figure, path: str | Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def box_sizes(sizes: pd.DataFrame, path: str | Path) -> None:
    fig, axes = _subplots(1, 2, figsize=(10, 4))
    for ax, column in zip(axes, ("width", "height"), strict=False):
        if sizes.empty:
            ax.text(0.5, 0.5, "no boxes", ha="center")
            continue
        import seaborn as sns  # only this figure needs it

        sns.boxplot(
            data=sizes, x=column, y="label", hue="label", palette=palette(), order=list(BOX_LABELS), ax=ax, legend=False
        )
        ax.set_xlabel(f"box {column} (px)")
        ax.set_ylabel("")
    _save(fig, path)


def pr_curves(curves: pd.DataFrame, table: pd.DataFrame, path: str | Path, title: str = "") -> None:
    """Precision-recall per class with its VOC and paper-rule AP in the legend, like the paper's
    Fig. 3. The legend sits beside the axes, where it hides no curve; the figure grows to hold a long
    title or legend (a detector's name is never cut)."""
    colours = palette()
    fig, ax = _subplots(figsize=(9, 5))
    ap = table.set_index("label")
    for label in BOX_LABELS:
        curve = curves[curves["label"] == label]
        voc = ap["ap_voc"].get(label, float("nan"))
        paper = ap["ap_paper"].get(label, float("nan")) if "ap_paper" in ap else float("nan")
        text = f"{label}: AP {voc:.3f} (paper's rules {paper:.3f})"
        if curve.empty:  # keep the class in the legend: its absence is a result too
            text += ", no detections"
        ax.plot(curve["recall"], curve["precision"], color=colours[label], label=text)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    if title:
        ax.set_title(_one_line(title), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight", pad_inches=0.15)


def _one_line(text: str) -> str:
    """Text for one line of a figure: line breaks (a detector named "a\nb") become spaces."""
    return " ".join(str(text).splitlines())


def pr_title(detector: str, iou: float, trials: list[str]) -> str:
    """The PR figure's title: the trials by name while they fit on one line, else their number.

    >>> pr_title("yolo", 0.5, ["Clip0", "S4A1"])
    'yolo: precision-recall at IoU 0.5, test trials Clip0, S4A1'
    >>> pr_title("yolo", 0.5, [f"S{i}A1" for i in range(1, 13)])
    'yolo: precision-recall at IoU 0.5 on 12 test trials (S1A1 ... S12A1)'
    """
    if len(trials) <= 4:
        return f"{detector}: precision-recall at IoU {iou:g}, test trials {', '.join(trials)}"
    return f"{detector}: precision-recall at IoU {iou:g} on {len(trials)} test trials ({trials[0]} ... {trials[-1]})"


def training_curves(results_csv: str | Path, path: str | Path) -> None:
    """Losses and validation mAP per epoch from ultralytics' results.csv."""
    results = pd.read_csv(results_csv)
    results.columns = [c.strip() for c in results.columns]
    losses = [c for c in results.columns if "loss" in c]
    metrics = [c for c in results.columns if c.startswith("metrics/mAP")]
    fig, axes = _subplots(1, 2, figsize=(10, 4))
    for column in losses:
        axes[0].plot(results["epoch"], results[column], label=column)
    for column in metrics:
        axes[1].plot(results["epoch"], results[column], label=column)
    axes[0].set_title("losses")
    axes[1].set_title("validation mAP")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    _save(fig, path)


def timeline(presence_table: pd.DataFrame, trial: str, path: str | Path) -> None:
    """One trial: a row per tool and source (ground truth above detections), ticks where present."""
    data = presence_table[(presence_table["trial"] == trial) & presence_table["present"]]
    sources = sorted(
        presence_table.loc[presence_table["trial"] == trial, "source"].unique(), key=lambda s: (s != "ground_truth", s)
    )
    rows = [(tool, source) for tool in BOX_LABELS for source in sources]
    fig, ax = _subplots(figsize=(11, 0.35 * len(rows) + 1.2))
    _draw_timeline(ax, data, rows)
    ax.set_title(f"{trial}: tool presence")
    _save(fig, path)


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
    fig, axes = _subplots(len(trials), 1, figsize=(11, (0.3 * len(rows) + 0.8) * max(len(trials), 1)), squeeze=False)
    for ax, trial in zip(axes[:, 0], trials, strict=False):
        data = presence_table[(presence_table["trial"] == trial) & presence_table["present"]]
        _draw_timeline(ax, data, rows)
        ax.set_title(trial, fontsize=9)
    _save(fig, path)


def learning_curve(by_attempt: pd.DataFrame, path: str | Path) -> None:
    """Success rate and mean repair time by attempt; the legend below the axes hides no marker."""
    data = by_attempt[by_attempt["attempt"] != "all"]
    fig, ax = _subplots(figsize=(6, 4.8))
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
    _save(fig, path)


def leaderboard(board: pd.DataFrame, paired: pd.DataFrame, path: str | Path) -> None:
    """Left: each detector's VOC AP per class with its 95% interval. Right: one row per detector,
    its difference from the reference per class with the paired 95% interval (0 = no difference)."""
    labels = list(dict.fromkeys(board["label"]))
    names = list(dict.fromkeys(board["detector"]))
    others = list(dict.fromkeys(paired["detector"]))
    n_rows = max(1, len(others))
    fig, axes = _subplots(n_rows, 2, figsize=(12, 1.2 + 2.6 * n_rows), squeeze=False)
    ap_ax = axes[0, 0]
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        rows = board[board["detector"] == name].set_index("label").reindex(labels)
        x = [j + (i - (len(names) - 1) / 2) * width for j in range(len(labels))]
        err = [(rows["ap_voc"] - rows["ci95_low"]).clip(lower=0), (rows["ci95_high"] - rows["ap_voc"]).clip(lower=0)]
        ap_ax.bar(x, rows["ap_voc"], width, label=name, yerr=err if rows["ci95_low"].notna().any() else None)
    ap_ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ap_ax.set_ylim(0, 1.05)
    ap_ax.set_ylabel(f"VOC AP at IoU {board['iou_threshold'].iat[0]:g}")
    ap_ax.set_title(f"{len(names)} detectors on {board['n_trials'].iat[0]} test trials ({board['test_trials'].iat[0]})")
    ap_ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    for ax in axes[1:, 0]:
        ax.axis("off")
    for ax, name in zip(axes[:, 1], others or [None], strict=False):
        if name is None:
            ax.text(0.5, 0.5, "one detector: nothing to compare", ha="center", va="center")
            ax.axis("off")
            continue
        rows = paired[paired["detector"] == name].set_index("label").reindex(labels)
        err = [(rows["diff"] - rows["ci95_low"]).clip(lower=0), (rows["ci95_high"] - rows["diff"]).clip(lower=0)]
        has_ci = rows["ci95_low"].notna().any()
        ax.errorbar(range(len(labels)), rows["diff"], yerr=err if has_ci else None, fmt="o", capsize=4)
        ax.axhline(0, color="grey", linewidth=1)
        if "p_value" in rows:  # each point labelled with its paired permutation p-value
            for j, (diff, p) in enumerate(zip(rows["diff"], rows["p_value"], strict=True)):
                if pd.notna(p):
                    ax.annotate(f"p={p:.3g}", (j, diff), textcoords="offset points", xytext=(6, 4), fontsize=7)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set_ylabel("AP difference")
        n_trials = rows["n_trials"].dropna().iat[0]
        how = "paired 95% intervals" if has_ci else f"{n_trials:g} test trials: no interval"
        if "p_min" in rows:
            how += f"; the smallest possible p is {rows['p_min'].dropna().iat[0]:.3g}"
        ax.set_title(f"{name} minus {rows['reference'].dropna().iat[0]}\n({how})", fontsize="medium")
    _save(fig, path)


def accuracy_cost(board: pd.DataFrame, path: str | Path) -> None:
    """All-class VOC AP against inference ms per frame and against training seconds, for the detectors
    whose cost is known (labelled by name); a note where none is."""
    rows = board[board["label"] == "all"]
    colours = {name: f"C{i}" for i, name in enumerate(rows["detector"])}  # one colour per detector in both panels
    fig, axes = _subplots(1, 2, figsize=(11, 4.2))
    for ax, column, unit in zip(axes, ("infer_ms", "train_s"), ("inference ms per frame", "training s"), strict=True):
        known = rows[pd.to_numeric(rows.get(column), errors="coerce").notna()] if column in rows else rows.iloc[:0]
        if known.empty:
            ax.text(0.5, 0.5, f"no detector with a known {unit}", ha="center", va="center", transform=ax.transAxes)
        for row in known.itertuples():
            x = float(getattr(row, column))
            ax.scatter(x, row.ap_voc, s=40, color=colours[row.detector])
            ax.annotate(row.detector, (x, row.ap_voc), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xlabel(unit)
        ax.set_ylabel("VOC AP, all classes")
        ax.set_ylim(0, 1.05)
        if len(known) and (pd.to_numeric(known[column]) > 0).all():
            ax.set_xscale("log")
    fig.suptitle(f"accuracy and cost on {rows['n_trials'].iat[0] if len(rows) else 0} test trials", fontsize=10)
    _save(fig, path)


def presence_ap(table: pd.DataFrame, paired: pd.DataFrame, path: str | Path) -> None:
    """Presence AP per tool (groups) and detector (bars), with intervals where given and each
    detector's paired p-value against the reference above its bar."""
    names = list(dict.fromkeys(table["detector"]))
    tools = list(BOX_LABELS)
    fig, ax = _subplots(figsize=(11, 4.5))
    width = 0.8 / max(len(names), 1)
    p_of = {(r.detector, r.tool): r.p_value for r in paired.itertuples()} if len(paired) else {}
    for i, name in enumerate(names):
        rows = table[table["detector"] == name].set_index("tool").reindex(tools)
        x = [j + (i - (len(names) - 1) / 2) * width for j in range(len(tools))]
        has_ci = rows["ci95_low"].notna().any()
        err = [
            (rows["presence_ap"] - rows["ci95_low"]).clip(lower=0),
            (rows["ci95_high"] - rows["presence_ap"]).clip(lower=0),
        ]
        ax.bar(x, rows["presence_ap"], width, label=name, yerr=err if has_ci else None)
        for xi, tool, value in zip(x, tools, rows["presence_ap"], strict=True):
            p = p_of.get((name, tool))
            if p is not None and pd.notna(p) and pd.notna(value):
                ax.annotate(
                    f"p={p:.2g}", (xi, value), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=6
                )
    ax.set_xticks(range(len(tools)), tools)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("presence AP over test frames")
    trials = table["n_trials"].iat[0] if len(table) else 0
    ax.set_title(f"tool presence: AP of the frames' highest score per tool, {trials} test trials", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    _save(fig, path)


def bland_altman(truth: pd.DataFrame, detected: pd.DataFrame, agreement: pd.DataFrame, path: str | Path) -> None:
    """One Bland-Altman panel per metric: difference against mean per trial, bias and limits."""
    metrics = list(truth.columns)
    trials = truth.index.intersection(detected.index)
    columns = 4
    rows = max(1, -(-len(metrics) // columns))
    fig, axes = _subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows), squeeze=False)
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
            ax.set_title(f"{metric.replace('_', ' ')}\n{ccc}", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    fig.supxlabel("mean of annotations and detector", fontsize=9)
    fig.supylabel("detector minus annotations", fontsize=9)
    _save(fig, path)


def prediction(table: pd.DataFrame, path: str | Path) -> None:
    """AUC (success) and R^2 (repair time) per feature set, with intervals; chance lines."""
    fig, axes = _subplots(1, 2, figsize=(11, 4))
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
    _save(fig, path)


def _source_name(source: str) -> str:
    return "annotations" if source == "ground_truth" else source.split(":", 1)[-1]


def tool_states(states: pd.DataFrame, trial: str, order: list[str], path: str | Path) -> None:
    """The authors' plot of a trial: its tool-combination state frame by frame, a row per state
    (`order`: empty, the single tools, the pairs ... all five, named), a panel per source."""
    data = states[states["trial"] == trial]
    sources = sorted(data["source"].unique(), key=lambda s: (s != "ground_truth", s))
    row = {state: i for i, state in enumerate(order)}
    fig, axes = _subplots(
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
    fig, axes = _subplots(1, len(tools), figsize=(3.1 * len(tools), 3.6), squeeze=False, sharey=True)
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
    _save(fig, path)
