"""Figures (seaborn/matplotlib, Agg backend): one function per figure, each writes a PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .constants import BOX_LABELS

PALETTE = dict(zip(BOX_LABELS, sns.color_palette("colorblind", len(BOX_LABELS))))


def _save(fig: plt.Figure, path: str | Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def box_sizes(sizes: pd.DataFrame, path: str | Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, column in zip(axes, ("width", "height")):
        if sizes.empty:
            ax.text(0.5, 0.5, "no boxes", ha="center")
            continue
        sns.boxplot(data=sizes, x=column, y="label", hue="label", palette=PALETTE, order=list(BOX_LABELS), ax=ax, legend=False)
        ax.set_xlabel(f"box {column} (px)")
        ax.set_ylabel("")
    _save(fig, path)


def pr_curves(curves: pd.DataFrame, table: pd.DataFrame, path: str | Path) -> None:
    """Precision-recall per class with its AP in the legend, like the paper's Fig. 3."""
    fig, ax = plt.subplots(figsize=(6.5, 5))
    ap = table.set_index("label")["ap50_voc"]
    for label in BOX_LABELS:
        curve = curves[curves["label"] == label]
        if curve.empty:
            continue
        ax.plot(curve["recall"], curve["precision"], color=PALETTE[label], label=f"{label} (AP {ap.get(label, float('nan')):.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.legend(loc="lower left", fontsize=8)
    _save(fig, path)


def training_curves(results_csv: str | Path, path: str | Path) -> None:
    """Losses and validation mAP per epoch from ultralytics' results.csv."""
    results = pd.read_csv(results_csv)
    results.columns = [c.strip() for c in results.columns]
    losses = [c for c in results.columns if "loss" in c]
    metrics = [c for c in results.columns if c.startswith("metrics/mAP")]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
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
