from pathlib import Path

from sospine.validation import summarize, validate, write_validated
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
paths = {kind: path for kind, path in snakemake.input.items() if kind != "stamp"}
report, files = validate(paths)
report.to_csv(snakemake.output.report, index=False)
summarize(report).to_csv(snakemake.output.summary, index=False)
write_validated(
    files,
    Path(snakemake.output.kept[0]).parent if snakemake.output.kept else None,
    Path(snakemake.output.quarantine),
    log,
)
