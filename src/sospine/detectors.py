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


@dataclass(frozen=True)
class Detector:
    name: str
    kind: Literal["train", "file"]
    settings: dict[str, Any] = field(default_factory=dict)  # trained: the merged train settings
    path: str = ""  # file: the detections CSV

    @property
    def trained(self) -> bool:
        return self.kind == "train"


def resolve(config: Mapping[str, Any], baseline: str | None) -> dict[str, Detector]:
    """Detector name -> Detector, in the configured order, the baseline (when there is one) last.

    With no `detectors` the run trains one detector, `train.name`, with the `train` settings.

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
            settings = {**train, **own, "name": name}
            found[name] = Detector(name, "train", settings=settings)
    if baseline:
        base_name = (config.get("baseline") or {}).get("name", "yolov4_paper")
        found.setdefault(base_name, Detector(base_name, "file", path=str(baseline)))
    return found


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
