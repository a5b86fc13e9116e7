"""Which detectors a run trains, reads and ranks: the `detectors:` mapping of the configuration.

A detector is either *trained* (an ultralytics model; its settings are `train`'s with the detector's
own keys on top) or a *file* (detections someone made elsewhere, in the published CSV format). The
paper's YOLOv4 detections join as a file detector when the data source has them.
"""

from __future__ import annotations

from collections.abc import Mapping
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


@dataclass(frozen=True)
class Detector:
    name: str
    kind: Literal["train", "file"]
    settings: dict[str, Any] = field(default_factory=dict)  # trained: the merged train settings
    path: str = ""  # file: the detections CSV

    @property
    def trained(self) -> bool:
        return self.kind == "train"


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
        if "detections" in own:
            found[name] = Detector(name, "file", path=str(own["detections"]))
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


def reference_problem(reference: str, names: list[str]) -> str | None:
    """Why `leaderboard.reference` cannot be used with these detectors, or None.

    >>> reference_problem("auto", ["a"]), reference_problem("b", ["a"])
    (None, "config key 'leaderboard.reference': 'b' is not a detector of this run; known: a")
    """
    if reference == "auto" or reference in names:
        return None
    return f"config key 'leaderboard.reference': {reference!r} is not a detector of this run; known: {', '.join(names)}"


def scored_trials(kind: str, test_trials: list[str], covered: list[str]) -> list[str]:
    """The test trials a detector is scored on: all of them for a trained detector (it predicted
    every test frame), those its file covers for a detections file.

    >>> scored_trials("train", ["S1A2", "S4A1"], ["S4A1"]), scored_trials("file", ["S1A2", "S4A1"], ["S4A1", "S2A2"])
    (['S1A2', 'S4A1'], ['S4A1'])
    """
    if kind == "train":
        return sorted(test_trials)
    return sorted(set(test_trials) & set(covered))


def problems(config: Mapping[str, Any], train_schema: Mapping[str, Any]) -> list[str]:
    """One message per invalid detector entry (the schema checks types; this checks meaning)."""
    import jsonschema

    messages = []
    train_keys = set(train_schema.get("properties", {}))
    for name, own in (config.get("detectors") or {}).items():
        where = f"config key 'detectors.{name}'"
        if not isinstance(own, Mapping):
            messages.append(f"{where}: expected a mapping such as {{model: yolo11n.yaml}} or {{detections: file.csv}}")
            continue
        if "detections" in own:
            others = sorted(set(own) - {"detections"})
            if others:
                messages.append(
                    f"{where}: a detections file is scored as it is; {', '.join(others)} apply only "
                    "to trained detectors"
                )
            elif not Path(str(own["detections"])).is_file():
                messages.append(f"config key 'detectors.{name}.detections': {own['detections']} does not exist")
            continue
        for key in sorted(set(own) - train_keys | (set(own) & set(NOT_PER_DETECTOR))):
            allowed = ", ".join(sorted(train_keys - set(NOT_PER_DETECTOR)))
            messages.append(
                f"unknown config key '{key}' under 'detectors.{name}'; expected detections or one of: {allowed}"
            )
        merged = {**dict(config["train"]), **{k: v for k, v in own.items() if k in train_keys}}
        validator = jsonschema.validators.validator_for(train_schema)(train_schema)
        for error in validator.iter_errors(merged):
            key = ".".join(str(p) for p in error.absolute_path)
            if key.split(".")[0] in own:
                messages.append(f"config key 'detectors.{name}.{key}': {error.message}")
    return messages
