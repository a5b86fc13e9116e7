import torch

from sospine import plots
from sospine.train import TrainingError, publish_run, train
from sospine.workflow_io import console, expected_errors, setup_logging

log = setup_logging(snakemake)
p = snakemake.params
torch.set_num_threads(snakemake.threads)
args = dict(
    model=p.model,
    epochs=p.epochs,
    imgsz=p.imgsz,
    batch=p.batch,
    device=p.device,
    seed=p.seed,
    workers=p.workers,
    plots=p.plots,
    extra=dict(p.extra),
)
with expected_errors(log, TrainingError):
    run_dir = train(snakemake.input.dataset, p.work_dir, **args, progress=console(log), name=p.name)
publish_run(run_dir, dict(snakemake.output), args)
plots.training_curves(snakemake.output.results, snakemake.output.curves)
