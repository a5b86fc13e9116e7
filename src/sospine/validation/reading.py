"""Reading a file as text first (so file-level faults become one report row each instead of a
traceback), typing it, checking it lazily against its models and across files."""

from __future__ import annotations

import csv
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera import config as pa_config

from sospine import constants
from sospine.constants import COORDS
from sospine.validation.report import REPORT_COLUMNS
from sospine.validation.schemas import KINDS, SPECS, FileSpec

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
    issues: list[dict] = field(default_factory=list)  # one by one, as found
    #: issues found column-wise (a million detections reaching past the frame), REPORT_COLUMNS each,
    #: with how many of `issues` were found before them
    issue_tables: list[tuple[int, pd.DataFrame]] = field(default_factory=list)
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

    def add_issues(self, table: pd.DataFrame) -> None:
        self.issue_tables.append((len(self.issues), table[REPORT_COLUMNS]))

    def report(self) -> pd.DataFrame:
        """Every issue of the file (REPORT_COLUMNS), in the order found."""
        tables, done = [], 0
        for before, table in self.issue_tables:
            tables += [pd.DataFrame(self.issues[done:before], columns=REPORT_COLUMNS), table]
            done = before
        tables.append(pd.DataFrame(self.issues[done:], columns=REPORT_COLUMNS))
        tables = [t for t in tables if len(t)]
        return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=REPORT_COLUMNS)

    def error_lines(self) -> set[int]:
        found = {
            int(i["line"])
            for i in self.issues
            if i["severity"] == "error" and i["line"] not in (None, "") and int(i["line"]) > 1
        }
        for _, table in self.issue_tables:
            lines = table.loc[table["severity"] == "error", "line"].astype(int)
            found.update(lines[lines > 1].tolist())
        return found


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
    # a file without CR has only LF line breaks: str.split is several times faster than the regex
    lines = text.split("\n") if "\r" not in text else _LINE_BREAK.split(text)
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
    body = lines[1:]
    commas = np.fromiter((line.count(",") for line in body), dtype=np.int64, count=len(body))
    # a blank line has no comma: only those few are looked at one by one
    blank = np.zeros(len(body), dtype=bool)
    for i in np.flatnonzero(commas == 0):
        blank[i] = not body[i].strip()
    wrong = ~blank & (commas != len(header) - 1)
    for i in np.flatnonzero(wrong):
        number, line = int(i) + 2, body[i]
        checked.unparsed[number] = line
        checked.issue(number, "", "field_count", f"expected {len(header)} fields, got {commas[i] + 1}: {line}")
    keep = np.flatnonzero(~blank & ~wrong)
    numbers = keep + 2
    kept = body if len(keep) == len(body) else [body[i] for i in keep]
    if not kept:
        raw = pd.DataFrame(columns=header, dtype=object)
    else:  # every kept line has len(header) fields and no quote: its fields are what lies between commas
        fields = np.array(",".join(kept).split(","), dtype=object).reshape(len(kept), len(header))
        raw = pd.DataFrame(fields, columns=header, dtype=object, copy=False)
    raw.insert(0, "line", pd.Series(numbers, dtype="int64"))
    return raw


def _numbers(values: list, text: pd.Series) -> pd.Series:
    """Numbers of stripped fields (None: missing); what is no number becomes NaN."""
    try:  # numpy parses a clean column in one pass
        return pd.Series(np.array([np.nan if v is None else v for v in values], dtype=float), index=text.index)
    except ValueError:
        return pd.to_numeric(text, errors="coerce")


def _stripped(column: pd.Series) -> list:
    """The column's text stripped of surrounding spaces, None for an empty field; each distinct
    value stripped once (a million detections have a few thousand frame names and five labels)."""
    codes, distinct = pd.factorize(column.to_numpy(dtype=object), use_na_sentinel=False)
    cleaned = np.array([None if v is None else (v.strip() or None) for v in distinct.tolist()], dtype=object)
    return cleaned[codes].tolist() if len(codes) else []


def _typed(checked: CheckedFile, spec: FileSpec) -> pd.DataFrame:
    raw = checked.raw
    typed = {}
    for column in spec.columns:
        if column in spec.numeric:
            # a clean numeric column (numbers and empty fields only): numpy parses it, surrounding
            # spaces and all; "nan", "inf" and anything else go the long way, where they are named
            fields = raw[column].to_numpy(dtype=object)
            empty = fields == ""
            try:
                numbers = np.where(empty, "nan", fields).astype(float) if empty.any() else fields.astype(float)
            except (ValueError, TypeError):
                numbers = None
            if numbers is not None and np.isfinite(numbers[~empty]).all():
                typed[column] = numbers
                continue
        values = _stripped(raw[column])
        if column not in spec.numeric:
            typed[column] = pd.Series(values, index=raw.index, dtype=object)
            continue
        text = pd.Series(values, index=raw.index, dtype=object)
        numbers = _numbers(values, text)
        bad = text.notna() & numbers.isna()
        for idx in np.flatnonzero(bad.to_numpy()):
            checked.issue(int(raw["line"].iat[idx]), column, "number", text.iat[idx])
        typed[column] = numbers.astype(float)
    return pd.DataFrame(typed, index=raw.index, columns=list(spec.columns))


def pandera_frame(typed: pd.DataFrame, spec: FileSpec) -> pd.DataFrame:
    """The typed frame as pandera validates it: its text columns as categoricals of the same strings,
    so that pandera's text checks (and its check that they are strings) judge each distinct value
    once: a million detections name a few thousand frames and five labels."""
    columns = {c: typed[c] if c in spec.numeric else typed[c].astype("category") for c in spec.columns}
    return pd.DataFrame(columns, index=typed.index, copy=False)


@contextmanager
def _pandera_as_declared() -> Iterator[None]:
    """pandera as the schemas are written for, whatever the process's PANDERA_* variables say:
    validation on, of the schema and the data, by pandera's pandas backend (`set_config` is how
    pandera switches backends; its narwhals one reports failures differently)."""
    narwhals = pa_config.get_config_global().use_narwhals_backend
    if narwhals:
        _use_narwhals(False)
    try:
        with (
            pa_config.config_context(validation_enabled=True, validation_depth="SCHEMA_AND_DATA"),
            warnings.catch_warnings(),
        ):
            # pandera's check that a categorical column with missing values holds strings maps its
            # categories, and pandas 2 announces a change of Index.insert that the check does not
            # depend on (the result is cast to bool): said once per file, it would be noise
            warnings.filterwarnings("ignore", "The behavior of Index.insert with object-dtype", FutureWarning)
            yield
    finally:
        if narwhals:
            _use_narwhals(True)


def _use_narwhals(on: bool) -> None:
    with warnings.catch_warnings():  # pandera says it re-registered its backends: that is the point
        warnings.filterwarnings("ignore", "Re-registered pandera backends", UserWarning)
        pa_config.set_config(use_narwhals_backend=on)


def failure_cases(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> pd.DataFrame:
    """pandera's lazy validation of `frame` by `schema`: its failure cases (schema_context, column,
    check, check_number, failure_case, index), none when the frame is valid."""
    try:
        with _pandera_as_declared():
            schema.validate(frame, lazy=True, inplace=True)  # nothing to coerce: nothing is copied
    except pa.errors.SchemaErrors as errors:
        return errors.failure_cases
    return pd.DataFrame(columns=["schema_context", "column", "check", "check_number", "failure_case", "index"])


def check_names(schema: pa.DataFrameSchema) -> dict[str, str]:
    """How pandera's failure cases name each check of `schema` -> the report's name for it: a
    built-in without its arguments (`isin([...])` -> `isin`), uniqueness as `unique`."""
    checks = [*schema.checks, *(check for column in schema.columns.values() for check in column.checks)]
    return {check.error or check.name: check.name for check in checks} | {"field_uniqueness": "unique"}


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
#: a column's missing values and duplicates come before its declared checks, as pandera runs them
_CORE_ORDER = {"not_nullable": -2, "unique": -1}


def _failures(schema: pa.DataFrameSchema, cases: pd.DataFrame, data: pd.DataFrame) -> pd.DataFrame:
    """pandera's failure cases of rows as (position, column, check), in the order they are reported:
    each column's checks, column by column as declared, then the frame-wide checks, each at the
    columns it names (pandera gives every value of a failing row: the row failed, once)."""
    cases = cases.assign(position=cases["index"].astype(np.int64), number=pd.to_numeric(cases["check_number"]))
    frame_wide = (cases["schema_context"] == "DataFrameSchema").to_numpy()
    own = cases[~frame_wide]
    own = own.assign(
        column_order=own["column"].map({name: i for i, name in enumerate(schema.columns)}),
        check_order=own["check"].map(_CORE_ORDER).fillna(own["number"]),
    ).sort_values(["column_order", "check_order", "position"], kind="stable")
    parts = [own[["position", "column", "check"]]]
    wide = cases[frame_wide].drop_duplicates(["check", "position"]).sort_values(["number", "position"], kind="stable")
    for check, group in wide.groupby("check", sort=False):
        if check == "empty_frame_row_all_empty":  # name the empty columns of a half-filled row
            for column in (*COORDS, "label"):
                empty = data[column].isna().to_numpy()[group["position"].to_numpy()]
                parts.append(group.loc[empty, ["position", "check"]].assign(column=column))
            continue
        for column in _WIDE_COLUMNS.get(check, [None]):
            parts.append(group[["position", "check"]].assign(column=column))
    found = pd.concat([p for p in parts if len(p)], ignore_index=True)
    return found.drop_duplicates(["position", "column", "check"]).sort_values(["position"], kind="stable")


def _report_failures(checked: CheckedFile, schema: pa.DataFrameSchema, frame: pd.DataFrame, severity: str) -> None:
    """Every failure of `schema` in pandera's validation of `frame` as an issue at its line and column
    (vectorised: a million detections reaching past the frame are a million warnings, reported in
    seconds)."""
    cases = failure_cases(schema, frame)
    if cases.empty:
        return
    names = check_names(schema)
    cases = cases.assign(check=[names.get(check, check) for check in cases["check"].astype(str)])
    of_rows = cases["index"].notna().to_numpy()
    for case in cases[~of_rows].itertuples():  # the frame's own shape: none in a frame typed here
        checked.issue("", case.column if isinstance(case.column, str) else "", case.check, case.failure_case, severity)
    if not of_rows.any():
        return
    found = _failures(schema, cases[of_rows], frame)
    positions = found["position"].to_numpy()
    values = np.empty(len(found), dtype=object)  # every failure is shown as the file has it
    for column in found["column"].dropna().unique():
        rows = (found["column"] == column).to_numpy()
        values[rows] = checked.raw[column].to_numpy(dtype=object)[positions[rows]]
    texts = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values]
    columns = found["column"].to_numpy(dtype=object)
    checked.add_issues(
        pd.DataFrame(
            {
                "file": checked.name,
                "line": checked.raw["line"].to_numpy()[positions].astype(np.int64),
                "column": [column if isinstance(column, str) else "" for column in columns],
                "check": found["check"].to_numpy(dtype=object),
                "value": [text if len(text) <= MAX_VALUE_CHARS else shown(text) for text in texts],
                "severity": severity,
            },
            columns=REPORT_COLUMNS,
        )
    )


def check_file(kind: str, path: str | Path, *, errors_only: bool = False) -> CheckedFile:
    """Validate one file; its `issues` list holds every problem found, errors and warnings
    (`errors_only`: errors alone, for a caller that only asks whether the file can be used)."""
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
    # pandera validates every file that has a header, rows or none (its columns and their types)
    frame = pandera_frame(checked.typed, spec)
    for severity, schema in spec.schemas.items():
        if severity == "error" or not errors_only:
            _report_failures(checked, schema, frame, severity)
    return checked


_TRIAL_OF = re.compile(rf"^({constants.TRIAL_PATTERN})_frame_")


def _trial_of(frames: pd.Series) -> pd.Series:
    """The trial each frame name starts with (NA where none); each distinct name is read once."""
    codes, distinct = pd.factorize(frames.to_numpy(dtype=object))
    found = [m[1] if isinstance(v, str) and (m := _TRIAL_OF.match(v)) else None for v in distinct.tolist()]
    trials = np.array([*found, None], dtype=object)[codes]  # code -1 (a missing name): the None at the end
    return pd.Series(trials, index=frames.index, dtype="string", name=frames.name)


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


def validate(paths: dict[str, str | Path], *, errors_only: bool = False) -> tuple[pd.DataFrame, dict[str, CheckedFile]]:
    """Validate every given file (kind -> path) and cross-check them; return the report and files.
    Several detections files are given as `detections:<name>` (one per detector). `errors_only`:
    leave out the warnings and information of each file's own checks (see `check_file`)."""
    files = {key: check_file(key.split(":")[0], path, errors_only=errors_only) for key, path in paths.items() if path}
    cross_check(files)
    tables = [checked.report() for checked in files.values()]
    tables = [t for t in tables if len(t)]
    report = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=REPORT_COLUMNS)
    if not report.empty:
        report["_line"] = pd.to_numeric(report["line"], errors="coerce").fillna(0)
        report = report.sort_values(["file", "_line", "column"], kind="stable").drop(columns="_line")
    return report.reset_index(drop=True), files
