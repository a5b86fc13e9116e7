"""Reading a file as text first (so file-level faults become one report row each instead of a
traceback), typing it, checking it lazily against its models and across files."""

from __future__ import annotations

import csv
import io
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
    if '"' not in text:  # no quoting anywhere: rows are lines split at commas, by pandas' C parser
        raw = _unquoted_rows(checked, lines, header)
        return raw[["line", *columns]] if raw is not None else None
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


def _unquoted_rows(checked: CheckedFile, lines: list[str], header: list[str]) -> pd.DataFrame:
    """The rows of a file without quotes: what `_parse_line` gives line by line, a million rows in a
    second (each line's fields counted first, so a short or long row is still its own issue)."""
    numbers, kept = [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue  # blank line
        if line.count(",") != len(header) - 1:
            checked.unparsed[number] = line
            fields = line.count(",") + 1
            checked.issue(number, "", "field_count", f"expected {len(header)} fields, got {fields}: {line}")
            continue
        numbers.append(number)
        kept.append(line)
    if not kept:
        raw = pd.DataFrame(columns=header, dtype=object)
    else:
        raw = pd.read_csv(
            io.StringIO("\n".join(kept)),
            header=None,
            names=header,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            quoting=csv.QUOTE_NONE,
            skip_blank_lines=False,
            engine="c",
        ).astype(object)
    raw.insert(0, "line", pd.Series(numbers, dtype="int64"))
    return raw


def _numbers(values: list, text: pd.Series) -> pd.Series:
    """Numbers of stripped fields (None: missing); what is no number becomes NaN."""
    try:  # numpy parses a clean column in one pass
        return pd.Series(np.array([np.nan if v is None else v for v in values], dtype=float), index=text.index)
    except ValueError:
        return pd.to_numeric(text, errors="coerce")


def _typed(checked: CheckedFile, spec: FileSpec) -> pd.DataFrame:
    raw = checked.raw
    typed = pd.DataFrame(index=raw.index)
    for column in spec.columns:
        if column in spec.numeric:
            try:  # a clean numeric column (no empty field): numpy parses it, surrounding spaces and all
                numbers = np.array(raw[column].tolist(), dtype=float)
            except (ValueError, TypeError):
                numbers = None
            if numbers is not None and np.isfinite(numbers).all():  # "nan", "inf" go the long way: named
                typed[column] = numbers
                continue
        # stripped text, None for an empty field (plain lists: several times faster than .str here)
        values = [None if v is None else (v.strip() or None) for v in raw[column].tolist()]
        if column not in spec.numeric:
            typed[column] = pd.Series(values, index=raw.index, dtype=object)
            continue
        text = pd.Series(values, index=raw.index, dtype=object)
        numbers = _numbers(values, text)
        bad = text.notna() & numbers.isna()
        for idx in np.flatnonzero(bad.to_numpy()):
            checked.issue(int(raw["line"].iat[idx]), column, "number", text.iat[idx])
        typed[column] = numbers.astype(float)
    return typed


_SCHEMAS: dict[type, pa.DataFrameSchema] = {}


def failure_cases(model: type[pa.DataFrameModel], data: pd.DataFrame) -> pd.DataFrame:
    """What `model.validate(data, lazy=True)` reports as failure cases (schema_context, column, check,
    failure_case, index), found by running the model's checks directly.

    The frames reaching here are already typed and have exactly the model's columns (see `_typed`),
    so the model's checks are all there is to run: its nullability and uniqueness, each column's
    checks and the frame-wide ones. pandera's own orchestration of the same checks spends most of
    its time formatting failure cases (a second per published file with its 1,700 warnings).
    """
    schema = _SCHEMAS.get(model) or _SCHEMAS.setdefault(model, model.to_schema())
    found = []

    def failing(context: str, column: str | None, check: str, mask: pd.Series, values: pd.Series) -> None:
        bad = mask[~mask.astype(bool)].index
        if len(bad):
            found.append(
                pd.DataFrame(
                    {
                        "schema_context": context,
                        "column": column,
                        "check": check,
                        "failure_case": values.loc[bad].to_numpy(),
                        "index": bad,
                    }
                )
            )

    for name, column in schema.columns.items():
        series = data[name]
        if not column.nullable:
            failing("Column", name, "not_nullable", series.notna(), series)
        if column.unique:
            failing("Column", name, "field_uniqueness", ~(series.duplicated(keep=False) & series.notna()), series)
        values = series.dropna()
        for check in column.checks:
            output = check(values).check_output
            failing("Column", name, check.name, output.reindex(values.index, fill_value=True), values)
    for check in schema.checks:
        output = check(data).check_output
        if isinstance(output, pd.DataFrame):
            output = output.all(axis=1)
        failing("DataFrameSchema", None, check.name, output, data.iloc[:, 0])
    columns = ["schema_context", "column", "check", "failure_case", "index"]
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=columns)


#: the columns a frame-wide check's failure is reported at
_WIDE_COLUMNS = {
    "x1<=x2": ["x1", "x2"],
    "y1<=y2": ["y1", "y2"],
    "no_duplicate_rows": ["trial_frame"],
    "one_box_per_frame_and_label": ["trial_frame", "label"],
    "empty_frame": ["label"],
    "zero_width_box": ["x2"],
    "zero_height_box": ["y2"],
    "frame_matches_name": ["frame"],
}


def _report_failures(checked: CheckedFile, model: type[pa.DataFrameModel], severity: str) -> None:
    """Every failure of `model`'s checks as an issue at its line and column (vectorised: a million
    detections reaching past the frame are a million warnings, reported in seconds)."""
    data = checked.typed
    cases = failure_cases(model, data)
    if cases.empty:
        return
    names = {check: _check_name(str(check)) for check in cases["check"].unique()}
    cases = cases.assign(check=cases["check"].map(names), position=cases["index"].astype(int))
    frame_wide = cases["schema_context"] == "DataFrameSchema"
    parts = [cases.loc[~frame_wide, ["position", "column", "check", "failure_case"]]]
    wide = cases[frame_wide]
    for check, group in wide.groupby("check", sort=False):
        if check == "empty_frame_row_all_empty":  # name the empty columns of a half-filled row
            for column in (*COORDS, "label"):
                empty = data[column].isna().to_numpy()[group["position"].to_numpy()]
                parts.append(group.loc[empty, ["position", "check", "failure_case"]].assign(column=column))
            continue
        for column in _WIDE_COLUMNS.get(check, [None]):
            parts.append(group[["position", "check", "failure_case"]].assign(column=column))
    found = pd.concat([p for p in parts if len(p)], ignore_index=True)
    found = found.drop_duplicates(["position", "column", "check"]).sort_values(["position"], kind="stable")
    values = found["failure_case"].astype(object).to_numpy()
    for column in found["column"].dropna().unique():
        if column in checked.raw:
            rows = (found["column"] == column).to_numpy()
            values[rows] = checked.raw[column].to_numpy(dtype=object)[found["position"].to_numpy()[rows]]
    texts = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values]
    lines = checked.raw["line"].to_numpy()[found["position"].to_numpy()]
    checked.issues.extend(
        {
            "file": checked.name,
            "line": int(line),
            "column": column if isinstance(column, str) else "",
            "check": check,
            "value": text if len(text) <= MAX_VALUE_CHARS else shown(text),
            "severity": severity,
        }
        for line, column, check, text in zip(lines, found["column"], found["check"], texts, strict=True)
    )


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
