"""Figures of the scores: PR curves, training curves, the leaderboard and accuracy against cost."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from sospine.constants import BOX_LABELS
from sospine.plots.style import count, detector_palette, note_in_place, one_line, p_text, palette, save, subplots

if TYPE_CHECKING:
    pass


def pr_curves(curves: pd.DataFrame, table: pd.DataFrame, path: str | Path, title: str = "") -> None:
    """Precision-recall per class with its VOC and paper-rule AP in the legend, like the paper's
    Fig. 3. The legend sits beside the axes, where it hides no curve; the figure grows to hold a long
    title or legend (a detector's name is never cut)."""
    colours = palette()
    fig, ax = subplots(figsize=(9, 5))
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
        ax.set_title(one_line(title), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight", pad_inches=0.15)


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
    fig, axes = subplots(1, 2, figsize=(10, 4))
    for column in losses:
        axes[0].plot(results["epoch"], results[column], label=column)
    for column in metrics:
        axes[1].plot(results["epoch"], results[column], label=column)
    axes[0].set_title("losses")
    axes[1].set_title("validation mAP")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    save(fig, path)


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
        fig, ap_ax = subplots(figsize=(8.5, 4.2))
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
            note_in_place(ax, f"{name} minus {reference}: no class has an AP on both sides, so no difference to draw")
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
    save(fig, path)


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
        fig, ax = subplots(figsize=(8, 2.4))
        note_in_place(ax, textwrap.fill(no_cost_text(board), 90))
        ax.set_title(title, fontsize=10)
        save(fig, path)
        return
    colours = detector_palette(board["detector"])
    fig, axes = subplots(1, 2, figsize=(11, 4.2))
    for ax, column, unit in zip(axes, ("infer_ms", "train_s"), ("inference ms per frame", "training s"), strict=True):
        known = rows[pd.to_numeric(rows.get(column), errors="coerce").notna()] if column in rows else rows.iloc[:0]
        if known.empty:
            why = "detections files carry none" if column == "infer_ms" else "only detectors trained here have one"
            note_in_place(ax, f"no detector with a known {unit.split()[0]} time\n({why})")
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
    save(fig, path)
