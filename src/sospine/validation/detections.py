"""The one validation path of every detections file: a bring-your-own CSV, the paper's baseline, a
trained detector's predictions or any later kind of detector's output.

Each is checked once, with the same checks and the same stripping of spaces as the input files,
against the ground truth the workflow scores on; what passes is written as the validated table that
scoring, the leaderboard and the analytics read. A file with an error yields no table at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sospine import constants
from sospine.tables import read_detections, split_frame_names
from sospine.validation.quarantine import split_rows
from sospine.validation.reading import _check_detection_trials, check_file
from sospine.validation.report import format_issue
from sospine.validation.schemas import SPECS

#: errors shown on the console line; the log and the report hold them all
SHOWN_ERRORS = 5


@dataclass
class DetectionsCheck:
    """A detections file after validation."""

    path: Path
    report: pd.DataFrame  # every issue found, REPORT_COLUMNS
    table: pd.DataFrame | None  # the validated rows (published columns), None when there are errors
    notes: list[str] = field(default_factory=list)  # one line each: what is valid but will not be scored

    @property
    def errors(self) -> pd.DataFrame:
        return self.report[self.report["severity"] == "error"]

    def error_line(self, name: str | None = None) -> str:
        """One line naming the file and its first errors by line and column."""
        errors = self.errors
        first = "; ".join(format_issue(row) for row in errors.head(SHOWN_ERRORS).itertuples())
        more = f" (and {len(errors) - SHOWN_ERRORS} more)" if len(errors) > SHOWN_ERRORS else ""
        who = f"detections of {name!r} ({self.path})" if name else str(self.path)
        return f"{who}: {len(errors)} validation errors: {first}{more}"


def check_detections(
    path: str | Path,
    truth: pd.DataFrame | None = None,
    test_trials: Iterable[str] | None = None,
    *,
    allow_empty: bool = False,
) -> DetectionsCheck:
    """Validate a detections file against `truth` (published bbox rows: the boxes scored on) and the
    run's test trials.

    A file with no detections at all is an error (a detections file that says nothing is a wrong
    file), except with `allow_empty`: a trained detector may find nothing above its threshold.

    Detections of a trial the ground truth does not have are errors at their line. Detections on
    frames the ground truth lacks, and in trials outside `test_trials`, are valid but not what is
    scored against: each kind is summed up in one note with counts.
    """
    checked = check_file("detections", path)
    if allow_empty and checked.typed is not None and checked.typed.empty and not checked.unparsed:
        checked.issues = [i for i in checked.issues if i["check"] != "has_rows"]
        empty = pd.DataFrame(columns=list(SPECS["detections"].columns))
        report = checked.report()
        return DetectionsCheck(Path(path), report, empty, ["no detections above the score threshold: every AP is 0"])
    known = None
    if truth is not None:
        known = set(split_frame_names(truth["trial_frame"].astype(str))["trial"].dropna())
        _check_detection_trials(known, checked)
    report = checked.report()
    if not report.empty:
        report["_line"] = pd.to_numeric(report["line"], errors="coerce").fillna(0)
        report = report.sort_values(["_line", "column"], kind="stable").drop(columns="_line").reset_index(drop=True)
    result = DetectionsCheck(Path(path), report, None)
    if not result.errors.empty or checked.typed is None:
        return result
    kept, _ = split_rows(checked)
    table = kept[list(SPECS["detections"].columns)]
    result.table = table
    result.notes = _notes(table, truth, test_trials)
    return result


def _notes(table: pd.DataFrame, truth: pd.DataFrame | None, test_trials: Iterable[str] | None) -> list[str]:
    parts = split_frame_names(table["trial_frame"])
    notes = []
    if truth is not None:
        frames = set(split_frame_names(truth["trial_frame"].astype(str))["stem"])
        outside = ~parts["stem"].isin(frames)
        if outside.any():
            example = table.loc[outside, "trial_frame"].iat[0]
            notes.append(
                f"{int(outside.sum())} detections on {parts.loc[outside, 'stem'].nunique()} frames the ground truth "
                f"does not have (e.g. {example}): scored as false positives"
            )
    if test_trials is not None:
        tested = set(test_trials)
        elsewhere = ~parts["trial"].isin(tested)
        if elsewhere.any():
            counts = parts.loc[elsewhere, "trial"].value_counts().sort_index()
            listed = ", ".join(f"{trial} {count}" for trial, count in counts.items())
            notes.append(
                f"{int(elsewhere.sum())} detections in {len(counts)} trials outside the test split ({listed}): "
                "not scored"
            )
    return notes


def write_checked_detections(check: DetectionsCheck, table_path: str | Path, report_path: str | Path) -> None:
    """The validated table (published format, LF line ends) and the file's report."""
    if check.table is None:
        raise ValueError(f"{check.path} did not pass validation")
    # the fields as the file gave them; every reader takes their numbers the same way (read_detections)
    check.table.to_csv(table_path, index=False, lineterminator="\n")
    check.report.to_csv(report_path, index=False)


def read_validated(path: str | Path) -> pd.DataFrame:
    """A validated detections table, typed for scoring."""
    # numbers as every reader of detections takes them (without float noise: a float32 detector's
    # 0.6776965856552124 as 0.6776966, the paper's 0.07719999999999999 as 0.0772), so a threshold
    # chosen on them selects the same detections wherever it is applied
    table = read_detections(path)
    for column in ("x1", "y1", "x2", "y2", "score"):
        table[column] = table[column].astype(float)
    table["frame"] = table["frame"].astype(float).astype("int64")
    return table[list(constants.DETECTION_COLUMNS)]
