from sospine.weights import WeightsError, fetch_weights
from sospine.workflow_io import expected_errors, setup_logging

log = setup_logging(snakemake)
# the base URL and network settings are read here, not declared as params: a mirror serving the same
# bytes must not refetch and retrain (delete the file to fetch it again)
figshare = snakemake.config["data"]["figshare"]
with expected_errors(log, WeightsError):
    record = fetch_weights(
        snakemake.wildcards.weights,
        snakemake.config["train"]["weights_url"],
        snakemake.output.weights,
        sha256=snakemake.params.sha256,
        timeout_s=figshare["timeout_s"],
        retries=min(figshare["retries"], 3),
        log=log.info,
    )
log.info("%s: sha256 %s (verified: %s)", record["file"], record["sha256"], record["verified"])
