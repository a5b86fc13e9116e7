"""Helpers for the thin scripts under workflow/scripts/."""

from __future__ import annotations

import logging
import os
import platform
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def setup_logging(snakemake) -> logging.Logger:  # Snakemake's script object
    """Send the script's log lines, warnings and tracebacks to the rule's log file."""
    log_path = Path(snakemake.log[0])
    log_path.parent.mkdir(parents=True, exist_ok=True)
    stream = open(log_path, "w", buffering=1, encoding="utf-8")  # noqa: SIM115 - open for the whole job
    sys.stderr = sys.stdout = stream  # ultralytics and tqdm progress land in the log too
    logging.basicConfig(stream=stream, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
    logging.captureWarnings(True)
    log = logging.getLogger(f"sospine.{snakemake.rule}")
    sys.excepthook = _one_line_excepthook(snakemake.rule, log_path, stream)
    record_params(snakemake, log_path)
    # where the job ran: on a cluster, the scheduler's job id ties this log to its accounting
    scheduler = {
        k: os.environ[k]
        for k in ("SLURM_JOB_ID", "SLURM_JOB_GPUS", "SLURM_GPUS_ON_NODE", "CUDA_VISIBLE_DEVICES", "AWS_BATCH_JOB_ID")
        if k in os.environ
    }
    log.info("rule %s on %s %s", snakemake.rule, platform.node(), " ".join(f"{k}={v}" for k, v in scheduler.items()))
    return log


def params_record(log_path: str | Path) -> Path:
    """Where a job's named params lie: beside its log (Snakemake's own record keeps them unnamed)."""
    return Path(f"{log_path}.params.json")


def record_params(snakemake, log_path: Path) -> None:  # noqa: ANN001 - Snakemake's script object
    """The job's params by name, as the job saw them, for the provenance record."""
    import json

    named = {key: value for key, value in snakemake.params.items()}
    params_record(log_path).write_text(json.dumps(named, indent=1, default=str, sort_keys=True) + "\n")


def console(log: logging.Logger) -> Callable[[str], None]:
    """A writer for progress lines: each goes to the rule's log and, as one line, to the console
    (Snakemake's terminal locally, the job's output file on a cluster)."""

    def write(line: str) -> None:
        log.info("%s", line)
        print(line, file=sys.__stderr__, flush=True)

    return write


def describe(error: BaseException) -> str:
    """An error in one line: an OSError names its path (`No space left on device: /x/last.pt`).

    >>> describe(OSError(28, "No space left on device", "/r/last.pt")), describe(ValueError("bad\\nmore"))
    ('No space left on device: /r/last.pt', 'ValueError: bad')
    """
    if isinstance(error, OSError) and error.strerror:
        paths = [p for p in (error.filename, error.filename2) if p]
        return f"{error.strerror}: {' -> '.join(map(str, paths))}" if paths else error.strerror
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def _one_line_excepthook(rule: str, log_path: Path, stream):  # noqa: ANN001, ANN202 - sys.excepthook's shape
    """An unexpected error: the traceback goes to the rule's log, one line naming it to the console
    (instead of Snakemake's `message: None`)."""

    def hook(kind, error, tb):  # noqa: ANN001
        traceback.print_exception(kind, error, tb, file=stream)
        stream.flush()
        print(f"error in rule {rule}: {describe(error)} (traceback in {log_path})", file=sys.__stderr__, flush=True)

    return hook


def stop(log: logging.Logger, message: str) -> None:
    """Stop the job with one line on the console and in the log, exit status 1."""
    log.error("%s", message)
    print(f"error: {message}", file=sys.__stderr__, flush=True)
    raise SystemExit(1)


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


# Params functions of the rules that only name a job's own folders (Snakemake calls them with the
# job's wildcards and its input or output files).


def get_work_dir_of_best(wildcards: Any, output: Any) -> str:
    """A training's work folder: where its best.pt is published."""
    return str(Path(output.best).parent)


def get_ultralytics_settings(wildcards: Any, input: Any) -> str:  # noqa: A002 - Snakemake's name
    """The ultralytics settings folder of the training that made these weights."""
    return str(Path(input.weights).parent / "ultralytics")


def get_output_folder(wildcards: Any, output: Any) -> str:
    return str(Path(output[0]).parent)


def get_output_dir_of_front_page(wildcards: Any, output: Any) -> str:
    """The output folder, as the front page names it (the folder above report/front_page.rst)."""
    return str(Path(output[0]).parents[1])


def get_run_label(wildcards: Any) -> str:
    """How a training names itself on the console: the detector, and its fold if it has one."""
    fold = dict(wildcards.items()).get("fold")
    return f"{wildcards.detector}-{fold}" if fold else wildcards.detector


#: what the workflow's rules import (`from sospine.workflow_io import *` in common.smk)
__all__ = [
    "get_output_dir_of_front_page",
    "get_output_folder",
    "get_run_label",
    "get_ultralytics_settings",
    "get_work_dir_of_best",
]
