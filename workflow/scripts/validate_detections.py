import re

import pandas as pd

from sospine.dataset.split import tested_trials
from sospine.tables import read_annotations
from sospine.validation.detections import check_detections, write_checked_detections
from sospine.workflow_io import console, setup_logging, stop

log = setup_logging(snakemake)
name = snakemake.wildcards.detector
tested = tested_trials(pd.read_csv(snakemake.input.split, dtype=str))
check = check_detections(
    snakemake.input.detections,
    read_annotations(snakemake.input.truth),
    tested,
    # a detector run here may find nothing, and so may a held-out model in one fold's file (<name>-S<n>:
    # no other detector's name ends so); a file given whole may not
    allow_empty=snakemake.params.kind != "file" or re.search(r"-S\d+$", name) is not None,
)
if check.table is None:
    log.error("validation report:\n%s", check.report.to_string(index=False))
    stop(log, check.error_line(name))
write_checked_detections(check, snakemake.output.table, snakemake.output.report)
for note in check.notes:
    console(log)(f"note: detections of {name!r}: {note}")
log.info("%s: %d detections valid (%d warnings)", name, len(check.table), (check.report["severity"] == "warning").sum())
