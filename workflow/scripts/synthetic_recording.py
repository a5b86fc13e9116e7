from sospine.data.video import trial_frames, write_video
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
trial = snakemake.wildcards.trial
write_video(trial_frames(snakemake.input.frames, trial), snakemake.output[0], fps=30, hold_s=1.0)
log.info("trial %s as a recording: each frame held 1 s at 30 fps, H.264: %s", trial, snakemake.output[0])
