"""What a valid SOSpine file is: pandera schemas per file kind, for errors, warnings (the published
files' known quirks) and information (what the format says on purpose).

The rules are declared here once, with pandera's API: its built-in checks (`str_matches`, `isin`,
`ge`, `le`), checks used by several schemas registered with `pandera.extensions.register_check_method`
(`finite_pixel`, `integer_pixels`, ...), and frame-wide checks as named `pa.Check`s. Validation
(`reading.check_file`) runs them with pandera's lazy validation and turns its failure cases into the
report's rows.

The frames validated are typed already (`reading`): numbers as floats, text as strings (None where
a field is empty), every column present (the header is checked before). `reading` hands pandera the
text columns as categoricals of those strings: its built-in text checks, and its check that they are
strings, then judge each distinct value once (a million detections name a few thousand frames and
five labels); a frame of plain strings validates the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.extensions import register_check_method

from sospine import constants
from sospine.constants import COORDS
from sospine.tables import split_frame_names

KINDS = ("tool_tips", "bbox", "outcomes", "detections")

GT_FRAME = rf"^{constants.TRIAL_PATTERN}_frame_\d{{8}}\.jpeg$"
DET_FRAME = rf"^{constants.TRIAL_PATTERN}_frame_\d{{8}}\.(?:jpeg|jpg)$"
LENGTH = r"^\d+:[0-5]\d:[0-5]\d$"
PRIOR_CASES = r"^(?:\d+|[<>]\s?\d+|\d+\s?-\s?\d+|\d+\+)$"

# Pixel coordinates beyond this are no frame's (the published frames are 1920x1080); a value like
# 1e300 is finite but would overflow the integer pixels downstream.
MAX_PIXEL = 100_000

#: a text column's type: strings, plain or categorical (see the module's docstring)
TEXT = str


# -- checks used by several schemas, registered as pandera check methods (pa.Check.finite_pixel())
# pandera drops missing values before a column check (ignore_na): these judge values that are there


def _register(check_fn):  # noqa: ANN001, ANN202 - a check function
    """`register_check_method` for a column check; pandera refuses a second check of the same name
    (another library's `integer` would never stand in for ours silently)."""
    return register_check_method(check_fn, supported_types=pd.Series)


def _integral(series: pd.Series) -> pd.Series:
    return series == series.round()


@_register
def finite_pixel(series: pd.Series) -> pd.Series:
    """A finite pixel coordinate no further than MAX_PIXEL from the frame's corner."""
    return pd.Series(np.abs(series.to_numpy(float)) <= MAX_PIXEL, index=series.index)  # inf and NaN fail


@_register
def integer_pixels(series: pd.Series) -> pd.Series:
    return _integral(series)


@_register
def integer(series: pd.Series) -> pd.Series:
    return _integral(series)


@_register
def inside_frame(series: pd.Series) -> pd.Series:
    """A box's left or top edge inside the frame."""
    return series >= 0


@_register
def inside_frame_width(series: pd.Series) -> pd.Series:
    return series <= constants.FULL_WIDTH


@_register
def inside_frame_height(series: pd.Series) -> pd.Series:
    return series <= constants.FULL_HEIGHT


# -- frame-wide checks: pandera passes rows whose every value is missing (ignore_na)


def _ordered(low: str, high: str) -> pa.Check:
    def ordered(df: pd.DataFrame) -> pd.Series:
        return df[low].isna() | df[high].isna() | (df[low] <= df[high])

    return pa.Check(ordered, name=f"{low}<={high}")


def _empty_row_consistent(df: pd.DataFrame) -> pd.Series:
    """A row without label must be empty in every other column, and a labelled row complete."""
    coords_missing = df[COORDS].isna()
    no_label = df["label"].isna()
    return (no_label & coords_missing.all(axis=1)) | (~no_label & ~coords_missing.any(axis=1))


def _one_box_per_frame_and_label(df: pd.DataFrame) -> pd.Series:
    labelled = df["label"].notna()
    return ~(labelled & df.duplicated(["trial_frame", "label"], keep="first")) | df.duplicated(keep="first")


def _distinct(text: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """(codes, distinct values) of a text column, -1 for a missing value: a categorical's own."""
    if isinstance(text.dtype, pd.CategoricalDtype):
        return text.cat.codes.to_numpy(), pd.Series(text.cat.categories, dtype=object)
    codes, distinct = pd.factorize(text.to_numpy(dtype=object))
    return codes, pd.Series(distinct, dtype=object)


def _frame_matches_name(df: pd.DataFrame) -> pd.Series:
    """The frame number is the one in the frame's name (each distinct name read once)."""
    codes, names = _distinct(df["trial_frame"])
    numbers = pd.to_numeric(split_frame_names(names)["frame"], errors="coerce").to_numpy(float)
    number = np.append(numbers, np.nan)[codes]  # code -1, a missing name: the NaN at the end
    frame = df["frame"].to_numpy(float)
    return pd.Series(np.isnan(number) | np.isnan(frame) | (number == frame), index=df.index)


def _no_duplicate_rows(df: pd.DataFrame) -> pd.Series:
    return ~df.duplicated(keep="first")


def _annotations(name: str, labels: tuple[str, ...], *, one_box_per_label: bool) -> pa.DataFrameSchema:
    def coordinate(column: str) -> pa.Column:
        return pa.Column(
            float,
            checks=[pa.Check.ge(0), pa.Check.finite_pixel(), pa.Check.integer_pixels()],
            nullable=True,
            name=column,
        )

    checks = [
        _ordered("x1", "x2"),
        _ordered("y1", "y2"),
        pa.Check(_empty_row_consistent, name="empty_frame_row_all_empty"),
        pa.Check(_no_duplicate_rows, name="no_duplicate_rows"),
    ]
    if one_box_per_label:
        checks.append(pa.Check(_one_box_per_frame_and_label, name="one_box_per_frame_and_label"))
    return pa.DataFrameSchema(
        {
            "trial_frame": pa.Column(TEXT, checks=pa.Check.str_matches(GT_FRAME)),
            **{c: coordinate(c) for c in COORDS},
            "label": pa.Column(TEXT, checks=pa.Check.isin(labels), nullable=True),
        },
        checks=checks,
        strict=True,
        name=name,
    )


ToolTips = _annotations("ToolTips", constants.TIP_LABELS, one_box_per_label=False)
Boxes = _annotations("Boxes", constants.BOX_LABELS, one_box_per_label=True)


def _annotation_warnings(name: str, *, boxes: bool) -> pa.DataFrameSchema:
    """Quirks of the published annotation files: reported, counted, not fatal."""
    checks = (
        [
            pa.Check(lambda df: df["label"].isna() | (df["x2"] != df["x1"]), name="zero_width_box"),
            pa.Check(lambda df: df["label"].isna() | (df["y2"] != df["y1"]), name="zero_height_box"),
        ]
        if boxes
        else []
    )
    return pa.DataFrameSchema(
        {
            "x2": pa.Column(float, checks=pa.Check.inside_frame_width(), nullable=True),
            "y2": pa.Column(float, checks=pa.Check.inside_frame_height(), nullable=True),
        },
        checks=checks,
        name=name,
    )


ToolTipWarnings = _annotation_warnings("ToolTipWarnings", boxes=False)
BoxWarnings = _annotation_warnings("BoxWarnings", boxes=True)

#: frames without any tool: the published format's one empty row, reported as information
EmptyFrames = pa.DataFrameSchema(
    # half-filled rows are errors instead
    checks=pa.Check(lambda df: df["label"].notna() | df[COORDS].notna().any(axis=1), name="empty_frame"),
    name="EmptyFrames",
)


def _outcome_number(*checks: pa.Check) -> pa.Column:
    return pa.Column(float, checks=[*checks, pa.Check.integer()], nullable=True)


Outcomes = pa.DataFrameSchema(
    {
        "Trial ID": pa.Column(TEXT, checks=pa.Check.str_matches(rf"^{constants.TRIAL_PATTERN}$"), unique=True),
        "Length": pa.Column(TEXT, checks=pa.Check.str_matches(LENGTH), nullable=True),
        "Postgraduate year": _outcome_number(pa.Check.ge(0), pa.Check.le(15)),
        "Prior experience with MISS": pa.Column(TEXT, checks=pa.Check.isin(["Y", "N"]), nullable=True),
        "Number prior cases": pa.Column(TEXT, checks=pa.Check.str_matches(PRIOR_CASES), nullable=True),
        "Time for repair": _outcome_number(pa.Check.ge(0)),
        "Leak At 40mmHg": pa.Column(TEXT, checks=pa.Check.isin(["Y", "N"]), nullable=True),
        "Total Frames at 1 FPS": _outcome_number(pa.Check.ge(0)),
    },
    strict=True,
    name="Outcomes",
)

Detections = pa.DataFrameSchema(
    {
        "trial_frame": pa.Column(TEXT, checks=pa.Check.str_matches(DET_FRAME)),
        "frame": pa.Column(float, checks=[pa.Check.ge(0), pa.Check.integer()]),
        **{c: pa.Column(float, checks=pa.Check.finite_pixel()) for c in COORDS},
        "score": pa.Column(
            float,
            checks=[
                pa.Check.ge(0),
                pa.Check.le(1),
                pa.Check(lambda s: pd.Series(np.isfinite(s.to_numpy(float)), index=s.index), name="finite"),
            ],
        ),
        "label": pa.Column(TEXT, checks=pa.Check.isin(constants.BOX_LABELS)),
    },
    checks=[_ordered("x1", "x2"), _ordered("y1", "y2"), pa.Check(_frame_matches_name, name="frame_matches_name")],
    strict=True,
    name="Detections",
)

#: the published detections reach past the frame (negative x1, x2 beyond 1920): warnings
DetectionWarnings = pa.DataFrameSchema(
    {
        "x1": pa.Column(float, checks=pa.Check.inside_frame()),
        "y1": pa.Column(float, checks=pa.Check.inside_frame()),
        "x2": pa.Column(float, checks=pa.Check.inside_frame_width()),
        "y2": pa.Column(float, checks=pa.Check.inside_frame_height()),
    },
    name="DetectionWarnings",
)


@dataclass(frozen=True)
class FileSpec:
    """One kind of file: its columns in order, which are numbers, and its schemas by severity."""

    columns: tuple[str, ...]
    numeric: tuple[str, ...]
    errors: pa.DataFrameSchema
    warnings: pa.DataFrameSchema | None = None
    info: pa.DataFrameSchema | None = None
    schemas: dict[str, pa.DataFrameSchema] = field(init=False)  # severity -> schema, in that order

    def __post_init__(self) -> None:
        found = {"error": self.errors, "warning": self.warnings, "info": self.info}
        object.__setattr__(self, "schemas", {severity: s for severity, s in found.items() if s is not None})


SPECS: dict[str, FileSpec] = {
    "tool_tips": FileSpec(constants.ANNOTATION_COLUMNS, tuple(COORDS), ToolTips, ToolTipWarnings, EmptyFrames),
    "bbox": FileSpec(constants.ANNOTATION_COLUMNS, tuple(COORDS), Boxes, BoxWarnings, EmptyFrames),
    "outcomes": FileSpec(
        constants.OUTCOME_COLUMNS, ("Postgraduate year", "Time for repair", "Total Frames at 1 FPS"), Outcomes
    ),
    "detections": FileSpec(constants.DETECTION_COLUMNS, ("frame", *COORDS, "score"), Detections, DetectionWarnings),
}
