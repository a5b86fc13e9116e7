import json
from pathlib import Path

import pandas as pd

from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
rows = []
for path in snakemake.input:
    summary = json.loads(Path(path).read_text())
    rows.append(
        {
            "fold": Path(path).parent.name.rsplit("-", 1)[-1],
            "test_trials": " ".join(summary["test_trials"]),
            **{
                k: summary[k]
                for k in (
                    "map50_voc_all",
                    "map50_voc_instruments",
                    "map50_coco_all",
                    "map50_95_coco_all",
                    "n_truth",
                    "n_detections",
                )
            },
        }
    )
table = pd.DataFrame(rows)
metrics = ["map50_voc_all", "map50_voc_instruments", "map50_coco_all", "map50_95_coco_all"]
table = pd.concat(
    [
        table,
        pd.DataFrame(
            [{"fold": "mean", **table[metrics].mean().to_dict()}, {"fold": "std", **table[metrics].std().to_dict()}]
        ),
    ],
    ignore_index=True,
)
table.to_csv(snakemake.output[0], index=False)
log.info("leave-one-surgeon-out:\n%s", table.to_string(index=False))
