"""What a valid SOSpine file is: the rules per file kind, for errors, warnings (the published files'
known quirks) and information (what the format says on purpose).

The rules are declared here once, in pandera's terms (its built-in checks by their names, named
custom checks, nullable and unique columns, strict frames), without importing pandera: every
validation runs them directly (`reading.failure_cases`), and scoring, which validates every file
it reads, does not pay pandera's import (a third of a second, as much as the scoring of a
published file). `models` gives each rule set as a pandera schema, and the test suite holds
pandera's own lazy validation of those schemas to the same failures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import constants
from ..constants import COORDS
from ..tables import split_frame_names

KINDS = ("tool_tips", "bbox", "outcomes", "detections")

GT_FRAME = rf"^{constants.TRIAL_PATTERN}_frame_\d{{8}}\.jpeg$"
DET_FRAME = rf"^{constants.TRIAL_PATTERN}_frame_\d{{8}}\.(?:jpeg|jpg)$"

# Pixel coordinates beyond this are no frame's (the published frames are 1920x1080); a value like
# 1e300 is finite but would overflow the integer pixels downstream.
MAX_PIXEL = 100_000


@dataclass(frozen=True)
class Check:
    """One check: `test` says, per value (a column check, given the column without missing values)
    or per row (a frame check, given the frame), whether it passes. `builtin` names the pandera
    built-in check it is, with its argument (its `name` is then pandera's name for it)."""

    name: str
    test: Callable[[Any], pd.Series | pd.DataFrame]
    builtin: tuple[str, Any] | None = None
    #: judges each value alone: a text column is checked once per distinct value
    per_value: bool = False


@dataclass(frozen=True)
class Column:
    dtype: type  # str or float: the typed frame's column (see reading._typed)
    nullable: bool = False
    unique: bool = False
    checks: tuple[Check, ...] = ()


@dataclass(frozen=True, eq=False)  # one model is one object: hashed (cached) by identity
class Model:
    """A strict frame: exactly these columns (a file's header is checked before), their checks, then
    the frame-wide ones. Rows whose every value is missing pass the frame checks (pandera's
    `ignore_na`)."""

    name: str
    columns: dict[str, Column]  # by the column's name in the file
    checks: tuple[Check, ...] = ()
    strict: bool = True

    # what the pandera DataFrameModel classes these rules once were offered: imports pandera
    def to_schema(self):  # noqa: ANN201 - pandera.DataFrameSchema
        """The rules as a pandera DataFrameSchema (`models.schema`)."""
        from .models import schema

        return schema(self)

    def validate(self, data: pd.DataFrame, **kwargs: Any) -> pd.DataFrame:
        """pandera's validation of `data` by these rules (`lazy=True` and the rest as pandera's)."""
        return self.to_schema().validate(data, **kwargs)


def str_matches(pattern: str) -> Check:
    return Check("str_matches", lambda s: s.str.match(pattern, na=False), ("str_matches", pattern), per_value=True)


def isin(values: Iterable) -> Check:
    allowed = list(values)
    return Check("isin", lambda s: s.isin(allowed), ("isin", allowed), per_value=True)


def ge(value: float) -> Check:
    return Check("greater_than_or_equal_to", lambda s: s >= value, ("greater_than_or_equal_to", value))


def le(value: float) -> Check:
    return Check("less_than_or_equal_to", lambda s: s <= value, ("less_than_or_equal_to", value))


def _integral(series: pd.Series) -> pd.Series:
    return series.isna() | (series == series.round())


def _plausible_pixel(series: pd.Series) -> pd.Series:
    values = series.to_numpy(float)
    return pd.Series(np.isnan(values) | (np.isfinite(values) & (np.abs(values) <= MAX_PIXEL)), index=series.index)


def _ordered(df: pd.DataFrame, low: str, high: str) -> pd.Series:
    return df[low].isna() | df[high].isna() | (df[low] <= df[high])


def _empty_row_consistent(df: pd.DataFrame) -> pd.Series:
    """A row without label must be empty in every other column, and a labelled row complete."""
    coords_missing = df[COORDS].isna()
    no_label = df["label"].isna()
    return (no_label & coords_missing.all(axis=1)) | (~no_label & ~coords_missing.any(axis=1))


def _one_box_per_frame_and_label(df: pd.DataFrame) -> pd.Series:
    labelled = df["label"].notna()
    return ~(labelled & df.duplicated(["trial_frame", "label"], keep="first")) | df.duplicated(keep="first")


def _frame_matches_name(df: pd.DataFrame) -> pd.Series:
    number = pd.to_numeric(split_frame_names(df["trial_frame"])["frame"], errors="coerce").astype(float)
    return number.isna() | df["frame"].isna() | (number == df["frame"])


FINITE_PIXEL = Check("finite_pixel", _plausible_pixel)
X_ORDERED = Check("x1<=x2", lambda df: _ordered(df, "x1", "x2"))
Y_ORDERED = Check("y1<=y2", lambda df: _ordered(df, "y1", "y2"))


def _annotations(name: str, labels: tuple[str, ...], *, one_box_per_label: bool) -> Model:
    def coordinate() -> Column:
        return Column(float, nullable=True, checks=(ge(0), FINITE_PIXEL, Check("integer_pixels", _integral)))

    checks = [
        X_ORDERED,
        Y_ORDERED,
        Check("empty_frame_row_all_empty", _empty_row_consistent),
        Check("no_duplicate_rows", lambda df: ~df.duplicated(keep="first")),
    ]
    if one_box_per_label:
        checks.append(Check("one_box_per_frame_and_label", _one_box_per_frame_and_label))
    return Model(
        name,
        {
            "trial_frame": Column(str, checks=(str_matches(GT_FRAME),)),
            **{c: coordinate() for c in COORDS},
            "label": Column(str, nullable=True, checks=(isin(labels),)),
        },
        tuple(checks),
    )


ToolTips = _annotations("ToolTips", constants.TIP_LABELS, one_box_per_label=False)
Boxes = _annotations("Boxes", constants.BOX_LABELS, one_box_per_label=True)


def _annotation_warnings(name: str, *, boxes: bool) -> Model:
    """Quirks of the published annotation files: reported, counted, not fatal."""
    checks = (
        (
            Check("zero_width_box", lambda df: df["label"].isna() | (df["x2"] != df["x1"])),
            Check("zero_height_box", lambda df: df["label"].isna() | (df["y2"] != df["y1"])),
        )
        if boxes
        else ()
    )
    return Model(
        name,
        {
            "x2": Column(
                float, True, checks=(Check("inside_frame_width", lambda s: s.isna() | (s <= constants.FULL_WIDTH)),)
            ),
            "y2": Column(
                float, True, checks=(Check("inside_frame_height", lambda s: s.isna() | (s <= constants.FULL_HEIGHT)),)
            ),
        },
        checks,
        strict=False,
    )


ToolTipWarnings = _annotation_warnings("ToolTipWarnings", boxes=False)
BoxWarnings = _annotation_warnings("BoxWarnings", boxes=True)

#: frames without any tool: the published format's one empty row, reported as information
EmptyFrames = Model(
    "EmptyFrames",
    {},
    # half-filled rows are errors instead
    (Check("empty_frame", lambda df: df["label"].notna() | df[COORDS].notna().any(axis=1)),),
    strict=False,
)

LENGTH = r"^\d+:[0-5]\d:[0-5]\d$"
PRIOR_CASES = r"^(?:\d+|[<>]\s?\d+|\d+\s?-\s?\d+|\d+\+)$"
_INTEGER = Check("integer", _integral)

Outcomes = Model(
    "Outcomes",
    {
        "Trial ID": Column(str, unique=True, checks=(str_matches(rf"^{constants.TRIAL_PATTERN}$"),)),
        "Length": Column(str, True, checks=(str_matches(LENGTH),)),
        "Postgraduate year": Column(float, True, checks=(ge(0), le(15), _INTEGER)),
        "Prior experience with MISS": Column(str, True, checks=(isin(["Y", "N"]),)),
        "Number prior cases": Column(str, True, checks=(str_matches(PRIOR_CASES),)),
        "Time for repair": Column(float, True, checks=(ge(0), _INTEGER)),
        "Leak At 40mmHg": Column(str, True, checks=(isin(["Y", "N"]),)),
        "Total Frames at 1 FPS": Column(float, True, checks=(ge(0), _INTEGER)),
    },
)

DETECTED_PIXEL = Check("finite_pixel", lambda s: _plausible_pixel(s) & s.notna())

Detections = Model(
    "Detections",
    {
        "trial_frame": Column(str, checks=(str_matches(DET_FRAME),)),
        "frame": Column(float, checks=(ge(0), _INTEGER)),
        **{
            c: Column(float, checks=(Check("finite_pixel", lambda s: _plausible_pixel(s) & s.notna()),)) for c in COORDS
        },
        "score": Column(
            float,
            checks=(ge(0), le(1), Check("finite", lambda s: pd.Series(np.isfinite(s.to_numpy(float)), index=s.index))),
        ),
        "label": Column(str, checks=(isin(constants.BOX_LABELS),)),
    },
    (X_ORDERED, Y_ORDERED, Check("frame_matches_name", _frame_matches_name)),
)

#: the published detections reach past the frame (negative x1, x2 beyond 1920): warnings
DetectionWarnings = Model(
    "DetectionWarnings",
    {
        "x1": Column(float, checks=(Check("inside_frame", lambda s: s >= 0),)),
        "y1": Column(float, checks=(Check("inside_frame", lambda s: s >= 0),)),
        "x2": Column(float, checks=(Check("inside_frame_width", lambda s: s <= constants.FULL_WIDTH),)),
        "y2": Column(float, checks=(Check("inside_frame_height", lambda s: s <= constants.FULL_HEIGHT),)),
    },
    strict=False,
)


@dataclass(frozen=True)
class FileSpec:
    columns: tuple[str, ...]
    numeric: tuple[str, ...]
    errors: Model
    warnings: Model | None = None
    info: Model | None = None
    models: tuple[Model, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(m for m in (self.errors, self.warnings, self.info) if m))


SPECS: dict[str, FileSpec] = {
    "tool_tips": FileSpec(constants.ANNOTATION_COLUMNS, tuple(COORDS), ToolTips, ToolTipWarnings, EmptyFrames),
    "bbox": FileSpec(constants.ANNOTATION_COLUMNS, tuple(COORDS), Boxes, BoxWarnings, EmptyFrames),
    "outcomes": FileSpec(
        constants.OUTCOME_COLUMNS, ("Postgraduate year", "Time for repair", "Total Frames at 1 FPS"), Outcomes
    ),
    "detections": FileSpec(constants.DETECTION_COLUMNS, ("frame", *COORDS, "score"), Detections, DetectionWarnings),
}
