"""Figures: one function per figure, each writes a PNG, drawn by matplotlib (Agg backend, no
pyplot) with seaborn's colour-blind palette, both imported when a figure is drawn."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
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


def detector_palette(names: Iterable[str]) -> dict[str, tuple[float, float, float]]:
    """Each detector's colour, the same in every figure of a run (the board, accuracy and cost,
    presence AP): seaborn's "colorblind" palette, as `palette`, in the order of the sorted names, so
    that the order a figure lists them in (the board's ranks, the config's order) changes nothing.

    >>> detector_palette(["yolo", "rtdetr"]) == detector_palette(["rtdetr", "yolo"])
    True
    """
    import seaborn as sns

    ordered = sorted(set(names))
    return dict(zip(ordered, sns.color_palette("colorblind", max(len(ordered), 1)), strict=False))


def count(n: float, noun: str, plural: str | None = None) -> str:
    """`n` and the noun, singular for one.

    >>> count(1, "detector"), count(4, "test trial"), count(0, "box", "boxes")
    ('1 detector', '4 test trials', '0 boxes')
    """
    return f"{n:g} {noun if n == 1 else plural or noun + 's'}"


def p_text(p: float, p_min: float | None = None) -> str:
    """A permutation p-value as a figure prints it: at its precision (an exact test's p is a multiple
    of 1/2^n, 0.125 or 0.1875 with 4 trials; a Monte Carlo one of 1/10,000), never rounded below the
    smallest p the test can give (`p_min`); at that floor it says so.

    >>> p_text(0.125, 0.125), p_text(0.1875, 0.125), p_text(1.0, 0.125), p_text(0.0003)
    ('p=0.125 (min)', 'p=0.1875', 'p=1', 'p=0.0003')
    """
    text = f"p={p:.4g}"
    if p_min is not None and pd.notna(p_min) and p <= p_min * (1 + 1e-9):
        text += " (min)"
    return text


def _note(ax: Axes, text: str) -> None:
    """A short sentence in place of an axes that has nothing to draw: why it is empty."""
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes, fontsize=9, color="0.3")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _subplots(nrows: int = 1, ncols: int = 1, **kwargs):  # noqa: ANN202 - (Figure, Axes or array of them)
    """A figure drawn by Agg, without pyplot (no GUI backend, no global state, a faster import)."""
    from matplotlib.figure import Figure

    figsize = kwargs.pop("figsize", None)
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def _save(fig: Figure, path: str | Path, rect: tuple[float, float, float, float] | None = None) -> None:
    """Lay the figure out (inside `rect` of it, where a note takes its foot) and write it."""
    fig.tight_layout(rect=rect)
    fig.savefig(path, dpi=110)


def box_sizes(sizes: pd.DataFrame, path: str | Path) -> None:
    """Box width and height per label; under them, where many of a label's boxes are the squares a
    single annotated point becomes (the needle's, in the published file), how many and why
    (`stats.single_point_note`)."""
    from .stats import single_point_note

    fig, axes = _subplots(1, 2, figsize=(10, 4))
    for ax, column in zip(axes, ("width", "height"), strict=False):
        if sizes.empty:
            _note(ax, "no boxes")
            continue
        import seaborn as sns  # only this figure needs it

        sns.boxplot(
            data=sizes, x=column, y="label", hue="label", palette=palette(), order=list(BOX_LABELS), ax=ax, legend=False
        )
        ax.set_xlabel(f"box {column} (px)")
        ax.set_ylabel("")
    note = single_point_note(sizes) if not sizes.empty else None
    if note:
        fig.text(0.5, 0.01, textwrap.fill(note, 130), ha="center", va="bottom", fontsize=8, color="0.25")
    _save(fig, path, rect=(0, 0.09, 1, 1) if note else None)


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
    """Left: each detector's VOC AP per class with its 95% interval. Right, where there is a reference
    to compare with: one row per other detector, its difference from the reference per class with the
    paired 95% interval (0 = no difference) and each class's p-value. One detector: the left panel
    alone, its title saying there is nothing to compare."""
    labels = list(dict.fromkeys(board["label"]))
    names = list(dict.fromkeys(board["detector"]))
    others = list(dict.fromkeys(paired["detector"])) if len(paired) else []
    colours = detector_palette(names)
    if others:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(12, 1.2 + 2.6 * len(others)))
        grid = fig.add_gridspec(len(others), 2)
        ap_ax = fig.add_subplot(grid[:, 0])  # the APs span the rows of the differences: no empty panel
        diff_axes = [fig.add_subplot(grid[i, 1]) for i in range(len(others))]
    else:
        fig, ap_ax = _subplots(figsize=(8.5, 4.2))
        diff_axes = []
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        rows = board[board["detector"] == name].set_index("label").reindex(labels)
        x = [j + (i - (len(names) - 1) / 2) * width for j in range(len(labels))]
        err = [(rows["ap_voc"] - rows["ci95_low"]).clip(lower=0), (rows["ci95_high"] - rows["ap_voc"]).clip(lower=0)]
        has_ci = rows["ci95_low"].notna().any()
        ap_ax.bar(x, rows["ap_voc"], width, label=name, color=colours[name], yerr=err if has_ci else None)
    no_ap = board.groupby("label", sort=False)["ap_voc"].apply(lambda v: v.isna().all()).reindex(labels)
    for j, label in enumerate(labels):
        if no_ap.get(label, False):  # a class without truth boxes in the test trials has no AP
            ap_ax.text(j, 0.02, "no truth\nboxes", ha="center", va="bottom", fontsize=7, color="0.3")
    ap_ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ap_ax.set_ylim(0, 1.05)
    ap_ax.set_ylabel(f"VOC AP at IoU {board['iou_threshold'].iat[0]:g}")
    n_trials = board["n_trials"].iat[0]
    title = f"{count(len(names), 'detector')} on {count(n_trials, 'test trial')} ({board['test_trials'].iat[0]})"
    if not others:
        title += "\n(one detector: no other to compare with)" if len(names) == 1 else "\n(no paired comparison)"
    ap_ax.set_title(title, fontsize="medium")
    ap_ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    for ax, name in zip(diff_axes, others, strict=True):
        rows = paired[paired["detector"] == name].set_index("label").reindex(labels)
        reference = rows["reference"].dropna().iat[0] if rows["reference"].notna().any() else "the reference"
        if rows["diff"].isna().all():
            _note(ax, f"{name} minus {reference}: no class has an AP on both sides, so no difference to draw")
            continue
        err = [(rows["diff"] - rows["ci95_low"]).clip(lower=0), (rows["ci95_high"] - rows["diff"]).clip(lower=0)]
        has_ci = rows["ci95_low"].notna().any()
        colour = colours.get(name)
        ax.errorbar(range(len(labels)), rows["diff"], yerr=err if has_ci else None, fmt="o", capsize=4, color=colour)
        ax.axhline(0, color="grey", linewidth=1)
        p_min = rows["p_min"].dropna().iat[0] if "p_min" in rows and rows["p_min"].notna().any() else None
        if "p_value" in rows:  # each point labelled with its paired permutation p-value
            for j, (diff, p) in enumerate(zip(rows["diff"], rows["p_value"], strict=True)):
                if pd.notna(p) and pd.notna(diff):
                    ax.annotate(p_text(p, p_min), (j, diff), textcoords="offset points", xytext=(6, 4), fontsize=7)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set_xlim(-0.5, len(labels) - 0.5 + 0.4)  # room for the last point's p-value
        ax.margins(y=0.2)  # and for the highest's
        ax.set_ylabel("AP difference")
        trials = rows["n_trials"].dropna().iat[0]
        how = "paired 95% intervals" if has_ci else f"{count(trials, 'test trial')}: no interval"
        if p_min is not None:
            how += f"; (min): the smallest p possible, {p_min:.4g}"
        ax.set_title(f"{name} minus {reference}\n({how})", fontsize="medium")
    _save(fig, path)


def known_costs(board: pd.DataFrame) -> pd.DataFrame:
    """The board's all-class rows of the detectors with a known inference or training time: those
    trained or run here (a detections file made elsewhere carries no cost)."""
    rows = board[board["label"] == "all"]
    known = pd.Series(False, index=rows.index)
    for column in ("infer_ms", "train_s"):
        if column in rows:
            known |= pd.to_numeric(rows[column], errors="coerce").notna()
    return rows[known]


def has_cost(board: pd.DataFrame) -> bool:
    """Whether any detector on the board has a cost to draw (else `accuracy_cost` is a sentence)."""
    return not known_costs(board).empty


def no_cost_text(board: pd.DataFrame) -> str:
    """Why `accuracy_cost` has nothing to draw, naming the board's detectors.

    >>> no_cost_text(pd.DataFrame({"detector": ["yolov4_paper"], "label": ["all"]}))[:60]
    'No detector on this board (yolov4_paper) recorded a cost: in'
    """
    names = ", ".join(dict.fromkeys(board["detector"]))
    return (
        f"No detector on this board ({names}) recorded a cost: inference and training times are measured only "
        "for detectors trained or run by this workflow, and a detections file carries no training or inference cost."
    )


def accuracy_cost(board: pd.DataFrame, path: str | Path) -> None:
    """All-class VOC AP against inference ms per frame and against training seconds, for the detectors
    whose cost is known (labelled by name, in the board's colours); where none is, one panel that
    says so."""
    rows = board[board["label"] == "all"]
    n_trials = rows["n_trials"].iat[0] if len(rows) else 0
    title = f"accuracy and cost on {count(n_trials, 'test trial')}"
    if not has_cost(board):
        fig, ax = _subplots(figsize=(8, 2.4))
        _note(ax, textwrap.fill(no_cost_text(board), 90))
        ax.set_title(title, fontsize=10)
        _save(fig, path)
        return
    colours = detector_palette(board["detector"])
    fig, axes = _subplots(1, 2, figsize=(11, 4.2))
    for ax, column, unit in zip(axes, ("infer_ms", "train_s"), ("inference ms per frame", "training s"), strict=True):
        known = rows[pd.to_numeric(rows.get(column), errors="coerce").notna()] if column in rows else rows.iloc[:0]
        if known.empty:
            why = "detections files carry none" if column == "infer_ms" else "only detectors trained here have one"
            _note(ax, f"no detector with a known {unit.split()[0]} time\n({why})")
            continue
        for row in known.itertuples():
            x = float(getattr(row, column))
            ax.scatter(x, row.ap_voc, s=40, color=colours[row.detector])
            ax.annotate(row.detector, (x, row.ap_voc), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xlabel(unit)
        ax.set_ylabel("VOC AP, all classes")
        ax.set_ylim(0, 1.05)
        if (pd.to_numeric(known[column]) > 0).all():
            ax.set_xscale("log")
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def presence_ap(table: pd.DataFrame, paired: pd.DataFrame, path: str | Path) -> None:
    """Presence AP per tool (groups) and detector (bars, in the board's colours), with intervals where
    given and each detector's paired p-value against the reference above its bar, at its precision
    (the smallest p the test can give marked "(min)")."""
    names = list(dict.fromkeys(table["detector"]))
    colours = detector_palette(names)
    tools = list(BOX_LABELS)
    fig, ax = _subplots(figsize=(11, 4.5))
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
    _save(fig, path)


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
            ax.set_title(f"{metric_title(metric)}\n{ccc}", fontsize=8)
        else:
            ax.set_title(metric_title(metric), fontsize=8)
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
