"""Helpers for the thin scripts under workflow/scripts/."""

from __future__ import annotations

import logging
import os
import platform
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def setup_logging(snakemake) -> logging.Logger:  # Snakemake's script object
    """Send the script's log lines, warnings and tracebacks to the rule's log file."""
    log_path = Path(snakemake.log[0])
    log_path.parent.mkdir(parents=True, exist_ok=True)
    stream = open(log_path, "w", buffering=1, encoding="utf-8")  # noqa: SIM115 - open for the whole job
    sys.stderr = sys.stdout = stream  # ultralytics and tqdm progress land in the log too
    logging.basicConfig(stream=stream, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
    logging.captureWarnings(True)
    log = logging.getLogger(f"sospine.{snakemake.rule}")
    # where the job ran: on a cluster, the scheduler's job id ties this log to its accounting
    scheduler = {
        k: os.environ[k]
        for k in ("SLURM_JOB_ID", "SLURM_JOB_GPUS", "SLURM_GPUS_ON_NODE", "CUDA_VISIBLE_DEVICES", "AWS_BATCH_JOB_ID")
        if k in os.environ
    }
    log.info("rule %s on %s %s", snakemake.rule, platform.node(), " ".join(f"{k}={v}" for k, v in scheduler.items()))
    return log


def console(log: logging.Logger) -> Callable[[str], None]:
    """A writer for progress lines: each goes to the rule's log and, as one line, to the console
    (Snakemake's terminal locally, the job's output file on a cluster)."""

    def write(line: str) -> None:
        log.info("%s", line)
        print(line, file=sys.__stderr__, flush=True)

    return write


@contextmanager
def expected_errors(log: logging.Logger, *kinds: type[BaseException]) -> Iterator[None]:
    """An anticipated error (bad data, unreachable host) becomes one clear line on the console and
    in the log, and exit status 1 — no traceback."""
    try:
        yield
    except kinds as error:
        log.error("%s", error)
        print(f"error: {error}", file=sys.__stderr__)
        raise SystemExit(1) from None
