import shutil
import sys
from pathlib import Path

import pandas as pd

from sospine.validation import gate_message
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
report = pd.read_csv(snakemake.input.report, dtype=str, keep_default_na=False)
problem = gate_message(report, snakemake.input.report, snakemake.params.on_error)
if problem:
    log.error(problem)
    print(f"error: {problem}", file=sys.__stderr__)
    raise SystemExit(1)
for kept, clean in zip(snakemake.input.kept, snakemake.output.clean, strict=False):
    Path(clean).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(kept, clean)
log.info("validation passed (%s mode)", snakemake.params.on_error)
