from pathlib import Path

from sospine.fetch import FetchError, from_mirror
from sospine.workflow_io import expected_errors, setup_logging

log = setup_logging(snakemake)
with expected_errors(log, FetchError):
    entries = from_mirror(
        snakemake.params.mirror_dir,
        Path(snakemake.output.manifest).parent,
        snakemake.params.names,
        copy_limit=int(snakemake.params.copy_below_mb * 2**20),
    )
for entry in entries:
    log.info("%s: %d bytes, md5 %s", entry.file, entry.size, entry.md5)
