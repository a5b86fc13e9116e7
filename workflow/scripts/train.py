import torch

from sospine import plots
from sospine.train import TrainingError, publish_run, train
from sospine.workflow_io import console, expected_errors, setup_logging

log = setup_logging(snakemake)
params = snakemake.params
torch.set_num_threads(snakemake.threads)
args = dict(
    model=params.model,
    epochs=params.epochs,
    imgsz=params.imgsz,
    batch=params.batch,
    device=params.device,
    seed=params.seed,
    workers=params.workers,
    gpus=params.gpus,
    plots=params.plots,
    extra=dict(params.extra),
)
with expected_errors(log, TrainingError):
    run_dir = train(
        snakemake.input.dataset,
        params.work_dir,
        **args,
        progress=console(log),
        name=params.name,
        threads=snakemake.threads,
        sha256=params.sha256,
    )
publish_run(run_dir, dict(snakemake.output), args)
plots.training_curves(snakemake.output.results, snakemake.output.curves)
