import json
from pathlib import Path

from sospine.provenance.artifacts import StaleResultsError, build
from sospine.workflow_io import expected_errors, params_record, setup_logging


def job_params(logs: list[str]) -> dict | None:
    """The named params a job recorded beside its log (every script job does), or None."""
    for log_path in logs:
        path = params_record(log_path)
        if path.is_file():
            return json.loads(path.read_text())
    return None


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
    named = job_params(entry.get("log") or [])
    if named is not None:
        entry["named_params"] = named
    elif entry.get("rule") in snakemake.params.rule_params:
        entry["named_params"] = snakemake.params.rule_params[entry["rule"]]
Path(snakemake.output[0]).write_text(json.dumps(record, indent=2, default=str) + "\n")
log.info("provenance of %d artifacts", len(record["artifacts"]))
