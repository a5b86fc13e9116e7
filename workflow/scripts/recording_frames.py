from sospine.data.video import VideoError, sample_frames
from sospine.workflow_io import console, expected_errors, setup_logging

log = setup_logging(snakemake)
with expected_errors(log, VideoError):
    sampling = sample_frames(
        snakemake.input.video,
        snakemake.output.frames,
        name=snakemake.wildcards.video,
        fps=snakemake.params.fps,
        say=console(log),
    )
sampling.write(snakemake.output.sampling)
if sampling.note:
    console(log)(f"note: {sampling.note}")
