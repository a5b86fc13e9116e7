"""The validation report: its columns, severities, one-line format, summary and the gate's message."""

from __future__ import annotations

import pandas as pd

REPORT_COLUMNS = ["file", "line", "column", "check", "value", "severity"]
# A CSV that cannot be read to its end cannot be split into kept and quarantined rows: stop instead.
FILE_LEVEL_CHECKS = {"csv_syntax", "csv_header", "readable", "not_empty", "text_file", "utf8", "has_rows"}
# `info`: the published format's normal way of saying something (a frame with no tool), not a problem
SEVERITIES = ("error", "warning", "info")


def format_issue(issue) -> str:  # a report row: a namedtuple from itertuples() or a dict
    """`file:line [column] check: value`, leaving out what a file-level issue does not have."""
    get = issue.get if isinstance(issue, dict) else lambda key: getattr(issue, key)
    where = f"{get('file')}:{get('line')}" if get("line") not in (None, "") else f"{get('file')}"
    column = f" [{get('column')}]" if get("column") not in (None, "") else ""
    return f"{where}{column} {get('check')}: {get('value')}"


def summarize(report: pd.DataFrame) -> pd.DataFrame:
    """Counts per file, severity and check: the quirks of the published files at a glance."""
    if report.empty:
        return pd.DataFrame(columns=["file", "severity", "check", "count"])
    return report.groupby(["file", "severity", "check"]).size().rename("count").reset_index()


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
