"""Rows kept and rows quarantined: rows in = rows kept + rows quarantined, always."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sospine.validation.reading import CheckedFile
from sospine.validation.schemas import SPECS


def split_rows(checked: CheckedFile) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, quarantined) raw rows: rows with an error go to quarantine, the rest are kept.

    Rows that could not be parsed into the file's columns (wrong field count, a quote left open) are
    quarantined too, with their text in `raw`, so rows in = rows kept + rows quarantined.
    """
    raw = checked.raw
    columns = [column for column in raw.columns if column != "line"]
    if raw.empty:  # no row parsed into the file's columns (perhaps every row is too short)
        kept, quarantined = pd.DataFrame(columns=columns), pd.DataFrame(columns=["line", *columns, "raw"])
    else:
        is_bad = raw["line"].isin(checked.error_lines())
        # what passes on is what was checked: the values as validation read them, stripped of spaces
        kept = raw[~is_bad].drop(columns="line").apply(lambda column: column.str.strip())
        quarantined = raw[is_bad].assign(raw="")
    if checked.unparsed:
        extra = pd.DataFrame({"line": list(checked.unparsed), "raw": list(checked.unparsed.values())})
        parts = [part for part in (quarantined, extra) if not part.empty]
        quarantined = pd.concat(parts, ignore_index=True).reindex(columns=quarantined.columns).sort_values("line")
    return kept.reset_index(drop=True), quarantined.reset_index(drop=True)


def write_kept_and_quarantined(files: dict[str, CheckedFile], kept_dir: Path | None, quarantine_dir: Path, log) -> None:  # noqa: ANN001
    """Kept rows of each file (published columns) and, for files with bad rows, the quarantine."""
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    for kind, checked in files.items():
        if checked.kind == "detections" or kept_dir is None:
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
            checked.rows_in,
            len(kept),
            len(quarantined),
        )
