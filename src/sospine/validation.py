"""Validation of the published SOSpine files with pandera, reported line by line.

Each file is read as text first (so that file-level faults — empty, binary, not UTF-8, wrong
header, short or long rows — become one report row each instead of a traceback), then typed and
checked lazily against pandera DataFrameModels: one model for errors and one for the published
files' known quirks, which are warnings. Every report row names the file, the 1-based line in the
file (header = line 1), the column, the check, the offending value and the severity.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from . import constants

REPORT_COLUMNS = ["file", "line", "column", "check", "value", "severity"]
# A CSV that cannot be read to its end cannot be split into kept and quarantined rows: stop instead.
FILE_LEVEL_CHECKS = {"csv_syntax", "csv_header", "readable", "not_empty", "text_file", "utf8", "has_rows"}
csv.field_size_limit(2**31 - 1)  # an over-long field is a bad value of its row, not the end of the file
# `info`: the published format's normal way of saying something (a frame with no tool), not a problem
SEVERITIES = ("error", "warning", "info")


def format_issue(issue) -> str:  # a report row: a namedtuple from itertuples() or a dict
    """`file:line [column] check: value`, leaving out what a file-level issue does not have."""
    get = issue.get if isinstance(issue, dict) else lambda key: getattr(issue, key)
    where = f"{get('file')}:{get('line')}" if get("line") not in (None, "") else f"{get('file')}"
    column = f" [{get('column')}]" if get("column") not in (None, "") else ""
    return f"{where}{column} {get('check')}: {get('value')}"


KINDS = ("tool_tips", "bbox", "outcomes", "detections")

GT_FRAME = rf"^{constants.TRIAL_PATTERN}_frame_\d{{8}}\.jpeg$"
DET_FRAME = rf"^{constants.TRIAL_PATTERN}_frame_\d{{8}}\.(?:jpeg|jpg)$"
COORDS = ["x1", "y1", "x2", "y2"]


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


class _Annotations(pa.DataFrameModel):
    trial_frame: Series[str] = pa.Field(str_matches=GT_FRAME)
    x1: Series[float] = pa.Field(nullable=True, ge=0)
    y1: Series[float] = pa.Field(nullable=True, ge=0)
    x2: Series[float] = pa.Field(nullable=True, ge=0)
    y2: Series[float] = pa.Field(nullable=True, ge=0)
    label: Series[str] = pa.Field(nullable=True)

    @pa.check("x1", "y1", "x2", "y2", name="finite_pixel")
    def finite_pixel(cls, series: Series[float]) -> Series[bool]:
        return _plausible_pixel(series)

    @pa.check("x1", "y1", "x2", "y2", name="integer_pixels")
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

    class Config:
        strict = True
        coerce = False


class ToolTips(_Annotations):
    label: Series[str] = pa.Field(nullable=True, isin=list(constants.TIP_LABELS))


class Boxes(_Annotations):
    label: Series[str] = pa.Field(nullable=True, isin=list(constants.BOX_LABELS))

    @pa.dataframe_check(name="one_box_per_frame_and_label")
    def one_box(cls, df: pd.DataFrame) -> Series[bool]:
        labelled = df["label"].notna()
        return ~(labelled & df.duplicated(["trial_frame", "label"], keep="first")) | df.duplicated(keep="first")


class _AnnotationWarnings(pa.DataFrameModel):
    """Quirks of the published annotation files: reported, counted, not fatal."""

    x2: Series[float] = pa.Field(nullable=True)
    y2: Series[float] = pa.Field(nullable=True)

    @pa.check("x2", name="inside_frame_width")
    def inside_width(cls, series: Series[float]) -> Series[bool]:
        return series.isna() | (series <= constants.FULL_WIDTH)

    @pa.check("y2", name="inside_frame_height")
    def inside_height(cls, series: Series[float]) -> Series[bool]:
        return series.isna() | (series <= constants.FULL_HEIGHT)


class EmptyFrames(pa.DataFrameModel):
    """Frames without any tool: the published format's one empty row, reported as information."""

    @pa.dataframe_check(name="empty_frame")
    def empty_frame(cls, df: pd.DataFrame) -> Series[bool]:
        return df["label"].notna() | df[COORDS].notna().any(axis=1)  # half-filled rows are errors instead


class BoxWarnings(_AnnotationWarnings):
    @pa.dataframe_check(name="zero_width_box")
    def zero_width(cls, df: pd.DataFrame) -> Series[bool]:
        return df["label"].isna() | (df["x2"] != df["x1"])

    @pa.dataframe_check(name="zero_height_box")
    def zero_height(cls, df: pd.DataFrame) -> Series[bool]:
        return df["label"].isna() | (df["y2"] != df["y1"])


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

    @pa.check("x1", "y1", "x2", "y2", "score", name="finite")
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
        number = pd.to_numeric(df["trial_frame"].str.extract(r"_frame_(\d+)\.")[0], errors="coerce")
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
    "tool_tips": FileSpec(constants.ANNOTATION_COLUMNS, tuple(COORDS), ToolTips, _AnnotationWarnings, EmptyFrames),
    "bbox": FileSpec(constants.ANNOTATION_COLUMNS, tuple(COORDS), Boxes, BoxWarnings, EmptyFrames),
    "outcomes": FileSpec(
        constants.OUTCOME_COLUMNS, ("Postgraduate year", "Time for repair", "Total Frames at 1 FPS"), Outcomes
    ),
    "detections": FileSpec(constants.DETECTION_COLUMNS, ("frame", *COORDS, "score"), Detections, DetectionWarnings),
}


@dataclass
class CheckedFile:
    """One file after validation: its rows as read (strings) with their line numbers, and issues."""

    kind: str
    path: Path
    raw: pd.DataFrame  # the file's columns as strings, plus `line`
    typed: pd.DataFrame | None
    issues: list[dict] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    def issue(self, line, column, check, value, severity="error") -> None:
        self.issues.append(
            {"file": self.name, "line": line, "column": column, "check": check, "value": value, "severity": severity}
        )

    def error_lines(self) -> set[int]:
        return {
            int(i["line"])
            for i in self.issues
            if i["severity"] == "error" and i["line"] not in (None, "") and int(i["line"]) > 1
        }


def _read_text(checked: CheckedFile) -> str | None:
    try:
        data = checked.path.read_bytes()
    except OSError as error:
        checked.issue("", "", "readable", error.strerror or str(error))
        return None
    if not data.strip():
        checked.issue("", "", "not_empty", "empty file")
        return None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        checked.issue("", "", "utf8", "UTF-16 text (byte-order mark); save the file as UTF-8")
        return None
    if b"\x00" in data[:8192]:
        checked.issue("", "", "text_file", "binary content (NUL bytes); not a CSV file")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        checked.issue(line, "", "utf8", f"byte 0x{data[error.start]:02x} at offset {error.start} is not UTF-8")
        return None


def _read_rows(checked: CheckedFile, columns: tuple[str, ...]) -> pd.DataFrame | None:
    text = _read_text(checked)
    if text is None:
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (csv.Error, StopIteration) as error:
        checked.issue(1, "", "csv_header", str(error))
        return None
    header = [h.strip() for h in header]
    missing = [c for c in columns if c not in header]
    extra = [h for h in header if h not in columns]
    for column in missing:
        checked.issue(1, column, "column_present", "missing column")
    for column in extra:
        checked.issue(1, column, "column_known", f"unexpected column {column!r}")
    if not missing and not extra and tuple(header) != columns:
        checked.issue(1, "", "header_order", ",".join(header))
    if missing or extra or len(set(header)) != len(header):
        if len(set(header)) != len(header):
            checked.issue(1, "", "header_unique", ",".join(header))
        return None
    records, lines = [], []
    try:
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if len(row) != len(header):
                checked.issue(
                    line, "", "field_count", f"expected {len(header)} fields, got {len(row)}: {','.join(row)}"
                )
                continue
            records.append(row)
            lines.append(line)
    except csv.Error as error:
        checked.issue(reader.line_num, "", "csv_syntax", str(error))
    raw = (
        pd.DataFrame(records, columns=header, dtype=object)[list(columns)]
        if records
        else pd.DataFrame(columns=list(columns))
    )
    raw.insert(0, "line", pd.Series(lines, dtype="int64"))
    return raw.reset_index(drop=True)


def _typed(checked: CheckedFile, spec: FileSpec) -> pd.DataFrame:
    raw = checked.raw
    typed = raw[list(spec.columns)].copy()
    for column in spec.columns:
        text = typed[column].astype("string").str.strip()
        typed[column] = text.mask(text == "")
    for column in spec.numeric:
        values = pd.to_numeric(typed[column], errors="coerce")
        bad = typed[column].notna() & values.isna()
        for idx in np.flatnonzero(bad.to_numpy()):
            checked.issue(int(raw["line"].iat[idx]), column, "number", typed[column].iat[idx])
        typed[column] = values.astype(float)
    for column in set(spec.columns) - set(spec.numeric):
        typed[column] = typed[column].astype(object).where(typed[column].notna(), None)
    return typed


def _report_failures(checked: CheckedFile, model: type[pa.DataFrameModel], severity: str) -> None:
    data = checked.typed
    try:
        model.validate(data, lazy=True)
        return
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    lines = checked.raw["line"]
    wide_columns = {
        "x1<=x2": ["x1", "x2"],
        "y1<=y2": ["y1", "y2"],
        "no_duplicate_rows": ["trial_frame"],
        "one_box_per_frame_and_label": ["trial_frame", "label"],
        "empty_frame": ["label"],
        "zero_width_box": ["x2"],
        "zero_height_box": ["y2"],
        "frame_matches_name": ["frame"],
    }
    seen: set[tuple] = set()
    for case in cases.itertuples(index=False):
        if pd.isna(case.index):
            if case.schema_context == "DataFrameSchema" and case.check.startswith("column_in_"):
                continue  # header problems were reported while reading
            checked.issue("", case.column or "", str(case.check), str(case.failure_case), severity)
            continue
        position = int(case.index)
        check = _check_name(str(case.check))
        if check == "empty_frame_row_all_empty":  # name the empty columns of a half-filled row
            columns = [c for c in (*COORDS, "label") if pd.isna(data[c].iat[position])]
        elif case.schema_context == "DataFrameSchema":
            columns = wide_columns.get(check, [case.column])
        else:
            columns = [case.column]
        for column in columns:
            key = (position, column, check)
            if key in seen:
                continue
            seen.add(key)
            value = checked.raw[column].iat[position] if column in checked.raw else case.failure_case
            checked.issue(int(lines.iat[position]), column, check, "" if value is None else str(value), severity)


def _check_name(check: str) -> str:
    """pandera's check descriptions, shortened: `isin([...])` -> `isin`, `str_matches('...')` -> `str_matches`."""
    for prefix in (
        "isin",
        "str_matches",
        "greater_than_or_equal_to",
        "less_than_or_equal_to",
        "in_range",
        "field_uniqueness",
    ):
        if check.startswith(prefix):
            return {"field_uniqueness": "unique"}.get(prefix, prefix)
    return check


def check_file(kind: str, path: str | Path) -> CheckedFile:
    """Validate one file; its `issues` list holds every problem found, errors and warnings."""
    if kind not in SPECS:
        raise ValueError(f"unknown file kind {kind!r}; expected one of {KINDS}")
    spec = SPECS[kind]
    checked = CheckedFile(kind=kind, path=Path(path), raw=pd.DataFrame(), typed=None)
    raw = _read_rows(checked, spec.columns)
    if raw is None:
        return checked
    checked.raw = raw
    checked.typed = _typed(checked, spec)
    if raw.empty:
        severity = "warning" if kind == "detections" else "error"
        checked.issue("", "", "has_rows", "header only, no data rows", severity)
        return checked
    _report_failures(checked, spec.errors, "error")
    if spec.warnings is not None:
        _report_failures(checked, spec.warnings, "warning")
    if spec.info is not None:
        _report_failures(checked, spec.info, "info")
    return checked


def _trial_of(frames: pd.Series) -> pd.Series:
    return frames.astype("string").str.extract(rf"^({constants.TRIAL_PATTERN})_frame_", expand=False)


def cross_check(files: dict[str, CheckedFile]) -> None:
    """Checks between files: frames per trial vs the outcomes, detection trials vs ground truth."""
    truth = next((files[k] for k in ("bbox", "tool_tips") if k in files and files[k].typed is not None), None)
    outcomes = files.get("outcomes")
    if truth is not None and outcomes is not None and outcomes.typed is not None and not outcomes.typed.empty:
        frames = truth.typed["trial_frame"].drop_duplicates()
        counts = _trial_of(frames).value_counts()
        table = outcomes.typed.assign(line=outcomes.raw["line"])
        declared = table.dropna(subset=["Total Frames at 1 FPS"])
        columns = (declared["Trial ID"], declared["Total Frames at 1 FPS"], declared["line"])
        for trial, expected, line in zip(*columns, strict=True):
            actual = int(counts.get(trial, 0))
            if actual != int(expected):
                outcomes.issue(
                    line,
                    "Total Frames at 1 FPS",
                    f"frames_in_{truth.name}",
                    f"{int(expected)} declared, {actual} annotated",
                    "warning",
                )
    detections = files.get("detections")
    if truth is not None and detections is not None and detections.typed is not None and not detections.typed.empty:
        known = set(_trial_of(truth.typed["trial_frame"]).dropna())
        trials = _trial_of(detections.typed["trial_frame"])
        unknown = trials.notna() & ~trials.isin(known)
        for idx in np.flatnonzero(unknown.to_numpy()):
            detections.issue(
                int(detections.raw["line"].iat[idx]),
                "trial_frame",
                "trial_in_ground_truth",
                detections.raw["trial_frame"].iat[idx],
            )


def validate(paths: dict[str, str | Path]) -> tuple[pd.DataFrame, dict[str, CheckedFile]]:
    """Validate every given file (kind -> path) and cross-check them; return the report and files."""
    files = {kind: check_file(kind, path) for kind, path in paths.items() if path}
    cross_check(files)
    rows = [issue for checked in files.values() for issue in checked.issues]
    report = pd.DataFrame(rows, columns=REPORT_COLUMNS)
    if not report.empty:
        report["_line"] = pd.to_numeric(report["line"], errors="coerce").fillna(0)
        report = report.sort_values(["file", "_line", "column"], kind="stable").drop(columns="_line")
    return report.reset_index(drop=True), files


def split_rows(checked: CheckedFile) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, quarantined) raw rows: rows with an error go to quarantine, the rest are kept.

    Rows that could not be parsed into the file's columns (wrong field count) are quarantined
    too, with their text in `raw`, so rows in = rows kept + rows quarantined.
    """
    raw = checked.raw
    bad_lines = checked.error_lines()
    is_bad = raw["line"].isin(bad_lines) if not raw.empty else pd.Series(dtype=bool)
    # what passes on is what was checked: the values as validation read them, stripped of spaces
    kept = raw[~is_bad].drop(columns="line").apply(lambda column: column.str.strip()) if not raw.empty else raw
    quarantined = raw[is_bad].assign(raw="") if not raw.empty else pd.DataFrame(columns=["line", *raw.columns, "raw"])
    unparsed = [i for i in checked.issues if i["check"] == "field_count"]
    if unparsed:
        extra = pd.DataFrame(
            {"line": [i["line"] for i in unparsed], "raw": [i["value"].split(": ", 1)[-1] for i in unparsed]}
        )
        quarantined = pd.concat([quarantined, extra], ignore_index=True).sort_values("line")
    return kept.reset_index(drop=True), quarantined.reset_index(drop=True)


def summarize(report: pd.DataFrame) -> pd.DataFrame:
    """Counts per file, severity and check: the quirks of the published files at a glance."""
    if report.empty:
        return pd.DataFrame(columns=["file", "severity", "check", "count"])
    return report.groupby(["file", "severity", "check"]).size().rename("count").reset_index()


def write_validated(files: dict[str, CheckedFile], kept_dir: Path | None, quarantine_dir: Path, log) -> None:  # noqa: ANN001
    """Kept rows of each file (published columns) and, for files with bad rows, the quarantine."""
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    for kind, checked in files.items():
        if kind == "detections" or kept_dir is None:
            continue  # detections are only checked; scoring reads them itself
        kept, quarantined = split_rows(checked)
        kept_dir.mkdir(parents=True, exist_ok=True)
        kept = kept if not kept.empty else pd.DataFrame(columns=list(SPECS[kind].columns))
        kept.to_csv(kept_dir / checked.name, index=False)
        if not quarantined.empty:
            quarantined.to_csv(quarantine_dir / checked.name, index=False)
        log.info(
            "%s: %d rows in, %d kept, %d quarantined",
            checked.name,
            len(checked.raw) + sum(i["check"] == "field_count" for i in checked.issues),
            len(kept),
            len(quarantined),
        )


def gate_message(report: pd.DataFrame, report_path: str, on_error: str) -> str | None:
    """Why the workflow must stop after validation, or None. File-level errors always stop it."""
    errors = report[report["severity"] == "error"]
    file_level = errors[errors["line"].astype(str).isin(["", "1"]) | errors["check"].isin(FILE_LEVEL_CHECKS)]
    if errors.empty or (on_error == "quarantine" and file_level.empty):
        return None
    shown = file_level if on_error == "quarantine" else errors
    first = "\n".join(f"  {format_issue(r)}" for r in shown.head(10).itertuples())
    why = "file-level errors cannot be quarantined" if on_error == "quarantine" else "validation.on_error is 'fail'"
    return f"validation found {len(errors)} errors ({why}); full report: {report_path}\n{first}"
