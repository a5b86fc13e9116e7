import json
import sys
from pathlib import Path

from sospine.commands import CommandError, fill, read_cost, run, to_frame_pixels
from sospine.tables import write_csv
from sospine.train import TrainingError, device_name, resolve_device
from sospine.validation import check_detections
from sospine.workflow_io import console, expected_errors, setup_logging

log = setup_logging(snakemake)
params = snakemake.params
name = snakemake.wildcards.detector
work_dir = Path(params.work_dir)
work_dir.mkdir(parents=True, exist_ok=True)
raw_output = work_dir / "detections.csv"
raw_output.unlink(missing_ok=True)  # never read an earlier run's file as this run's
(work_dir / "cost.json").unlink(missing_ok=True)  # nor an earlier command's cost
with expected_errors(log, TrainingError, CommandError):
    device = resolve_device(params.device, params.gpus)
    values = {
        "dataset": Path(snakemake.input.dataset).resolve(),
        "coco": Path(snakemake.input.coco).resolve(),
        "images": Path(snakemake.input.images).resolve(),
        "work_dir": work_dir.resolve(),
        "device": device,
        "threads": snakemake.threads,
        "output": raw_output.resolve(),
        "python": sys.executable,
    }
    command = fill(params.command, values)
    console(log)(f"command {name}: {command}")
    # its lines go to the log through the job's own log stream (stdout, see setup_logging)
    seconds = run(command, sys.stdout, say=lambda line: None, timeout_s=60 * snakemake.resources.runtime)
    if not raw_output.is_file():
        raise CommandError(
            f"the command finished but wrote no {raw_output} (it must write its detections to {{output}})"
        )
    written = check_detections(raw_output, allow_empty=True)  # the format, before its pixels are mapped
    if written.table is None:
        raise CommandError(written.error_line(name))
    coco_test = json.loads((Path(snakemake.input.coco) / "test.json").read_text())
    coordinates = written.table.astype({c: float for c in ("x1", "y1", "x2", "y2", "score")})
    mapped = to_frame_pixels(coordinates, coco_test, source=f"the command's output {raw_output}")
write_csv(mapped.astype({"frame": int}), snakemake.output.detections, crlf=False)
cost = {"params": None, "gflops": None, "epochs": None, "infer_ms": None, "train_s": round(seconds, 2)}
cost.update(read_cost(work_dir))
cost["train_device"] = device_name(device)
Path(snakemake.output.cost).write_text(json.dumps(cost, indent=2) + "\n")
log.info("%s: %d detections in frame pixels, %.0f s; cost %s", name, len(mapped), seconds, cost)
