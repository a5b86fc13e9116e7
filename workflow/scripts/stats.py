import matplotlib

matplotlib.use("Agg")
import pandas as pd

from sospine import plots, stats
from sospine.tables import read_annotations, read_outcomes, with_frame_columns
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
out = snakemake.output
boxes = with_frame_columns(read_annotations(snakemake.input.bbox))
frames = pd.read_csv(snakemake.input.frames)
# under leave-one-surgeon-out every surgeon's trials are tested, each in its own fold
trials = pd.read_csv(snakemake.input.trials, dtype=str)
loso = trials["split"].str.isdigit().any()
table1 = stats.table1_by_fold(boxes, trials) if loso else stats.table1(boxes, frames)
table1.to_csv(out.table1, index=False)
log.info("Table 1:\n%s", table1.to_string(index=False))
stats.frames_per_split(frames).to_csv(out.frames_per_split, index=False)
outcomes = read_outcomes(snakemake.input.outcomes) if snakemake.input.outcomes else None
stats.frames_per_trial(frames, outcomes).to_csv(out.frames_per_trial, index=False)
stats.boxes_per_trial(boxes).to_csv(out.boxes_per_trial, index=False)
tips = read_annotations(snakemake.input.tips) if snakemake.input.tips else pd.DataFrame(columns=["label"])
stats.tips_per_label(tips).to_csv(out.tips_per_label, index=False)
plots.box_sizes(stats.box_sizes(boxes), out.box_sizes)
