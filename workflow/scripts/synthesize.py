from pathlib import Path

from sospine.fetch import manifest_for_files, write_manifest
from sospine.synth import SynthSpec, generate
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
spec = SynthSpec(**snakemake.params.spec)
log.info("generating synthetic SOSpine: %s", spec)
paths = generate(spec, Path(snakemake.output.manifest).parent)
write_manifest(
    manifest_for_files(list(paths.values()), record="synthetic", source=f"sospine synth {spec}"),
    Path(snakemake.output.manifest),
)
log.info("wrote %s", ", ".join(str(p) for p in paths.values()))
