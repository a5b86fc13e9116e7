from pathlib import Path

import pandas as pd

from sospine.split import SplitError, assign_trials, frames_split
from sospine.tables import read_annotations, with_frame_columns
from sospine.workflow_io import expected_errors, setup_logging

log = setup_logging(snakemake)
cfg = snakemake.params.split
frames = with_frame_columns(read_annotations(snakemake.input.bbox)).drop_duplicates("trial_frame")
with expected_errors(log, SplitError):
    folds = assign_trials(
        frames["trial"].unique().tolist(),
        method=cfg["method"],
        test_trials=cfg["test_trials"],
        val_trials=cfg["val_trials"],
        test_fraction=cfg["test_fraction"],
        seed=cfg["seed"],
    )
folds_dir = Path(snakemake.output.folds)
folds_dir.mkdir(parents=True, exist_ok=True)
for name, fold in folds.items():
    fold.to_csv(folds_dir / f"{name}.csv", index=False)
    log.info("fold %s: %s", name, fold.groupby("split")["trial"].apply(list).to_dict())
if cfg["method"] == "leave_one_surgeon_out":
    # one row per trial: the fold (surgeon number) in which it is tested; Clip trials are always trained on
    tested_in = {t: name[1:] for name, fold in folds.items() for t in fold.loc[fold["split"] == "test", "trial"]}
    trials = pd.DataFrame({"trial": sorted(frames["trial"].unique())})
    trials["split"] = trials["trial"].map(tested_in).fillna("train")
    main = next(iter(folds.values()))
else:
    trials = main = folds["main"]
trials.to_csv(snakemake.output.trials, index=False)
frame_table = frames_split(frames, main, validation=cfg["validation"], val_frames=cfg["val_frames"], seed=cfg["seed"])
frame_table.to_csv(snakemake.output.frames, index=False)
log.info("frames per split: %s", frame_table["split"].value_counts().to_dict())
