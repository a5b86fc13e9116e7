import json
from pathlib import Path

import pandas as pd

from sospine.front_page import front_page
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
provenance = json.loads(Path(snakemake.input.provenance).read_text())
# the steps that made this run's results, in the order they first appear upstream of the targets
rules = {entry.get("rule") for entry in provenance["artifacts"].values() if entry.get("rule")}
ORDER = [
    "synthesize",
    "mirror",
    "fetch_manifest",
    "validate",
    "validation_gate",
    "boxes",
    "split",
    "stats",
    "export_yolo",
    "export_yolo_fold",
    "fetch_weights",
    "train",
    "train_fold",
    "predict",
    "predict_fold",
    "command_detector",
    "command_detector_fold",
    "validate_detections",
    "score",
    "loso_summary",
    "leaderboard",
    "presence",
    "phases",
    "outcomes",
]
steps = [rule for rule in ORDER if rule in rules] + sorted(rules - set(ORDER) - {"provenance"})
board = pd.read_csv(snakemake.input.board) if snakemake.input.board else None
paired = pd.read_csv(snakemake.input.paired) if snakemake.input.paired else None
text = front_page(
    snakemake.params.config,
    snakemake.params.output_dir,
    steps,
    board,
    paired,
    snakemake.params.figures,
    skipped=snakemake.params.skipped,
    trials=pd.read_csv(snakemake.input.trials, dtype=str),
    table1=pd.read_csv(snakemake.input.table1),
)
Path(snakemake.output[0]).write_text(text)
log.info("front page:\n%s", text)
