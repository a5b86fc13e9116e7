from pathlib import Path

from sospine.fetch import FetchError, FigshareClient, fetch_records
from sospine.workflow_io import expected_errors, setup_logging

log = setup_logging(snakemake)
p = snakemake.params
client = FigshareClient(p.api_url, retries=p.retries, timeout_s=p.timeout_s, log=log.info)
with expected_errors(log, FetchError):
    fetch_records(p.records, Path(snakemake.output.manifest).parent, client)
