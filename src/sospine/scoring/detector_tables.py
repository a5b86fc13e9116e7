"""Detectors' validated detections and the test trials each is scored on: read once, the same way,
for scoring, the leaderboard and presence AP."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from sospine.dataset.split import tested_trials
from sospine.detectors.kinds import scored_trials
from sospine.tables import split_frame_names
from sospine.validation import read_validated


def covered_trials(detections: pd.DataFrame) -> list[str]:
    """The trials a detections table has detections in, sorted."""
    return sorted(split_frame_names(detections["trial_frame"])["trial"].dropna().unique())


def trials_of(kind: str, split_csv: str | Path, detections: pd.DataFrame) -> list[str]:
    """The test trials a detector is scored on: every tested trial of the split for one that
    predicted here (a fold's, or all folds' under leave-one-surgeon-out), those its file covers for
    a detections file."""
    tested = tested_trials(pd.read_csv(split_csv, dtype=str))
    return scored_trials(kind, tested, covered_trials(detections))


#: How `coverage_note` begins (the front page finds it in the paired table's note by it).
COVERAGE_NOTE_START = "the board is on the"


class ScoredTrials(dict[str, list[str]]):
    """Detector -> the test trials it is scored on, as `read_detector_tables` gives it: also the
    split's tested trials (`tested`) and each detector's detections files (`files`), so that a board
    ranked on the trials all detectors share can say whose file left trials out (`coverage_note`)."""

    def __init__(
        self,
        trials: Mapping[str, list[str]] | None = None,
        *,
        tested: Iterable[str] = (),
        files: Mapping[str, list[str]] | None = None,
    ) -> None:
        super().__init__(trials or {})
        self.tested = sorted(tested)
        self.files = {name: list(paths) for name, paths in (files or {}).items()}


def coverage_note(trials_of: Mapping[str, list[str]]) -> str | None:
    """Which detectors' detections lack test trials that the split tests, and so shrink the trials
    every detector is ranked on, naming each one's file and the trials it lacks; None when all cover
    every tested trial. The tested trials are `trials_of.tested` (a `ScoredTrials`), else all the
    trials of any detector.

    >>> trials = ScoredTrials({"yolo": ["Clip0", "S4A1"], "theirs": ["S4A1"]}, tested=["Clip0", "S4A1"],
    ...     files={"theirs": ["results/detections/theirs.csv"]})
    >>> shared, named = coverage_note(trials).split(": ")
    >>> shared
    "the board is on the 1 test trial all detectors share (S4A1), not the split's 2"
    >>> named
    'theirs (results/detections/theirs.csv) has no detection in Clip0'
    """
    if not trials_of:
        return None
    tested = set(getattr(trials_of, "tested", None) or set().union(*map(set, trials_of.values())))
    files = getattr(trials_of, "files", {})
    lacking = {name: sorted(tested - set(trials)) for name, trials in trials_of.items() if tested - set(trials)}
    if not lacking:
        return None
    shared = sorted(set.intersection(*(set(trials) for trials in trials_of.values())))
    named = [
        f"{name}{' (' + ', '.join(map(str, files[name])) + ')' if files.get(name) else ''} has no detection in "
        f"{' '.join(missing)}"
        for name, missing in lacking.items()
    ]
    plural = "s" if len(shared) != 1 else ""
    return (
        f"{COVERAGE_NOTE_START} {len(shared)} test trial{plural} all detectors share ({' '.join(shared) or 'none'}), "
        f"not the split's {len(tested)}: {' and '.join(named)}"
    )


def read_detector_tables(
    paths: Iterable[str | Path], files_per_detector: Mapping[str, int], kinds: Mapping[str, str], split_csv: str | Path
) -> tuple[dict[str, pd.DataFrame], ScoredTrials]:
    """Detector -> its validated detections (its files in order, one per leave-one-surgeon-out fold,
    concatenated), and detector -> the test trials it is scored on (`trials_of`), as `ScoredTrials`
    (knowing the split's tested trials and every detector's files: `coverage_note`)."""
    files = iter(paths)
    tables, scored, read_from = {}, {}, {}
    for name, count in files_per_detector.items():
        read_from[name] = [str(next(files)) for _ in range(count)]
        tables[name] = pd.concat([read_validated(path) for path in read_from[name]], ignore_index=True)
        scored[name] = trials_of(kinds[name], split_csv, tables[name])
    tested = tested_trials(pd.read_csv(split_csv, dtype=str))
    return tables, ScoredTrials(scored, tested=tested, files=read_from)


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
