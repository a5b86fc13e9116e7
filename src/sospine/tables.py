"""Reading and writing the published SOSpine CSV formats.

The published files differ in small ways that matter for byte-level fidelity: the annotation files
use CRLF line endings, the outcomes file adds a UTF-8 BOM and has no final line break, and the
paper's detections use LF and `.jpg` frame names. One place knows this.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from .constants import ANNOTATION_COLUMNS, COORDS, FRAME_NAME_RE

BOM = "\ufeff"
_STEM_RE = re.compile(r"\.(?:jpeg|jpg)$")


def write_csv(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    crlf: bool = True,
    bom: bool = False,
    final_newline: bool = True,
) -> None:
    """Write `frame` as CSV with the published line endings; missing values become empty fields."""
    terminator = "\r\n" if crlf else "\n"
    text = frame.to_csv(index=False, lineterminator=terminator)
    if not final_newline:
        text = text.removesuffix(terminator)
    Path(path).write_bytes(((BOM if bom else "") + text).encode("utf-8"))


def read_annotations(path: str | Path) -> pd.DataFrame:
    """Read a published bbox or tool-tip file (empty-frame rows keep NaN coordinates and label)."""
    table = pd.read_csv(path, encoding="utf-8-sig", dtype={"trial_frame": str, "label": str})
    missing = [c for c in ANNOTATION_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    for column in COORDS:
        table[column] = pd.to_numeric(table[column]).astype("Float64")
    return table[list(ANNOTATION_COLUMNS)]


def read_detections(path: str | Path) -> pd.DataFrame:
    table = pd.read_csv(path, encoding="utf-8-sig", dtype={"trial_frame": str, "label": str})
    return table


def read_outcomes(path: str | Path) -> pd.DataFrame:
    """The outcomes file as published (BOM tolerated), values kept as strings."""
    return pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False, na_values=[""])


def split_frame_names(names: pd.Series) -> pd.DataFrame:
    """Vectorised parse of `<trial>_frame_<n>.<ext>` into trial, frame number and stem columns.

    Rows that do not match get NaN trial/frame; the validators report them.
    """
    # each distinct name parsed once: a million detections name a few thousand frames
    codes, distinct = pd.factorize(names.astype(str).to_numpy(dtype=object))
    text = distinct.tolist()
    found = [FRAME_NAME_RE.match(name) for name in text]  # one compiled regex per name: 10x pandas' extract
    trials = np.array([m["trial"] if m else None for m in found], dtype=object)
    frames = pd.array([int(m["frame"]) if m else None for m in found], dtype="Int64")
    stems = np.array(
        [name[: -len(m["ext"]) - 1] if m else _STEM_RE.sub("", name) for name, m in zip(text, found, strict=True)],
        dtype=object,
    )
    return pd.DataFrame(
        {
            "trial": pd.Series(trials[codes], index=names.index, dtype=object),
            "frame": frames.take(codes),
            "stem": stems[codes] if len(codes) else [],
        },
        index=names.index,
    )


def with_frame_columns(table: pd.DataFrame) -> pd.DataFrame:
    """`table` plus trial, frame and stem parsed from its `trial_frame` column."""
    return pd.concat([table, split_frame_names(table["trial_frame"])], axis=1)


def readable(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """A table meant for a person: counts as integers, other numbers to `digits` decimals, column
    names without spaces. (Tables that the workflow reads again keep full precision.)

    >>> readable(pd.DataFrame({"n trials": [8.0, 16.0], "rate": [0.375, 2 / 3]}))
       n_trials   rate
    0         8  0.375
    1        16  0.667
    """
    out = table.rename(columns=lambda name: str(name).replace(" ", "_"))
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_float_dtype(values):
            finite = values.dropna()
            if len(finite) and (finite == finite.round()).all() and finite.abs().max() < 2**53:
                out[column] = values.round().astype("Int64")
            else:
                out[column] = values.round(digits)
    return out
