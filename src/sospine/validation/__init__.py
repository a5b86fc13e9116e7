"""Validation of the published SOSpine files, reported line by line.

Each file is read as text first (so that file-level faults — empty, binary, not UTF-8, wrong
header, short or long rows — become one report row each instead of a traceback), then typed and
checked lazily against its rules: one set for errors and one for the published files' known
quirks, which are warnings. Every report row names the file, the 1-based line in the file
(header = line 1), the column, the check, the offending value and the severity.

The modules: `rules` (what is valid, in pandera's terms), `models` (the rules as pandera schemas,
held by the tests to the same failures), `reading` (reading, typing, checking), `report` (the
report's format, summary and gate), `quarantine` (kept and quarantined rows), `detections` (every
detections file, once, into the validated table scoring reads). Everything but `models` is
importable from `sospine.validation` directly, without importing pandera; `detections` is the one
path every detections file takes.
"""

from .detections import DetectionsCheck, check_detections, read_validated
from .quarantine import split_rows, write_validated
from .reading import CheckedFile, check_file, cross_check, validate
from .report import FILE_LEVEL_CHECKS, REPORT_COLUMNS, SEVERITIES, format_issue, gate_message, summarize
from .rules import KINDS, MAX_PIXEL, SPECS, FileSpec

__all__ = [
    "DetectionsCheck",
    "check_detections",
    "read_validated",
    "FILE_LEVEL_CHECKS",
    "KINDS",
    "MAX_PIXEL",
    "REPORT_COLUMNS",
    "SEVERITIES",
    "SPECS",
    "CheckedFile",
    "FileSpec",
    "check_file",
    "cross_check",
    "format_issue",
    "gate_message",
    "split_rows",
    "summarize",
    "validate",
    "write_validated",
]
