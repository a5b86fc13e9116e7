from pathlib import Path

from sospine.fetch import FetchError, FigshareClient, fetch_record, write_manifest
from sospine.workflow_io import console, expected_errors, setup_logging

log = setup_logging(snakemake)
params = snakemake.params
network = snakemake.config["data"]["figshare"]  # not params: a changed timeout must not rerun the download
client = FigshareClient(
    network["api_url"], retries=network["retries"], timeout_s=network["timeout_s"], log=log.info, progress=console(log)
)
files = Path(snakemake.output.files)
with expected_errors(log, FetchError):
    entries = fetch_record(
        params.record,
        params.doi,
        files.parent if params.wanted else files,
        client,
        cache_dir=params.cache_dir,
        wanted=params.wanted,
    )
write_manifest(entries, Path(snakemake.output.manifest))
