"""Modules that moved when the library was laid out by stage (data, dataset, detectors, scoring,
analytics, provenance) stay importable under their old names: `import sospine.fetch` gives the
module `sospine.data.fetch` itself, not a copy.

Why: Snakemake reruns a job whose script is newer than its outputs, so the shipped scripts upstream
of training and prediction (workflow/scripts/fetch.py, mirror.py, synthesize.py, validate.py,
boxes.py, split.py, fold_frames.py, export_yolo.py, fetch_weights.py, command_detector.py, train.py,
predict.py, predict_weights.py) keep their imports byte for byte: upgrading a checkout must not
retrain. Users' own code that imported the old names keeps working too. New code uses the new names.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType

#: old module name -> where it lives now
MOVED = {
    f"sospine.{old}": f"sospine.{new}"
    for old, new in {
        "fetch": "data.fetch",
        "resume": "data.resume",
        "synth": "data.synth",
        "synth_detections": "data.synth_detections",
        "video": "data.video",
        "files": "data.files",
        "boxes": "dataset.boxes",
        "split": "dataset.split",
        "export": "dataset.export",
        "stats": "dataset.stats",
        "commands": "detectors.commands",
        "train": "detectors.train",
        "train_records": "detectors.train_records",
        "weights": "detectors.weights",
        "checkpoints": "detectors.checkpoints",
        "leaderboard": "scoring.leaderboard",
        "permutation": "scoring.permutation",
        "resources": "scoring.resources",
        "recordings": "analytics.recordings",
        "records": "provenance.records",
        "inputs": "provenance.inputs",
        "locks": "provenance.locks",
    }.items()
}


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old module name last (a real module of that name would win) and loads it as the
    module it moved to."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        """The module it moved to is already executed."""


def install() -> None:
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(MovedModules())
