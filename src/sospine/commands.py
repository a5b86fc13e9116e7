"""Command detectors: any framework's detector as a shell command the workflow runs per split.

The command gets the split's files through placeholders (see `PLACEHOLDERS`), trains however it
likes and writes the test images' detections to `{output}` in the published CSV format, in the
pixels of the images it was given. The workflow maps them back to frame pixels with the function
ultralytics predictions use (`sospine.train.to_original_pixels`), then validates them on the path every
detections file takes. Its wall time is recorded as its training time; a `cost.json` it writes in
`{work_dir}` (params, gflops, epochs, train_s, infer_ms) adds what only it knows.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import string
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from .constants import COORDS, DETECTION_COLUMNS

#: placeholder -> what it stands for (documented in config/README.md and the schema)
PLACEHOLDERS = {
    "dataset": "the split's YOLO dataset.yaml",
    "coco": "the folder of the split's COCO files (train.json, val.json, test.json)",
    "images": "the exported image folder (images/train, images/val, images/test; COCO file_names are relative "
    "to its parent)",
    "work_dir": "a folder of the detector's own for this split or fold",
    "device": "cpu, or the GPUs to use (0, or 0,1 for two): those the job was given",
    "threads": "the CPU threads the job was given",
    "output": "the CSV to write: detections of the test images, published format, exported-image pixels",
    "python": "the Python interpreter running the workflow",
}
#: lines of a failed command's log shown on the console
TAIL_LINES = 15


class CommandError(RuntimeError):
    """A command detector that failed or wrote no usable detections; the message says which and why."""


def unknown_placeholders(command: str) -> list[str]:
    """Placeholders of `command` that are not in PLACEHOLDERS (`{{` and `}}` are literal braces).

    >>> unknown_placeholders("train.py --data {dataset} --out {output} --gpu {gpu}")
    ['{gpu}']
    """
    fields = [name for _, name, _, _ in string.Formatter().parse(command) if name is not None]
    return [f"{{{name}}}" for name in fields if name not in PLACEHOLDERS]


def fill(command: str, values: Mapping[str, str]) -> str:
    """The command with every placeholder replaced by its value, shell-quoted."""
    return command.format_map({key: shlex.quote(str(value)) for key, value in values.items()})


def checked_file(command: str) -> Path | None:
    """The file a command runs (its first word naming an existing file: a script or a program), whose
    sha256 the `sha256` setting pins; None when it names none.

    >>> checked_file("python resources/detectors/fasterrcnn.py --output {output}").name
    'fasterrcnn.py'
    """
    for word in shlex.split(command.replace("{", "").replace("}", "")):
        if Path(word).is_file() and not Path(word).name.startswith("python"):
            return Path(word)
    return None


def run(
    command: str, log_path: str | Path, *, env: Mapping[str, str] | None = None, say: Callable[[str], None] = print
) -> float:
    """Run `command` in bash, its output into `log_path` (and each line to `say`); return its wall
    seconds. A failure raises CommandError with the command's last lines."""
    environment = dict(os.environ if env is None else env)
    # `python` in a command is the workflow's own interpreter, whatever PATH says
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    started = time.monotonic()
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"$ {command}\n")
        log.flush()
        process = subprocess.Popen(
            ["bash", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment
        )
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            tail.append(line.rstrip())
            say(line.rstrip())
        returncode = process.wait()
    seconds = time.monotonic() - started
    if returncode:
        last = "\n".join(f"  | {line}" for line in tail)
        raise CommandError(
            f"the command exited with status {returncode} after {seconds:.0f} s; its last lines:\n{last}"
        )
    return seconds


_STEM = re.compile(r"\.(?:jpeg|jpg)$")


def to_frame_pixels(raw: pd.DataFrame, coco_test: Mapping) -> pd.DataFrame:
    """A command's detections (exported-image pixels, published columns) in frame pixels, with the
    frames' own names. Detections on images that are not test images are refused, naming some."""
    from .train import to_original_pixels

    images = {_STEM.sub("", image["trial_frame"]): image for image in coco_test["images"]}
    stems = raw["trial_frame"].astype(str).str.replace(_STEM, "", regex=True)
    unknown = sorted(set(stems) - set(images))
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" ... ({len(unknown)} in all)" if len(unknown) > 5 else "")
        raise CommandError(f"detections on images that are not the split's test images: {shown}")
    mapped = raw.copy()
    for stem, rows in stems.groupby(stems).groups.items():
        image = images[stem]
        mapped.loc[rows, COORDS] = to_original_pixels(raw.loc[rows, COORDS].to_numpy(float), image)
        mapped.loc[rows, "trial_frame"] = image["trial_frame"]
    return mapped[list(DETECTION_COLUMNS)]


def read_cost(work_dir: str | Path) -> dict:
    """What a command says of its cost in `{work_dir}/cost.json` (only the known keys), or nothing."""
    path = Path(work_dir) / "cost.json"
    try:
        cost = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {key: cost[key] for key in ("params", "gflops", "epochs", "train_s", "infer_ms") if key in cost}
