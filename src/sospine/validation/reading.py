"""Reading a file as text first (so file-level faults become one report row each instead of a
traceback), typing it, checking it lazily against its models and across files."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from .. import constants
from ..constants import COORDS
from .models import KINDS, SPECS, FileSpec
from .report import REPORT_COLUMNS

csv.field_size_limit(2**31 - 1)  # an over-long field is a bad value of its row, not the end of the file
#: report values longer than this are cut (a 1 MB field is shown by its start and its length)
MAX_VALUE_CHARS = 200


def shown(value) -> str:
    """A report value as shown: its first MAX_VALUE_CHARS characters and, when cut, its length.

    >>> shown("x" * 500)[-22:]
    'x... (500 characters)'
    """
    text = "" if value is None else str(value)
    return text if len(text) <= MAX_VALUE_CHARS else f"{text[:MAX_VALUE_CHARS]}... ({len(text)} characters)"


@dataclass
class CheckedFile:
    """One file after validation: its rows as read (strings) with their line numbers, and issues."""

    kind: str
    path: Path
    raw: pd.DataFrame  # the file's columns as strings, plus `line`
    typed: pd.DataFrame | None
    issues: list[dict] = field(default_factory=list)
    unparsed: dict[int, str] = field(default_factory=dict)  # line -> text of rows that are no record

    @property
    def rows_in(self) -> int:
        """Data rows of the file (blank lines aside): kept + quarantined, always."""
        return len(self.raw) + len(self.unparsed)

    @property
    def name(self) -> str:
        return self.path.name

    def issue(self, line, column, check, value, severity="error") -> None:
        self.issues.append(
            {
                "file": self.name,
                "line": line,
                "column": column,
                "check": check,
                "value": shown(value),
                "severity": severity,
            }
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


_LINE_BREAK = re.compile(r"\r\n|\n|\r")


def _parse_line(line: str) -> list[str]:
    """One physical line as CSV fields. A record never spans lines in these formats, so a quote left
    open is this line's fault (csv.Error), never a reason to read the rest of the file as one field."""
    if '"' not in line:
        return line.split(",")
    return next(csv.reader([line], strict=True))


def _read_rows(checked: CheckedFile, columns: tuple[str, ...]) -> pd.DataFrame | None:
    text = _read_text(checked)
    if text is None:
        return None
    lines = _LINE_BREAK.split(text)
    try:
        header = _parse_line(lines[0])
    except csv.Error as error:
        checked.issue(1, "", "csv_header", f"{error}: {lines[0]}")
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
    records, numbers = [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue  # blank line
        try:
            row = _parse_line(line)
        except csv.Error as error:
            checked.unparsed[number] = line
            checked.issue(number, "", "csv_quote", f"{error}: {line}")
            continue
        if len(row) != len(header):
            checked.unparsed[number] = line
            checked.issue(number, "", "field_count", f"expected {len(header)} fields, got {len(row)}: {line}")
            continue
        records.append(row)
        numbers.append(number)
    raw = (
        pd.DataFrame(records, columns=header, dtype=object)[list(columns)]
        if records
        else pd.DataFrame(columns=list(columns))
    )
    raw.insert(0, "line", pd.Series(numbers, dtype="int64"))
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
    if raw.empty and not checked.unparsed:
        what = "no detections at all" if kind == "detections" else "no data rows"
        checked.issue("", "", "has_rows", f"header only, {what}")
        return checked
    if raw.empty:
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
    known = set(_trial_of(truth.typed["trial_frame"]).dropna()) if truth is not None else None
    for key, detections in files.items():
        if key.split(":")[0] == "detections" and known is not None:
            _check_detection_trials(known, detections)


def _check_detection_trials(known: set[str], detections: CheckedFile) -> None:
    """Detections of a trial the ground truth does not have (`known`) are reported at their line."""
    if detections.typed is not None and not detections.typed.empty:
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
    """Validate every given file (kind -> path) and cross-check them; return the report and files.
    Several detections files are given as `detections:<name>` (one per detector)."""
    files = {key: check_file(key.split(":")[0], path) for key, path in paths.items() if path}
    cross_check(files)
    rows = [issue for checked in files.values() for issue in checked.issues]
    report = pd.DataFrame(rows, columns=REPORT_COLUMNS)
    if not report.empty:
        report["_line"] = pd.to_numeric(report["line"], errors="coerce").fillna(0)
        report = report.sort_values(["file", "_line", "column"], kind="stable").drop(columns="_line")
    return report.reset_index(drop=True), files
