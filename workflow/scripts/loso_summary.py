import json
from pathlib import Path

from sospine.scoring import fold_summary
from sospine.tables import readable
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
# each input is results/scores/<detector>-<fold>/summary.json
summaries = {Path(path).parent.name.rsplit("-", 1)[-1]: json.loads(Path(path).read_text()) for path in snakemake.input}
table = fold_summary(summaries)
readable(table).to_csv(snakemake.output[0], index=False)
log.info("leave-one-surgeon-out:\n%s", table.to_string(index=False))
