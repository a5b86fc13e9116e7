"""Command detectors: any framework's detector as a shell command the workflow runs per split.

The command gets the split's files through placeholders (see `PLACEHOLDERS`), trains however it
likes and writes the test images' detections to `{output}` in the published CSV format, in the
pixels of the images it was given. The workflow maps them back to frame pixels with the function
ultralytics predictions use (`sospine.dataset.export.to_original_pixels`), then validates them on the path every
detections file takes. Its wall time is recorded as its training time; a `cost.json` it writes in
`{work_dir}` (params, gflops, epochs, train_s, infer_ms) adds what only it knows.

A command detector that declares a prediction command (`predict:`) can also analyse new recordings:
that command gets a recording's frames (`PREDICT_PLACEHOLDERS`) and the folder where the training
command left its model, and writes the frames' detections in frame pixels (`predict_frames`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shlex
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

import pandas as pd

from sospine.constants import COORDS, DETECTION_COLUMNS
from sospine.dataset.export import to_original_pixels

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
#: placeholder -> what it stands for in a prediction command (`predict:`), run on a recording's frames
PREDICT_PLACEHOLDERS = {
    "images": "the recording's frames folder (JPEGs named <recording>_frame_00000001.jpeg, ... from 1)",
    "work_dir": "the detector's own folder of the main split, where its command left its model",
    "device": PLACEHOLDERS["device"],
    "threads": PLACEHOLDERS["threads"],
    "output": "the CSV to write: detections of the frames, published format, in the frames' pixels",
    "python": PLACEHOLDERS["python"],
}
#: lines of a failed command's log shown on the console
TAIL_LINES = 15


class CommandError(RuntimeError):
    """A command detector that failed or wrote no usable detections; the message says which and why."""


def placeholder_problem(command: str) -> str | None:
    """Why `command` cannot be filled in (a lone brace, a placeholder with a format or conversion),
    or None.

    >>> placeholder_problem("echo { > {output}")
    "a lone '{' (write {{ and }} for literal braces)"
    >>> placeholder_problem("det.py --out {output!r}"), placeholder_problem("det.py --out {output}")
    ('placeholder {output!r} has a conversion or format; write {output} alone', None)
    """
    try:
        fields = list(string.Formatter().parse(command))
    except ValueError as error:
        brace = "}" if "'}'" in str(error) else "{"
        return f"a lone '{brace}' (write {{{{ and }}}} for literal braces)"
    for _, name, spec, conversion in fields:
        if name is not None and (spec or conversion):
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            return f"placeholder {shown} has a conversion or format; write {{{name}}} alone"
    return None


def unknown_placeholders(command: str, known: Mapping[str, str] = PLACEHOLDERS) -> list[str]:
    """Placeholders of `command` that are not `known` (PLACEHOLDERS for a command, PREDICT_PLACEHOLDERS
    for a prediction command; `{{` and `}}` are literal braces).

    >>> unknown_placeholders("train.py --data {dataset} --out {output} --gpu {gpu}")
    ['{gpu}']
    >>> unknown_placeholders("det.py predict --data {dataset} --out {output}", PREDICT_PLACEHOLDERS)
    ['{dataset}']
    """
    if placeholder_problem(command):
        return []
    fields = [name for _, name, _, _ in string.Formatter().parse(command) if name is not None]
    return [f"{{{name}}}" for name in fields if name not in known]


def fill(command: str, values: Mapping[str, object]) -> str:
    """The command with every placeholder replaced by its value, quoted once for where it stands:
    bare, inside "double" or inside 'single' quotes. A value is always one word to the shell and
    never runs (`$(...)`, backticks, spaces and quotes in a path stay characters of the path).

    >>> print(fill('det.py --out {output} --log "{work_dir}/x.log"', {"output": "a b.csv", "work_dir": "$(rm x)"}))
    det.py --out 'a b.csv' --log "\\$(rm x)/x.log"
    """
    filled, state = [], ""
    for literal, name, _, _ in string.Formatter().parse(command):
        filled.append(literal)
        state = _quote_state_after(literal, state)
        if name is not None:
            filled.append(_quoted(str(values[name]), state))
    return "".join(filled)


def _quote_state_after(text: str, state: str) -> str:
    """The shell's quoting after `text` ('', "'" or '"'), starting in `state`."""
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif state == "'":
            state = "" if char == "'" else state
        elif char == "\\":
            escaped = True
        elif state == '"':
            state = "" if char == '"' else state
        elif char in "'\"":
            state = char
    return state


def _quoted(value: str, state: str) -> str:
    if state == "'":  # close, an escaped quote, reopen
        return value.replace("'", "'\"'\"'")
    if state == '"':  # inside double quotes only these four are special
        return "".join("\\" + c if c in '\\"$`' else c for c in value)
    return shlex.quote(value)


#: interpreters a command may start with; the file it runs is the next word naming a file
INTERPRETER = re.compile(r"(?:python|pypy|bash|sh|zsh|Rscript|julia|node|perl|ruby|env)[\d.]*")


def checked_file(command: str) -> Path | None:
    """The file a command runs (a script after its interpreter, or a program), whose content is
    tracked (a changed file reruns the detector) and whose sha256 the `sha256` setting pins; None
    when it names none.

    >>> checked_file("python resources/detectors/fasterrcnn.py --output {output}").name
    'fasterrcnn.py'
    """
    try:
        words = shlex.split(command.replace("{", "").replace("}", ""))
    except ValueError:  # an unbalanced quote: the configuration check names it
        return None
    for position, word in enumerate(words):
        if position == 0 and INTERPRETER.fullmatch(Path(word).name):
            continue
        if Path(word).is_file():
            return Path(word)
    return None


def run(
    command: str,
    log: TextIO | str | Path,
    *,
    env: Mapping[str, str] | None = None,
    say: Callable[[str], None] = print,
    timeout_s: float | None = None,
) -> float:
    """Run `command` in bash, its output into `log` and each line to `say`; return its wall seconds.
    `log` is the job's open log (its one writer: a second handle on the same file would overwrite
    lines) or a path to append to. A failure, or a command still running after `timeout_s`, raises
    CommandError with the command's last lines; the command's whole process group is stopped with
    it, also when this process is told to stop."""
    if not hasattr(log, "write"):
        with open(log, "a", encoding="utf-8") as stream:
            return run(command, stream, env=env, say=say, timeout_s=timeout_s)
    environment = dict(os.environ if env is None else env)
    # `python` in a command is the workflow's own interpreter, whatever PATH says
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    started = time.monotonic()
    log.write(f"$ {command}\n")
    log.flush()
    process = subprocess.Popen(
        ["bash", "-c", command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env=environment,
        start_new_session=True,  # its own process group, stopped as a whole
    )
    expired: list[bool] = []

    def expire() -> None:
        expired.append(True)
        _stop_group(process)

    timer = threading.Timer(timeout_s, expire) if timeout_s else None
    previous = {sig: signal.signal(sig, _stopping(process)) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if timer:
            timer.start()
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            tail.append(line.rstrip())
            say(line.rstrip())
        returncode = process.wait()
    finally:
        if timer:
            timer.cancel()
        _stop_group(process)  # whatever it left running in the background
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.flush()
    seconds = time.monotonic() - started
    last = "\n".join(f"  | {line}" for line in tail)
    if expired:
        raise CommandError(
            f"the command was still running after {timeout_s / 60:g} min (timeout_min) and was stopped; "
            f"its last lines:\n{last}"
        )
    if returncode:
        raise CommandError(
            f"the command exited with status {returncode} after {seconds:.0f} s; its last lines:\n{last}"
        )
    return seconds


def _stop_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _stopping(process: subprocess.Popen) -> Callable[[int, object], None]:
    def handler(signum: int, frame: object) -> None:
        _stop_group(process)
        raise SystemExit(128 + signum)

    return handler


_STEM = re.compile(r"\.(?:jpeg|jpg)$")


#: how far past the image it was given a box may reach before it is read as a box in other pixels
#: (frame pixels written by mistake): half the image on every side
REACH = 0.5


def to_frame_pixels(raw: pd.DataFrame, coco_test: Mapping, source: str | Path = "the command's output") -> pd.DataFrame:
    """A command's detections (exported-image pixels, published columns) in frame pixels, with the
    frames' own names. Detections on images that are not test images, boxes far outside the image
    the command was given (frame pixels written by mistake) and boxes that do not map to finite
    frame pixels are refused, naming `source` (the command's own file) and its values."""

    images = {_STEM.sub("", image["trial_frame"]): image for image in coco_test["images"]}
    stems = raw["trial_frame"].astype(str).str.replace(_STEM, "", regex=True)
    _refuse_unknown(stems, images, source, "the split's test images")
    mapped = raw.copy()
    size = pd.DataFrame([images[stem] for stem in stems], index=raw.index)[["width", "height"]].astype(float)
    far = _far_outside(raw[COORDS].astype(float), size)
    if far:
        count, row, column = far
        raise CommandError(
            f"{source}: {count} boxes far outside the images the command was given, e.g. "
            f"{raw.at[row, 'trial_frame']}: {column} = {raw.at[row, column]:g} on an image of "
            f"{size.at[row, 'width']:g} x {size.at[row, 'height']:g} px; write boxes in the pixels of the exported "
            "images ({images}), which the workflow maps to frame pixels"
        )
    for stem, rows in stems.groupby(stems).groups.items():
        image = images[stem]
        mapped.loc[rows, COORDS] = to_original_pixels(raw.loc[rows, COORDS].to_numpy(float), image)
        mapped.loc[rows, "trial_frame"] = image["trial_frame"]
    return mapped[list(DETECTION_COLUMNS)]


def _refuse_unknown(stems: Iterable[str], known: Collection[str], source: str | Path, what: str) -> None:
    """A CommandError naming the images (by stem) that are not `known`, five at most, if any."""
    unknown = sorted(set(stems) - set(known))
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" ... ({len(unknown)} in all)" if len(unknown) > 5 else "")
        raise CommandError(f"{source}: detections on images that are not {what}: {shown}")


def _far_outside(coordinates: pd.DataFrame, size: pd.DataFrame) -> tuple[int, Hashable, str] | None:
    """How many boxes reach far (REACH) outside their image (`size`: width and height per row), with
    the first such row and corner, or None."""
    extent = pd.concat([size["width"], size["height"]] * 2, axis=1, keys=COORDS)
    far = (coordinates > extent * (1 + REACH)) | (coordinates < -extent * REACH)
    if not far.to_numpy().any():
        return None
    row, column = next((r, c) for r, c in far.stack()[far.stack()].index)
    return int(far.any(axis=1).sum()), row, column


def _written_names(path: Path) -> list[str]:
    """The frame names a detections CSV gives (spaces stripped), or none where pandas cannot read it
    (validation then says why, by line and column)."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, OSError, pd.errors.ParserError):  # UnicodeDecodeError is a ValueError
        return []
    columns = {str(column).strip(): column for column in table.columns}
    if "trial_frame" not in columns:
        return []
    names = table[columns["trial_frame"]].str.strip()
    return names[names != ""].tolist()


def recording_detections(
    path: str | Path, frames: Sequence[str], recording: str, size: tuple[float, float], detector: str
) -> pd.DataFrame:
    """A prediction command's detections of a recording's frames (`frames`: their file names, all of
    `size` = (width, height) px), validated on the path every detections file takes
    (`sospine.validation.detections.check_detections`: the pandera checks of columns, types, finite
    pixels, scores, labels, corner order and the frame number in the name), with the frames' own
    names. Validation knows trials by the dataset's names (S1A2, Clip0): the file is checked as a copy
    in which a trial name that occurs nowhere in it stands for the recording's name, so that every
    other check applies unchanged. Detections on images that are not the recording's frames, boxes far
    outside the frames and a file that does not validate are refused, naming the command's own file.
    """
    from sospine.validation.detections import check_detections

    path = Path(path)
    source = f"the prediction command's output {path}"
    known = {_STEM.sub("", name): name for name in frames}
    _refuse_unknown((_STEM.sub("", name) for name in _written_names(path)), known, source, "the recording's frames")
    data = path.read_bytes()
    stand_in = next(f"Clip{n}" for n in itertools.count(900_000_000) if f"Clip{n}_frame_".encode() not in data)
    mine, theirs = f"{recording}_frame_", f"{stand_in}_frame_"
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.stem}-", suffix=".csv", delete=False) as copy:
        copy.write(data.replace(mine.encode(), theirs.encode()))
    try:
        written = check_detections(copy.name, allow_empty=True)
    finally:
        Path(copy.name).unlink(missing_ok=True)
    if written.table is None:
        written.path = path
        written.report["file"] = path.name
        written.report["value"] = written.report["value"].map(
            lambda value: value.replace(theirs, mine) if isinstance(value, str) else value
        )
        raise CommandError(written.error_line(detector))
    table = written.table.astype({c: float for c in (*COORDS, "score")}).astype({"frame": float})
    table["frame"] = table["frame"].astype("int64")
    table["trial_frame"] = table["trial_frame"].astype(str).str.replace(theirs, mine, regex=False)
    stems = table["trial_frame"].str.replace(_STEM, "", regex=True)
    _refuse_unknown(stems, known, source, "the recording's frames")
    table["trial_frame"] = [known[stem] for stem in stems]
    extent = pd.DataFrame({"width": float(size[0]), "height": float(size[1])}, index=table.index)
    far = _far_outside(table[COORDS], extent)
    if far:
        count, row, column = far
        raise CommandError(
            f"{source}: {count} boxes far outside the recording's frames, e.g. {table.at[row, 'trial_frame']}: "
            f"{column} = {table.at[row, column]:g} on a frame of {size[0]:g} x {size[1]:g} px; write boxes in the "
            "pixels of the frames in {images}"
        )
    return table[list(DETECTION_COLUMNS)].reset_index(drop=True)


def predict_frames(
    predict: str,
    frames_dir: str | Path,
    work_dir: str | Path,
    output: str | Path,
    *,
    recording: str,
    detector: str,
    device: str,
    threads: int,
    log: TextIO | str | Path,
    say: Callable[[str], None] = print,
    timeout_s: float | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Run a command detector's prediction command (`predict`, its placeholders PREDICT_PLACEHOLDERS)
    on a recording's frames, through `run` (the job's log, the timeout, its process group stopped with
    it), and return the frames' detections (`recording_detections`) and what predicting took: the
    command as run, its seconds and milliseconds per frame. `say` gets the command line; the
    command's own lines go to `log` only. A failing command, or one that writes no `{output}`, raises
    CommandError."""
    from PIL import Image

    frames = sorted(Path(frames_dir).glob("*.jpeg"))
    if not frames:
        raise CommandError(f"{frames_dir} holds no frames (<recording>_frame_00000001.jpeg, ...) to predict")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)  # never read an earlier run's file as this run's
    values = {
        "images": Path(frames_dir).resolve(),
        "work_dir": Path(work_dir).resolve(),
        "device": device,
        "threads": threads,
        "output": output.resolve(),
        "python": sys.executable,
    }
    command = fill(predict, values)
    say(f"prediction command of {detector}: {command}")
    seconds = run(command, log, say=lambda line: None, timeout_s=timeout_s)
    if not output.is_file():
        raise CommandError(
            f"the prediction command finished but wrote no {output} (it must write its detections to {{output}})"
        )
    with Image.open(frames[0]) as first:
        size = first.size
    table = recording_detections(output, [frame.name for frame in frames], recording, size, detector)
    cost = {"command": command, "predict_s": round(seconds, 2), "infer_ms": round(1000 * seconds / len(frames), 2)}
    return table, cost


def read_cost(work_dir: str | Path) -> dict:
    """What a command says of its cost in `{work_dir}/cost.json` (only the known keys), or nothing."""
    path = Path(work_dir) / "cost.json"
    try:
        cost = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {key: cost[key] for key in ("params", "gflops", "epochs", "train_s", "infer_ms") if key in cost}
