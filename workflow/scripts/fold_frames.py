from pathlib import Path

import pandas as pd

from sospine.split import frames_split
from sospine.tables import read_annotations, with_frame_columns
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
settings = snakemake.params.split
fold = pd.read_csv(Path(snakemake.input.folds) / f"{snakemake.wildcards.fold}.csv")
frames = with_frame_columns(read_annotations(snakemake.input.bbox)).drop_duplicates("trial_frame")
table = frames_split(
    frames, fold, validation=settings["validation"], val_frames=settings["val_frames"], seed=settings["seed"]
)
table.to_csv(snakemake.output[0], index=False)
log.info("fold %s: frames per split %s", snakemake.wildcards.fold, table["split"].value_counts().to_dict())
