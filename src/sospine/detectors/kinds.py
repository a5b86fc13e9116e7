"""Which detectors a run trains, reads and ranks: the `detectors:` mapping of the configuration.

A detector is one of four kinds:
- *train*: an ultralytics model (YOLO or RT-DETR, by the model file's name); its settings are `train`'s
  with the detector's own keys on top;
- *command*: any framework's detector, a shell command the workflow runs once per split (and per
  leave-one-surgeon-out fold) with the split's files (`sospine.detectors.commands`); with a prediction command
  (`predict:`) it also detects tools in new recordings' frames, with the model its command left;
- *weights*: an ultralytics checkpoint trained elsewhere (`{weights: PATH, sha256: ...}`), predicted on
  the test split (and each fold's) and ranked, never trained;
- *file*: detections someone made elsewhere, in the published CSV format.
The paper's YOLOv4 detections join as a file detector when the data source has them.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

#: `train` keys a detector cannot override: the name is the detector's own, GPUs are booked per rule.
NOT_PER_DETECTOR = ("name",)
#: The baseline's names: the paper's YOLOv4 detections, and on the synthetic source the generator's
#: stand-in for them (ground truth jittered, with misses and false positives). No detector may take one.
PAPER_BASELINE = "yolov4_paper"
SYNTHETIC_BASELINE = "synthetic_reference"
RESERVED_NAMES = (PAPER_BASELINE, SYNTHETIC_BASELINE)
#: `train` keys that describe the model file: a detector with a model of its own does not inherit them
MODEL_KEYS = ("model", "sha256")


#: The keys of a command detector and what they default to (gpus and device from `train`); `predict`
#: (optional) is its prediction command, run on a recording's frames.
COMMAND_KEYS = ("command", "predict", "gpus", "threads", "mem_mb", "timeout_min", "device", "sha256")
COMMAND_THREADS = 4
COMMAND_MEM_MB = 32000  # as a training job books
COMMAND_TIMEOUT_MIN = 24 * 60  # as a training job's runtime


#: What the job that predicts a recording books for an ultralytics detector (as the predict rule).
ULTRALYTICS_PREDICTION = {"gpu": 1, "threads": 4, "mem_mb": 8000, "runtime": 120}


#: The keys of a weights detector; imgsz, predict_conf, device and gpus default to `train`'s.
WEIGHTS_KEYS = ("weights", "sha256", "model", "imgsz", "predict_conf", "device", "gpus")


@dataclass(frozen=True)
class Detector:
    name: str
    kind: Literal["train", "command", "weights", "file"]
    settings: dict[str, Any] = field(default_factory=dict)  # trained: the merged train settings; command: its keys
    path: str = ""  # file: the detections CSV

    @property
    def trained(self) -> bool:
        """An ultralytics detector trained here."""
        return self.kind == "train"

    @property
    def produced(self) -> bool:
        """Detections this workflow makes on the split's test images (trained, given weights or a
        command), as opposed to a file made elsewhere: such a detector has folds, costs and may find
        nothing."""
        return self.kind in ("train", "command", "weights")

    @property
    def fold_files(self) -> dict[str, str]:
        """A detections detector's files per leave-one-surgeon-out fold (`{detections: {S1: a.csv, ...}}`:
        each made without that fold's surgeon, so out of fold), or {} for one file."""
        return dict(self.settings.get("folds") or {})

    @property
    def predicts_new_images(self) -> bool:
        """Whether it can detect tools in frames it has never seen (a recording): ultralytics weights,
        trained here or given, and a command detector that declares a prediction command (`predict`)."""
        return self.kind in ("train", "weights") or (self.kind == "command" and bool(self.settings.get("predict")))

    @property
    def lacks_for_new_images(self) -> str:
        """What keeps it from detecting tools in a recording's frames, in words ('' when nothing does).

        >>> Detector("frcnn", "command", {"command": "x {output}"}).lacks_for_new_images[:57]
        'a command detector without a prediction command (predict:'
        """
        if self.predicts_new_images:
            return ""
        if self.kind == "command":
            return (
                'a command detector without a prediction command (predict: "python mine.py predict --weights '
                "{work_dir}/best.pt --images {images} --output {output}\", run on a recording's frames with the "
                "model its command left in {work_dir})"
            )
        return "a detections file made elsewhere: it holds detections of the dataset's frames, no model to run"


def prediction_booking(detectors: Iterable[Detector]) -> dict[str, int]:
    """What the job that predicts a recording books: the most that any of `detectors` (those it may
    run: the one named by analysis.detector, else every one that can) asks. A command detector asks
    its own threads, mem_mb and timeout_min (its prediction command's runtime too) and at most one of
    its gpus, an ultralytics one what its prediction books (ULTRALYTICS_PREDICTION).

    >>> prediction_booking([Detector("c", "command", {"gpus": 2, "threads": 2, "mem_mb": 500, "timeout_min": 30})])
    {'gpu': 1, 'threads': 2, 'mem_mb': 500, 'runtime': 30}
    """
    found = {"gpu": 0, "threads": 1, "mem_mb": 1, "runtime": 1}
    for detector in detectors:
        settings = detector.settings
        own = ULTRALYTICS_PREDICTION
        if detector.kind == "command":
            own = {
                "gpu": min(int(settings.get("gpus", 1)), 1),
                "threads": int(settings.get("threads", COMMAND_THREADS)),
                "mem_mb": int(settings.get("mem_mb", COMMAND_MEM_MB)),
                "runtime": int(settings.get("timeout_min", COMMAND_TIMEOUT_MIN)),
            }
        found = {key: max(value, own[key]) for key, value in found.items()}
    return found


def family(model: str) -> Literal["rtdetr", "yolo"]:
    """The ultralytics detector family of a model file, by its name: `rtdetr*` is RT-DETR, any
    other (yolov8n, yolo11s, yolo12m, ...) YOLO.

    >>> family("rtdetr-l.yaml"), family("resources/models/rtdetr-sospine.yaml"), family("yolo11s.pt")
    ('rtdetr', 'rtdetr', 'yolo')
    """
    return "rtdetr" if Path(model).name.lower().startswith("rtdetr") else "yolo"


def family_problem(model: str, where: str) -> str | None:
    """Why a local model .yaml's name and its head disagree (a YOLO head in a file named `rtdetr*`,
    or an RT-DETR decoder in one that is not), or None: the name picks the ultralytics class, which
    would fail deep in the training job.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "rtdetr-mine.yaml")
    >>> _ = open(path, "w").write("nc: 5\\nhead:\\n  - [[16, 19, 22], 1, Detect, [nc]]\\n")
    >>> "rtdetr-mine.yaml is named like an RT-DETR model (rtdetr*) but its head" in family_problem(path, "train.model")
    True
    """
    import yaml

    path = Path(model)
    if path.suffix not in (".yaml", ".yml") or not path.is_file():
        return None
    try:
        head = (yaml.safe_load(path.read_text()) or {}).get("head") or []
        modules = {str(layer[2]) for layer in head if isinstance(layer, list) and len(layer) > 2}
    except (yaml.YAMLError, OSError, AttributeError) as error:
        return f"config key '{where}': {model} is not a model .yaml ultralytics can read ({error})"
    decoder = any("RTDETRDecoder" in module for module in modules)
    named = family(model) == "rtdetr"
    if decoder == named or not modules:
        return None
    shown = f".../{path.name}" if len(str(model)) > 40 else model
    if named:
        return (
            f"config key '{where}': {shown} is named like an RT-DETR model (rtdetr*) but its head has no "
            "RTDETRDecoder: ultralytics would build it as RT-DETR; give the file a name that does not start with rtdetr"
        )
    return (
        f"config key '{where}': {shown} has an RTDETRDecoder head but is not named rtdetr*: ultralytics' RTDETR "
        "class trains such a model; give the file a name that starts with rtdetr"
    )


def baseline_name(config: Mapping[str, Any], source: str) -> str:
    """The baseline's name: `baseline.name`, or for `auto` the paper's (the synthetic stand-in's on
    the synthetic source).

    >>> baseline_name({"baseline": {"name": "auto"}}, "synthetic"), baseline_name({}, "mirror")
    ('synthetic_reference', 'yolov4_paper')
    """
    name = (config.get("baseline") or {}).get("name", "auto")
    if name != "auto":
        return name
    return SYNTHETIC_BASELINE if source == "synthetic" else PAPER_BASELINE


def resolve(config: Mapping[str, Any], baseline: str | None, source: str = "mirror") -> dict[str, Detector]:
    """Detector name -> Detector, in the configured order, the baseline (when there is one) last.

    With no `detectors` the run trains one detector, `train.name`, with the `train` settings. A
    detector with a model of its own does not inherit train's `sha256` (it belongs to train's model).

    >>> cfg = {"train": {"name": "yolo", "model": "yolo11n.yaml", "epochs": 100}, "detectors": {
    ...     "small": {"model": "yolo11s.yaml", "epochs": 5}, "mine": {"detections": "mine.csv"}}}
    >>> found = resolve(cfg, "paper.csv")
    >>> [(d.name, d.kind, d.settings.get("epochs"), d.path) for d in found.values()]
    [('small', 'train', 5, ''), ('mine', 'file', None, 'mine.csv'), ('yolov4_paper', 'file', None, 'paper.csv')]
    """
    train = dict(config["train"])
    wanted = config.get("detectors") or {train["name"]: {}}
    found: dict[str, Detector] = {}
    for name, own in wanted.items():
        own = dict(own or {})
        if "detections" in own and isinstance(own["detections"], Mapping):
            folds = {str(fold): str(path) for fold, path in own["detections"].items()}
            found[name] = Detector(name, "file", settings={"folds": folds})
        elif "detections" in own:
            found[name] = Detector(name, "file", path=str(own["detections"]))
        elif "weights" in own:
            inherited = {k: train[k] for k in ("imgsz", "predict_conf", "device", "gpus") if k in train}
            settings = {**inherited, "sha256": "", **own, "name": name}
            settings.setdefault("model", str(own["weights"]))  # its name picks the family, as a model file's
            found[name] = Detector(name, "weights", settings=settings, path=str(own["weights"]))
        elif "command" in own:
            defaults = {
                **{"gpus": train.get("gpus", 1), "threads": COMMAND_THREADS, "mem_mb": COMMAND_MEM_MB},
                "timeout_min": COMMAND_TIMEOUT_MIN,
                "device": train.get("device", "auto"),
            }
            found[name] = Detector(name, "command", settings={**defaults, "sha256": "", **own, "name": name})
        else:
            inherited = {k: v for k, v in train.items() if "model" not in own or k not in MODEL_KEYS}
            settings = {**inherited, **own, "name": name}
            found[name] = Detector(name, "train", settings=settings)
    if baseline:
        base_name = baseline_name(config, source)
        found[base_name] = Detector(base_name, "file", path=str(baseline))
    return found


def reserved_name_problems(config: Mapping[str, Any], source: str) -> list[str]:
    """A detector (or train.name, when it is the only one) may not take the baseline's name."""
    reserved = set(RESERVED_NAMES) | {baseline_name(config, source)}
    names = list(config.get("detectors") or {}) or [(config.get("train") or {}).get("name")]
    where = "detectors" if config.get("detectors") else "train.name"
    return [
        f"config key '{where}': {name!r} is the baseline's name (reserved for the paper's YOLOv4 detections or "
        f"their synthetic stand-in); give your detector another name"
        for name in names
        if name in reserved
    ]


#: Longest detector name: it names files and folders, with a fold's and a log's suffix beside it.
MAX_NAME_LENGTH = 64
#: Endings of the names the workflow makes from a detector's: a leave-one-surgeon-out fold's
#: (`<detector>-S3`: its predictions, detections and scores) and the folds' summary (`<detector>-loso`).
GENERATED_ENDINGS = re.compile(r"-(?:S\d+|loso)$")


def name_problems(config: Mapping[str, Any]) -> list[str]:
    """One line per detector name that could collide with the files of another detector or of a
    fold, or that a file system cannot hold; under any split, so that switching to
    leave-one-surgeon-out later cannot swap results.

    >>> [line.split(": ")[1][:40] for line in name_problems({"detectors": {"orc": {}, "orc-S1": {}, "Orc": {}}})]
    ["'orc-S1' ends like a leave-one-surgeon-o", "'Orc' and 'orc' differ only in case; on "]
    >>> name_problems({"train": {"name": "a" * 70}})[0][-60:]
    'racters) is too long: at most 64 characters (it names files)'
    """
    detectors = config.get("detectors")
    if isinstance(detectors, Mapping) and detectors:
        names, where = [str(name) for name in detectors], "detectors"
    else:
        names, where = [str((config.get("train") or {}).get("name", ""))], "train.name"
    messages, seen = [], {}
    for name in names:
        shown = f"{name[:40]}...' ({len(name)} characters)" if len(name) > MAX_NAME_LENGTH else f"{name}'"
        if len(name) > MAX_NAME_LENGTH:
            messages.append(
                f"config key '{where}': '{shown} is too long: at most {MAX_NAME_LENGTH} characters (it names files)"
            )
        ending = GENERATED_ENDINGS.search(name)
        if ending:
            messages.append(
                f"config key '{where}': '{shown} ends like a leave-one-surgeon-out "
                f"{'fold' if ending.group(0) != '-loso' else 'summary'}'s name (<detector>{ending.group(0)}), "
                "whose files it would share; give it another name"
            )
        other = seen.setdefault(name.lower(), name)
        if other != name:
            messages.append(
                f"config key '{where}': '{shown} and '{other}' differ only in case; on a case-insensitive file "
                "system they would share files: give one another name"
            )
    return messages


def reference_problem(reference: str, names: list[str]) -> str | None:
    """Why `leaderboard.reference` cannot be used with these detectors, or None.

    >>> reference_problem("auto", ["a"]), reference_problem("b", ["a"])
    (None, "config key 'leaderboard.reference': 'b' is not a detector of this run; known: a")
    """
    if reference == "auto" or reference in names:
        return None
    return f"config key 'leaderboard.reference': {reference!r} is not a detector of this run; known: {', '.join(names)}"


def scored_trials(kind: str, test_trials: list[str], covered: list[str]) -> list[str]:
    """The test trials a detector is scored on: all of them for a detector that predicted every test
    frame here (trained or a command), those its file covers for a detections file.

    >>> scored_trials("train", ["S1A2", "S4A1"], ["S4A1"]), scored_trials("file", ["S1A2", "S4A1"], ["S4A1", "S2A2"])
    (['S1A2', 'S4A1'], ['S4A1'])
    """
    if kind in ("train", "command", "weights"):
        return sorted(test_trials)
    return sorted(set(test_trials) & set(covered))


def problems(config: Mapping[str, Any], train_schema: Mapping[str, Any]) -> list[str]:
    """One message per invalid detector entry (the schema checks types; this checks meaning)."""
    import jsonschema

    from sospine.detectors.files import file_problem, fold_files_problems
    from sospine.detectors.weights import checksum_problem

    messages = []
    train_keys = set(train_schema.get("properties", {}))
    if not config.get("detectors"):
        problem = family_problem(str(config["train"].get("model", "")), "train.model")
        messages += [problem] if problem else []
    for name, own in (config.get("detectors") or {}).items():
        where = f"config key 'detectors.{name}'"
        if not isinstance(own, Mapping):
            messages.append(f"{where}: expected a mapping such as {{model: yolo11n.yaml}} or {{detections: file.csv}}")
            continue
        if "command" in own:
            messages += command_problems(name, own)
            continue
        if "weights" in own:
            messages += weights_problems(name, own)
            continue
        if "detections" in own:
            others = sorted(set(own) - {"detections"})
            if others:
                messages.append(
                    f"{where}: a detections file is scored as it is; {', '.join(others)} apply only "
                    "to trained detectors"
                )
            elif isinstance(own["detections"], Mapping):
                messages += fold_files_problems(name, own["detections"], config)
            elif problem := file_problem(own["detections"]):
                messages.append(f"config key 'detectors.{name}.detections': {problem}")
            continue
        for key in sorted(set(own) - train_keys | (set(own) & set(NOT_PER_DETECTOR))):
            allowed = ", ".join(sorted(train_keys - set(NOT_PER_DETECTOR)))
            messages.append(
                f"unknown config key '{key}' under 'detectors.{name}'; expected detections, command or one of: "
                f"{allowed}"
            )
        merged = {**dict(config["train"]), **{k: v for k, v in own.items() if k in train_keys}}
        model_where = f"detectors.{name}.model" if "model" in own else "train.model"
        problem = family_problem(str(merged.get("model", "")), model_where)
        if problem:
            messages.append(problem)
        validator = jsonschema.validators.validator_for(train_schema)(train_schema)
        for error in validator.iter_errors(merged):
            key = ".".join(str(p) for p in error.absolute_path)
            if key == "sha256":
                messages.append(checksum_problem(error.instance, f"detectors.{name}.sha256") or error.message)
            elif key.split(".")[0] in own:
                messages.append(f"config key 'detectors.{name}.{key}': {error.message}")
    return messages


def weights_problems(name: str, own: Mapping[str, Any]) -> list[str]:
    """What is wrong with a weights detector's entry: its keys, the file and its checksum."""
    from sospine.detectors.weights import checksum_problem

    where = f"config key 'detectors.{name}"
    messages = [
        f"unknown config key '{key}' under 'detectors.{name}'; a weights detector takes {', '.join(WEIGHTS_KEYS)}"
        for key in sorted(set(own) - set(WEIGHTS_KEYS))
    ]
    weights = own.get("weights")
    if not isinstance(weights, str) or not weights.endswith(".pt"):
        return [*messages, f"{where}.weights': expected the path of ultralytics weights (.pt), got {weights!r}"]
    if not Path(weights).is_file():
        messages.append(f"{where}.weights': {weights} does not exist")
    sha256 = own.get("sha256") or ""
    problem = checksum_problem(sha256, f"detectors.{name}.sha256")
    if problem:
        messages.append(problem)
    elif not sha256:
        messages.append(
            f"{where}.sha256': {weights} is a .pt file, a Python pickle that can run code when it is loaded: give "
            f"its sha256 (`sha256sum {weights}` prints it) once you trust the file"
        )
    for key, minimum in (("imgsz", 32), ("gpus", 0)):
        value = own.get(key, minimum)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            messages.append(f"{where}.{key}': expected a whole number of at least {minimum}, got {value!r}")
    return messages


def command_problems(name: str, own: Mapping[str, Any]) -> list[str]:
    """What is wrong with a command detector's entry (keys, types, placeholders of its command and of
    its prediction command, the checked file)."""
    from sospine.data.files import sha256sum
    from sospine.detectors.commands import PLACEHOLDERS, PREDICT_PLACEHOLDERS, checked_file
    from sospine.detectors.weights import checksum_problem

    where = f"config key 'detectors.{name}"
    messages = []
    for key in sorted(set(own) - set(COMMAND_KEYS)):
        messages.append(
            f"unknown config key '{key}' under 'detectors.{name}'; a command detector takes {', '.join(COMMAND_KEYS)}"
        )
    command = own.get("command")
    if not isinstance(command, str) or not command.strip():
        return [
            *messages,
            f"{where}.command': expected the shell command to run, e.g. 'python my_detector.py --output {{output}}'",
        ]
    messages += command_line_problems(f"{where}.command'", command, PLACEHOLDERS, "the command")
    predict = own.get("predict")
    if "predict" in own and (not isinstance(predict, str) or not predict.strip()):
        messages.append(
            f"{where}.predict': expected the shell command that detects tools in a recording's frames, e.g. "
            "'python my_detector.py predict --weights {work_dir}/best.pt --images {images} --output {output}'"
        )
        predict = None
    if predict:
        messages += command_line_problems(f"{where}.predict'", predict, PREDICT_PLACEHOLDERS, "the prediction command")
    for key, minimum in (("gpus", 0), ("threads", 1), ("mem_mb", 1), ("timeout_min", 1)):
        value = own.get(key, minimum)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            messages.append(f"{where}.{key}': expected a whole number of at least {minimum}, got {value!r}")
    if "device" in own and not isinstance(own["device"], str | int):
        messages.append(f"{where}.device': expected auto, cpu, cuda or a device index, got {own['device']!r}")
    sha256 = own.get("sha256") or ""
    if sha256:
        problem = checksum_problem(sha256, f"detectors.{name}.sha256")
        if problem:
            messages.append(problem)
        else:
            path = checked_file(command)
            if path is None:
                messages.append(f"{where}.sha256': the command names no existing file whose checksum could be checked")
            elif sha256sum(path) != sha256:
                messages.append(f"{where}.sha256': {path} has sha256 {sha256sum(path)}, not the configured {sha256}")
            elif predict and checked_file(predict) != path:
                runs = checked_file(predict) or "no file whose checksum could be checked"
                messages.append(
                    f"{where}.predict': it runs {runs}, not {path}, the file sha256 pins: let both commands run "
                    "that file (e.g. a predict subcommand of it)"
                )
    return messages


def command_line_problems(where: str, command: str, known: Mapping[str, str], what: str) -> list[str]:
    """What keeps a command line (a command detector's `command`, or its prediction command) from
    being filled in and run: a placeholder it cannot fill, an unbalanced quote, one of its placeholders
    not `known` (sospine.detectors.commands' PLACEHOLDERS or PREDICT_PLACEHOLDERS), no `{output}`. `where`
    names the key ("config key 'detectors.x.command'"), `what` the command in the last message.

    >>> for line in command_line_problems("'detectors.x.predict'", "det.py {coco}", {"output": ""}, "it"):
    ...     print(line)
    'detectors.x.predict': unknown placeholder(s) {coco}; known: output
    'detectors.x.predict': it must write its detections to {output}
    """
    from sospine.detectors.commands import placeholder_problem, unknown_placeholders

    messages = []
    problem = placeholder_problem(command)
    if problem:
        messages.append(f"{where}: {problem}")
    try:
        shlex.split(command)
    except ValueError as error:  # bash would stop at it too, after the job started
        messages.append(f"{where}: {error} (an unbalanced quote)")
    unknown = unknown_placeholders(command, known)
    if unknown:
        messages.append(f"{where}: unknown placeholder(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if "{output}" not in command:
        messages.append(f"{where}: {what} must write its detections to {{output}}")
    return messages
