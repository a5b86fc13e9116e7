import json
from pathlib import Path

from sospine.provenance import StaleResultsError, build
from sospine.workflow_io import expected_errors, setup_logging

log = setup_logging(snakemake)
with expected_errors(log, StaleResultsError):
    record = build(
        list(snakemake.params.targets),
        Path.cwd(),
        Path(snakemake.params.repo),
        Path(snakemake.input.manifest),
        dict(snakemake.params.config),
        made_under=snakemake.params.output_dir,
        producers=dict(snakemake.params.producers),
        stamps_dir=snakemake.params.stamps_dir,
    )
for entry in record["artifacts"].values():
    if entry.get("rule") in snakemake.params.rule_params:
        entry["named_params"] = snakemake.params.rule_params[entry["rule"]]
Path(snakemake.output[0]).write_text(json.dumps(record, indent=2, default=str) + "\n")
log.info("provenance of %d artifacts", len(record["artifacts"]))
