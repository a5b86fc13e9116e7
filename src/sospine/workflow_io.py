"""Helpers for the thin scripts under workflow/scripts/."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def setup_logging(snakemake) -> logging.Logger:  # noqa: ANN001 - Snakemake's script object
    """Send the script's log lines, warnings and tracebacks to the rule's log file."""
    log_path = Path(snakemake.log[0])
    log_path.parent.mkdir(parents=True, exist_ok=True)
    stream = open(log_path, "w", buffering=1, encoding="utf-8")
    sys.stderr = sys.stdout = stream  # ultralytics and tqdm progress land in the log too
    logging.basicConfig(stream=stream, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
    logging.captureWarnings(True)
    return logging.getLogger(f"sospine.{snakemake.rule}")
