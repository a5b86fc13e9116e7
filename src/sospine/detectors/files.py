"""Detections given as files: why a configured path names no readable CSV, and what is wrong with a
detector given as one file per leave-one-surgeon-out fold."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def fold_files_problems(name: str, folds: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """What is wrong with a detections detector given one file per leave-one-surgeon-out fold.

    >>> fold_files_problems("m", {"S1": "/nonexistent.csv", "x": "b.csv"}, {"split": {"method": "paper"}})[0][:78]
    "config key 'detectors.m.detections': one file per fold needs split.method: lea"
    """
    where = f"config key 'detectors.{name}.detections"
    messages = []
    if (config.get("split") or {}).get("method") != "leave_one_surgeon_out":
        messages.append(
            f"{where}': one file per fold needs split.method: leave_one_surgeon_out (the folds are its surgeons); "
            "under another split give one file: {detections: file.csv}"
        )
    if not folds:
        messages.append(f"{where}': no fold given: one file per fold, {{S1: s1.csv, S2: s2.csv, ...}}, or one file")
    seen: dict[Path, str] = {}
    for fold, path in folds.items():
        if not re.fullmatch(r"S[1-9]\d*", str(fold)):
            messages.append(f"{where}.{fold}': a fold is named by its surgeon (S1, S2, ...), not {fold!r}")
        elif problem := file_problem(path):
            messages.append(f"{where}.{fold}': {problem}")
        elif (same := seen.setdefault(Path(path).resolve(), str(fold))) != str(fold):
            messages.append(
                f"{where}.{fold}': the same file as {same}; each fold's file is made without that fold's surgeon, "
                "so no two folds share one"
            )
    return messages


def file_problem(path: object) -> str | None:
    """Why `path` names no readable file, in words, or None.

    >>> file_problem(None), file_problem("/")
    ('expected the path of a CSV file, got None', '/ is a folder, not a file')
    """
    if not isinstance(path, str):
        return f"expected the path of a CSV file, got {path!r}"
    if not path:
        return "is empty: expected the path of a CSV file"
    if Path(path).is_dir():
        return f"{path} is a folder, not a file"
    return None if Path(path).is_file() else f"{path} does not exist"
