"""What a valid SOSpine file is: pandera models per file kind, for errors, warnings (the published
files' known quirks) and information (what the format says on purpose)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from .. import constants
from ..constants import COORDS
from ..tables import split_frame_names

KINDS = ("tool_tips", "bbox", "outcomes", "detections")

GT_FRAME = rf"^{constants.TRIAL_PATTERN}_frame_\d{{8}}\.jpeg$"
DET_FRAME = rf"^{constants.TRIAL_PATTERN}_frame_\d{{8}}\.(?:jpeg|jpg)$"


# Pixel coordinates beyond this are no frame's (the published frames are 1920x1080); a value like
# 1e300 is finite but would overflow the integer pixels downstream.
MAX_PIXEL = 100_000


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


# The annotation models are made by functions, not by subclassing: pandera (0.35) renames a named
# check that a second subclass inherits to its method's name once the first subclass was used
# (Boxes' `x1<=x2` became `x_ordered` after ToolTips validated), so each model gets its own checks.


def _annotation_model(model_name: str, labels: tuple[str, ...], *, one_box_per_label: bool) -> type[pa.DataFrameModel]:
    class Model(pa.DataFrameModel):
        trial_frame: Series[str] = pa.Field(str_matches=GT_FRAME)
        x1: Series[float] = pa.Field(nullable=True, ge=0)
        y1: Series[float] = pa.Field(nullable=True, ge=0)
        x2: Series[float] = pa.Field(nullable=True, ge=0)
        y2: Series[float] = pa.Field(nullable=True, ge=0)
        label: Series[str] = pa.Field(nullable=True, isin=list(labels))

        @pa.check(*COORDS, name="finite_pixel")
        def finite_pixel(cls, series: Series[float]) -> Series[bool]:
            return _plausible_pixel(series)

        @pa.check(*COORDS, name="integer_pixels")
        def integer_pixels(cls, series: Series[float]) -> Series[bool]:
            return _integral(series)

        @pa.dataframe_check(name="x1<=x2")
        def x_ordered(cls, df: pd.DataFrame) -> Series[bool]:
            return _ordered(df, "x1", "x2")

        @pa.dataframe_check(name="y1<=y2")
        def y_ordered(cls, df: pd.DataFrame) -> Series[bool]:
            return _ordered(df, "y1", "y2")

        @pa.dataframe_check(name="empty_frame_row_all_empty")
        def empty_rows(cls, df: pd.DataFrame) -> Series[bool]:
            return _empty_row_consistent(df)

        @pa.dataframe_check(name="no_duplicate_rows")
        def no_duplicates(cls, df: pd.DataFrame) -> Series[bool]:
            return ~df.duplicated(keep="first")

        if one_box_per_label:

            @pa.dataframe_check(name="one_box_per_frame_and_label")
            def one_box(cls, df: pd.DataFrame) -> Series[bool]:
                labelled = df["label"].notna()
                return ~(labelled & df.duplicated(["trial_frame", "label"], keep="first")) | df.duplicated(keep="first")

        class Config:
            strict = True
            coerce = False

    Model.__name__ = Model.__qualname__ = model_name
    return Model


ToolTips = _annotation_model("ToolTips", constants.TIP_LABELS, one_box_per_label=False)
Boxes = _annotation_model("Boxes", constants.BOX_LABELS, one_box_per_label=True)


def _annotation_warnings(model_name: str, *, boxes: bool) -> type[pa.DataFrameModel]:
    """Quirks of the published annotation files: reported, counted, not fatal."""

    class Model(pa.DataFrameModel):
        x2: Series[float] = pa.Field(nullable=True)
        y2: Series[float] = pa.Field(nullable=True)

        @pa.check("x2", name="inside_frame_width")
        def inside_width(cls, series: Series[float]) -> Series[bool]:
            return series.isna() | (series <= constants.FULL_WIDTH)

        @pa.check("y2", name="inside_frame_height")
        def inside_height(cls, series: Series[float]) -> Series[bool]:
            return series.isna() | (series <= constants.FULL_HEIGHT)

        if boxes:

            @pa.dataframe_check(name="zero_width_box")
            def zero_width(cls, df: pd.DataFrame) -> Series[bool]:
                return df["label"].isna() | (df["x2"] != df["x1"])

            @pa.dataframe_check(name="zero_height_box")
            def zero_height(cls, df: pd.DataFrame) -> Series[bool]:
                return df["label"].isna() | (df["y2"] != df["y1"])

    Model.__name__ = Model.__qualname__ = model_name
    return Model


ToolTipWarnings = _annotation_warnings("ToolTipWarnings", boxes=False)
BoxWarnings = _annotation_warnings("BoxWarnings", boxes=True)


class EmptyFrames(pa.DataFrameModel):
    """Frames without any tool: the published format's one empty row, reported as information."""

    @pa.dataframe_check(name="empty_frame")
    def empty_frame(cls, df: pd.DataFrame) -> Series[bool]:
        return df["label"].notna() | df[COORDS].notna().any(axis=1)  # half-filled rows are errors instead


LENGTH = r"^\d+:[0-5]\d:[0-5]\d$"
PRIOR_CASES = r"^(?:\d+|[<>]\s?\d+|\d+\s?-\s?\d+|\d+\+)$"


class Outcomes(pa.DataFrameModel):
    trial_id: Series[str] = pa.Field(alias="Trial ID", str_matches=rf"^{constants.TRIAL_PATTERN}$", unique=True)
    length: Series[str] = pa.Field(alias="Length", nullable=True, str_matches=LENGTH)
    pgy: Series[float] = pa.Field(alias="Postgraduate year", nullable=True, ge=0, le=15)
    prior_miss: Series[str] = pa.Field(alias="Prior experience with MISS", nullable=True, isin=["Y", "N"])
    prior_cases: Series[str] = pa.Field(alias="Number prior cases", nullable=True, str_matches=PRIOR_CASES)
    repair_time: Series[float] = pa.Field(alias="Time for repair", nullable=True, ge=0)
    leak: Series[str] = pa.Field(alias="Leak At 40mmHg", nullable=True, isin=["Y", "N"])
    frames: Series[float] = pa.Field(alias="Total Frames at 1 FPS", nullable=True, ge=0)

    @pa.check("Postgraduate year", "Time for repair", "Total Frames at 1 FPS", name="integer")
    def integer(cls, series: Series[float]) -> Series[bool]:
        return _integral(series)

    class Config:
        strict = True


class Detections(pa.DataFrameModel):
    trial_frame: Series[str] = pa.Field(str_matches=DET_FRAME)
    frame: Series[float] = pa.Field(ge=0)
    x1: Series[float] = pa.Field()
    y1: Series[float] = pa.Field()
    x2: Series[float] = pa.Field()
    y2: Series[float] = pa.Field()
    score: Series[float] = pa.Field(ge=0, le=1)
    label: Series[str] = pa.Field(isin=list(constants.BOX_LABELS))

    @pa.check("frame", name="integer")
    def integer(cls, series: Series[float]) -> Series[bool]:
        return _integral(series)

    @pa.check(*COORDS, name="finite_pixel")
    def finite_pixel(cls, series: Series[float]) -> Series[bool]:
        return _plausible_pixel(series) & series.notna()

    @pa.check("score", name="finite")
    def finite(cls, series: Series[float]) -> Series[bool]:
        return pd.Series(np.isfinite(series.to_numpy(float)), index=series.index)

    @pa.dataframe_check(name="x1<=x2")
    def x_ordered(cls, df: pd.DataFrame) -> Series[bool]:
        return _ordered(df, "x1", "x2")

    @pa.dataframe_check(name="y1<=y2")
    def y_ordered(cls, df: pd.DataFrame) -> Series[bool]:
        return _ordered(df, "y1", "y2")

    @pa.dataframe_check(name="frame_matches_name")
    def frame_matches(cls, df: pd.DataFrame) -> Series[bool]:
        number = pd.to_numeric(split_frame_names(df["trial_frame"])["frame"], errors="coerce").astype(float)
        return number.isna() | df["frame"].isna() | (number == df["frame"])

    class Config:
        strict = True


class DetectionWarnings(pa.DataFrameModel):
    """The published detections reach past the frame (negative x1, x2 beyond 1920): warnings."""

    x1: Series[float] = pa.Field()
    y1: Series[float] = pa.Field()
    x2: Series[float] = pa.Field()
    y2: Series[float] = pa.Field()

    @pa.check("x1", "y1", name="inside_frame")
    def non_negative(cls, series: Series[float]) -> Series[bool]:
        return series >= 0

    @pa.check("x2", name="inside_frame_width")
    def inside_width(cls, series: Series[float]) -> Series[bool]:
        return series <= constants.FULL_WIDTH

    @pa.check("y2", name="inside_frame_height")
    def inside_height(cls, series: Series[float]) -> Series[bool]:
        return series <= constants.FULL_HEIGHT


@dataclass(frozen=True)
class FileSpec:
    columns: tuple[str, ...]
    numeric: tuple[str, ...]
    errors: type[pa.DataFrameModel]
    warnings: type[pa.DataFrameModel] | None = None
    info: type[pa.DataFrameModel] | None = None


SPECS: dict[str, FileSpec] = {
    "tool_tips": FileSpec(constants.ANNOTATION_COLUMNS, tuple(COORDS), ToolTips, ToolTipWarnings, EmptyFrames),
    "bbox": FileSpec(constants.ANNOTATION_COLUMNS, tuple(COORDS), Boxes, BoxWarnings, EmptyFrames),
    "outcomes": FileSpec(
        constants.OUTCOME_COLUMNS, ("Postgraduate year", "Time for repair", "Total Frames at 1 FPS"), Outcomes
    ),
    "detections": FileSpec(constants.DETECTION_COLUMNS, ("frame", *COORDS, "score"), Detections, DetectionWarnings),
}
