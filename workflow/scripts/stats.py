import matplotlib

matplotlib.use("Agg")
import pandas as pd

from sospine import plots
from sospine.dataset import stats
from sospine.tables import read_annotations, read_outcomes, with_frame_columns, write_table
from sospine.workflow_io import console, setup_logging

log = setup_logging(snakemake)
out = snakemake.output
boxes = with_frame_columns(read_annotations(snakemake.input.bbox))
frames = pd.read_csv(snakemake.input.frames)
# under leave-one-surgeon-out every surgeon's trials are tested, each in its own fold
trials = pd.read_csv(snakemake.input.trials, dtype=str)
loso = trials["split"].str.isdigit().any()
table1 = stats.table1_by_fold(boxes, trials) if loso else stats.table1(boxes, frames)
write_table(table1, out.table1)
log.info("Table 1:\n%s", table1.to_string(index=False))
write_table(stats.frames_per_split(frames), out.frames_per_split)
outcomes = read_outcomes(snakemake.input.outcomes) if snakemake.input.outcomes else None
write_table(stats.frames_per_trial(frames, outcomes), out.frames_per_trial)
write_table(stats.boxes_per_trial(boxes), out.boxes_per_trial)
tips = read_annotations(snakemake.input.tips) if snakemake.input.tips else None
write_table(stats.tips_per_label(tips), out.tips_per_label)
if tips is None:  # on the console too: the empty counts are not zeros
    console(log)(f"note: stats/tips_per_label.csv: {stats.NO_TIPS_NOTE}")
sizes = stats.box_sizes(boxes)
plots.box_sizes(sizes, out.box_sizes)
if note := stats.single_point_note(sizes):
    log.info("box sizes: %s", note)
