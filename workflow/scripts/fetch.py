from pathlib import Path

from sospine.fetch import FigshareClient, fetch_records
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
p = snakemake.params
client = FigshareClient(p.api_url, retries=p.retries, timeout_s=p.timeout_s, log=log.info)
fetch_records(p.records, Path(snakemake.output.manifest).parent, client)
