"""Validation of the published SOSpine files, reported line by line.

Each file is read as text first (so that file-level faults — empty, binary, not UTF-8, wrong
header, short or long rows — become one report row each instead of a traceback), then typed and
validated by pandera, lazily, against its schemas: one for errors, one for the published files'
known quirks, which are warnings, and one for information. Every report row names the file, the
1-based line in the file (header = line 1), the column, the check, the offending value and the
severity.

The modules: `schemas` (what is valid: the pandera schemas, the one declaration of the rules),
`reading` (reading, typing, pandera's validation turned into report rows, the checks across files),
`report` (the report's format, summary and gate), `quarantine` (kept and quarantined rows),
`detections` (every detections file, once, into the validated table scoring reads). pandera is
imported here and nowhere else in sospine; `detections` is the one path every detections file takes.
"""

from sospine.validation.detections import DetectionsCheck, check_detections, read_validated
from sospine.validation.quarantine import split_rows, write_kept_and_quarantined
from sospine.validation.reading import CheckedFile, check_file, cross_check, validate
from sospine.validation.report import (
    FILE_LEVEL_CHECKS,
    REPORT_COLUMNS,
    SEVERITIES,
    format_issue,
    gate_message,
    summarize,
)
from sospine.validation.schemas import KINDS, MAX_PIXEL, SPECS, FileSpec

#: the name workflow/scripts/validate.py imports (kept byte-stable: a changed script reruns its job and,
#: upstream of training, retrains)
write_validated = write_kept_and_quarantined

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
    "write_kept_and_quarantined",
    "write_validated",
]
