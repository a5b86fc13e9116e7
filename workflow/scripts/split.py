from pathlib import Path

from sospine.split import SplitError, split_dataset
from sospine.tables import read_annotations, with_frame_columns
from sospine.workflow_io import expected_errors, setup_logging

log = setup_logging(snakemake)
frames = with_frame_columns(read_annotations(snakemake.input.bbox)).drop_duplicates("trial_frame")
with expected_errors(log, SplitError):
    folds, trials, frame_table = split_dataset(frames, snakemake.params.split)
folds_dir = Path(snakemake.output.folds)
folds_dir.mkdir(parents=True, exist_ok=True)
for name, fold in folds.items():
    fold.to_csv(folds_dir / f"{name}.csv", index=False)
    log.info("fold %s: %s", name, fold.groupby("split")["trial"].apply(list).to_dict())
trials.to_csv(snakemake.output.trials, index=False)
frame_table.to_csv(snakemake.output.frames, index=False)
log.info("frames per split: %s", frame_table["split"].value_counts().to_dict())
