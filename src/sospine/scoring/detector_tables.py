"""Detectors' validated detections and the test trials each is scored on: read once, the same way,
for scoring, the leaderboard and presence AP."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from ..detectors import scored_trials
from ..split import tested_trials
from ..tables import split_frame_names
from ..validation import read_validated


def covered_trials(detections: pd.DataFrame) -> list[str]:
    """The trials a detections table has detections in, sorted."""
    return sorted(split_frame_names(detections["trial_frame"])["trial"].dropna().unique())


def trials_of(kind: str, split_csv: str | Path, detections: pd.DataFrame) -> list[str]:
    """The test trials a detector is scored on: every tested trial of the split for one that
    predicted here (a fold's, or all folds' under leave-one-surgeon-out), those its file covers for
    a detections file."""
    tested = tested_trials(pd.read_csv(split_csv, dtype=str))
    return scored_trials(kind, tested, covered_trials(detections))


def read_detector_tables(
    paths: Iterable[str | Path], files_per_detector: Mapping[str, int], kinds: Mapping[str, str], split_csv: str | Path
) -> tuple[dict[str, pd.DataFrame], dict[str, list[str]]]:
    """Detector -> its validated detections (its files in order, one per leave-one-surgeon-out fold,
    concatenated), and detector -> the test trials it is scored on (`trials_of`)."""
    files = iter(paths)
    tables, scored = {}, {}
    for name, count in files_per_detector.items():
        tables[name] = pd.concat([read_validated(next(files)) for _ in range(count)], ignore_index=True)
        scored[name] = trials_of(kinds[name], split_csv, tables[name])
    return tables, scored


def out_of_fold_table(
    fold_tables: Mapping[str, pd.DataFrame], trials: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, int]]:
    """One detector's detections given as a file per leave-one-surgeon-out fold, joined: each
    fold's rows on the trials that fold tests (`trials`: `trial,split`, the split being the number
    of the surgeon whose fold tests it), and per fold how many rows were on other trials (left out).

    >>> trials = pd.DataFrame({"trial": ["S1A1", "S2A1", "Clip0"], "split": ["1", "2", "train"]})
    >>> row = lambda trial: {"trial_frame": f"{trial}_frame_00000001.jpg", "score": 0.5}
    >>> folds = {"S1": pd.DataFrame([row("S1A1"), row("S2A1")]), "S2": pd.DataFrame([row("S2A1")])}
    >>> table, left = out_of_fold_table(folds, trials)
    >>> table["trial_frame"].str[:4].tolist(), left
    (['S1A1', 'S2A1'], {'S1': 1, 'S2': 0})
    """
    tested_in = dict(zip(trials["trial"].astype(str), trials["split"].astype(str), strict=True))
    parts, left_out = [], {}
    for fold, table in fold_tables.items():
        trial = split_frame_names(table["trial_frame"])["trial"]
        mine = (trial.map(tested_in) == fold.removeprefix("S")).to_numpy()
        parts.append(table[mine])
        left_out[fold] = int((~mine).sum())
    return pd.concat(parts, ignore_index=True), left_out
