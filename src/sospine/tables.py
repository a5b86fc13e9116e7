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

from sospine.constants import ANNOTATION_COLUMNS, COORDS, FRAME_NAME_RE

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


def read_table(path: str | Path, **kwargs: object) -> pd.DataFrame:
    """A CSV read with every number exactly as written: pandas' default parser can miss the last
    digit of a 17-digit number (0.07719999999999999 read as 0.0771999999999999, which is then
    written back as such), so a threshold written from one table would not equal the score it was
    chosen from in another."""
    return pd.read_csv(path, float_precision="round_trip", **kwargs)


#: a float64 within NOISE_ULPS of a decimal of at most NOISE_DIGITS significant digits is that decimal
#: plus arithmetic noise (0.0772 written as 0.07719999999999999); a value computed in float64 is that
#: close to so short a decimal about once in a million
NOISE_DIGITS, NOISE_ULPS = 10, 4


def without_float_noise(values: np.ndarray) -> np.ndarray:
    """`values` (float64) at the precision they were computed in, without the noise of their binary
    form: one that is exactly a float32 (a detector's score or box, a float32 metric, known to about
    7 digits) becomes its float32's shortest decimal (0.019715487957000732 -> 0.019715488); one within
    a few units in the last place of a short decimal becomes that decimal (0.07719999999999999, a
    score of 0.0772 in the paper's file, -> 0.0772). Every other value stays as it is (an AP of
    0.8247619047619049 keeps its 16 digits). Values of one precision keep their order (a float32 moves
    by less than half its unit in the last place, a float64 by a few of its own), and applying it
    twice changes nothing.

    >>> without_float_noise(np.array([float(np.float32(0.019715488)), 0.07719999999999999, 0.1 + 0.2])).tolist()
    [0.019715488, 0.0772, 0.3]
    >>> without_float_noise(np.array([0.8247619047619049, 629.7237155311986, 0.5, 1242.0, np.nan])).tolist()
    [0.8247619047619049, 629.7237155311986, 0.5, 1242.0, nan]
    """
    values = np.asarray(values, dtype=np.float64)
    out = values.copy()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        finite = np.isfinite(values) & (values != 0)
        single = values.astype(np.float32)
        exact = finite & (single.astype(np.float64) == values)
        if exact.any():  # numpy writes a float32 in its shortest digits
            out[exact] = single[exact].astype(str).astype(np.float64)
        # the nearest decimal of NOISE_DIGITS significant digits: an integer over a power of ten,
        # both exact in float64, so the division gives the float64 nearest that decimal
        magnitude = np.floor(np.log10(np.abs(np.where(finite, values, 1.0)))).astype(int)
        shift = NOISE_DIGITS - 1 - magnitude
        usable = finite & ~exact & (shift >= 0) & (shift <= 22)
        if usable.any():
            power = 10.0 ** shift[usable]
            short = np.round(values[usable] * power) / power
            ulp = np.spacing(np.maximum(np.abs(values[usable]), np.abs(short)))  # the wider one, at a power of 2
            near = np.abs(short - values[usable]) <= NOISE_ULPS * ulp
            out[np.flatnonzero(usable)[near]] = short[near]
    return out


def at_precision(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with every float column's values at the precision they were computed in
    (`without_float_noise`): what a machine-readable CSV holds, and how detections are read."""
    out = table.copy()
    for column in out.columns:
        dtype = out[column].dtype
        if isinstance(dtype, np.dtype) and dtype.kind == "f":  # numpy floats (nullable Float64 stays as it is)
            out[column] = without_float_noise(out[column].to_numpy())
    return out


def counts_as_integers(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with each float column that holds whole numbers only (a count beside empty cells, which
    pandas keeps as float: 1242.0) as integers with empty cells.

    >>> counts_as_integers(pd.DataFrame({"frames": [1242.0, None], "share": [0.5, 1.0]})).to_csv(index=False)
    'frames,share\\n1242,0.5\\n,1.0\\n'
    """
    out = table.copy()
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_float_dtype(values):
            finite = values.dropna()
            if len(finite) and (finite == finite.round()).all() and finite.abs().max() < 2**53:
                out[column] = values.round().astype("Int64")
    return out


def write_table(table: pd.DataFrame, path: str | Path, *, counts: bool = True, **kwargs: object) -> None:
    """Write a table the workflow or a script reads again (full precision): numbers at the precision
    they were computed in (`at_precision`), counts as integers (`counts_as_integers`; `counts=False`
    for coordinates and scores), no index. Tables for a person go through `readable` first."""
    table = at_precision(table)
    if counts:
        table = counts_as_integers(table)
    table.to_csv(path, index=False, **kwargs)


def read_annotations(path: str | Path) -> pd.DataFrame:
    """Read a published bbox or tool-tip file (empty-frame rows keep NaN coordinates and label)."""
    table = read_table(path, encoding="utf-8-sig", dtype={"trial_frame": str, "label": str})
    missing = [c for c in ANNOTATION_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    for column in COORDS:
        table[column] = pd.to_numeric(table[column]).astype("Float64")
    return table[list(ANNOTATION_COLUMNS)]


def read_detections(path: str | Path) -> pd.DataFrame:
    """A detections file, its numbers as written and a float32 detector's at their float32 precision
    (`at_precision`): the same values whichever of the two ways a score was written, so that a
    threshold written from one table selects the same detections in another."""
    return at_precision(read_table(path, encoding="utf-8-sig", dtype={"trial_frame": str, "label": str}))


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
    out = counts_as_integers(table.rename(columns=lambda name: str(name).replace(" ", "_")))
    for column in out.columns:
        if pd.api.types.is_float_dtype(out[column]):
            out[column] = out[column].round(digits)
    return out
