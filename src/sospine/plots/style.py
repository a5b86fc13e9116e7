"""How every figure looks: the palettes (seaborn's colour-blind one), counts and p-values in words, a
note in place of an empty panel, figures drawn by Agg without pyplot."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from sospine.constants import BOX_LABELS

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


def note_in_place(ax: Axes, text: str) -> None:
    """A short sentence in place of an axes that has nothing to draw: why it is empty."""
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes, fontsize=9, color="0.3")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def subplots(nrows: int = 1, ncols: int = 1, **kwargs):  # noqa: ANN202 - (Figure, Axes or array of them)
    """A figure drawn by Agg, without pyplot (no GUI backend, no global state, a faster import)."""
    from matplotlib.figure import Figure

    figsize = kwargs.pop("figsize", None)
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def save(fig: Figure, path: str | Path, rect: tuple[float, float, float, float] | None = None) -> None:
    """Lay the figure out (inside `rect` of it, where a note takes its foot) and write it."""
    fig.tight_layout(rect=rect)
    fig.savefig(path, dpi=110)


def one_line(text: str) -> str:
    """Text for one line of a figure: line breaks (a detector named "a\nb") become spaces."""
    return " ".join(str(text).splitlines())
