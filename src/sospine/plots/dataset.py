"""Figures of the dataset: box sizes per class."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from sospine.constants import BOX_LABELS
from sospine.plots.style import note_in_place, palette, save, subplots

if TYPE_CHECKING:
    pass


def box_sizes(sizes: pd.DataFrame, path: str | Path) -> None:
    """Box width and height per label; under them, where many of a label's boxes are the squares a
    single annotated point becomes (the needle's, in the published file), how many and why
    (`stats.single_point_note`)."""
    from sospine.dataset.stats import single_point_note

    fig, axes = subplots(1, 2, figsize=(10, 4))
    for ax, column in zip(axes, ("width", "height"), strict=False):
        if sizes.empty:
            note_in_place(ax, "no boxes")
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
    save(fig, path, rect=(0, 0.09, 1, 1) if note else None)
