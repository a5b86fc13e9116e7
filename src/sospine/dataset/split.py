"""Trial-level splits: never by frame, so neighbouring near-identical frames stay together."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd


class SplitError(ValueError):
    pass


def surgeon_of(trial: str) -> str | None:
    """`S4A1` -> `S4`; Clip trials have no surgeon."""
    return trial.split("A")[0] if trial.startswith("S") else None


def _pick(items: list[str], n: int, rng: np.random.Generator) -> list[str]:
    return sorted(rng.choice(items, size=min(n, len(items)), replace=False).tolist()) if n and items else []


def assign_trials(
    trials: list[str],
    *,
    method: str,
    test_trials: list[str],
    val_trials: int,
    test_fraction: float,
    seed: int,
) -> dict[str, pd.DataFrame]:
    """Fold name -> table `trial,split` (train/val/test). One fold unless leave-one-surgeon-out."""
    rng = np.random.default_rng(seed)
    trials = sorted(set(trials))

    def fold(test: list[str]) -> pd.DataFrame:
        rest = [t for t in trials if t not in test]
        val = _pick(rest, val_trials, rng)
        split = {t: "test" if t in test else "val" if t in val else "train" for t in trials}
        return pd.DataFrame({"trial": trials, "split": [split[t] for t in trials]})

    if method == "paper":
        unknown = [t for t in test_trials if t not in trials]
        if unknown:  # a typo must not shrink the test set silently
            raise SplitError(
                f"split.test_trials {unknown} {'is' if len(unknown) == 1 else 'are'} not among the annotated "
                f"trials {trials}"
            )
        test = list(test_trials)
        return {"main": fold(test)}
    if method == "random":
        n_test = max(1, int(round(test_fraction * len(trials))))
        if n_test >= len(trials):
            raise SplitError(f"split.test_fraction {test_fraction} leaves no training trial among {len(trials)}")
        return {"main": fold(_pick(trials, n_test, rng))}
    if method == "leave_one_surgeon_out":
        surgeons = sorted({s for t in trials if (s := surgeon_of(t))}, key=lambda s: int(s[1:]))
        if len(surgeons) < 2:
            raise SplitError(f"leave_one_surgeon_out needs at least two surgeons, found {surgeons}")
        return {s: fold([t for t in trials if surgeon_of(t) == s]) for s in surgeons}
    raise SplitError(f"unknown split.method {method!r}")


def frames_split(
    frames: pd.DataFrame, fold: pd.DataFrame, *, validation: str, val_frames: int, seed: int
) -> pd.DataFrame:
    """Per frame (`trial_frame`, `trial`) its split in one fold.

    validation='frames' is the paper's choice: `val_frames` random frames of the training trials.
    """
    out = frames[["trial_frame", "trial"]].drop_duplicates("trial_frame").merge(fold, on="trial", how="left")
    if validation == "frames":
        out.loc[out["split"] == "val", "split"] = "train"
        train = np.flatnonzero(out["split"].to_numpy() == "train")
        chosen = np.random.default_rng(seed).choice(train, size=min(val_frames, len(train)), replace=False)
        out.loc[out.index[chosen], "split"] = "val"
    return out


def split_dataset(
    frames: pd.DataFrame, settings: Mapping
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    """The split of `frames` (one row per frame, with `trial`) by the `split` settings of the config.

    Returns the folds (name -> `trial,split`), the trial table (`trial,split`; leave-one-surgeon-out:
    the surgeon number a trial is tested in, `train` for the Clip trials) and the frame table of the
    main fold (the first fold for leave-one-surgeon-out).
    """
    trials = sorted(frames["trial"].unique())
    folds = assign_trials(
        trials,
        method=settings["method"],
        test_trials=settings["test_trials"],
        val_trials=settings["val_trials"],
        test_fraction=settings["test_fraction"],
        seed=settings["seed"],
    )
    if settings["method"] == "leave_one_surgeon_out":
        tested_in = {t: name[1:] for name, fold in folds.items() for t in fold.loc[fold["split"] == "test", "trial"]}
        trial_table = pd.DataFrame({"trial": trials})
        trial_table["split"] = trial_table["trial"].map(tested_in).fillna("train")
        first_fold = next(iter(folds.values()))
    else:
        trial_table = first_fold = folds["main"]
    frame_table = frames_split(
        frames, first_fold, validation=settings["validation"], val_frames=settings["val_frames"], seed=settings["seed"]
    )
    return folds, trial_table, frame_table


def test_trials_of(split_table: pd.DataFrame) -> list[str]:
    """The test trials of a `trial,split` (or `trial_frame,trial,split`) table, sorted.

    >>> test_trials_of(pd.DataFrame({"trial": ["S1A2", "Clip0", "S1A2"], "split": ["test", "train", "test"]}))
    ['S1A2']
    """
    return sorted(split_table.loc[split_table["split"] == "test", "trial"].unique())


def tested_trials(split_table: pd.DataFrame) -> list[str]:
    """The trials a split table tests: `test` in a frames or trials table, and under
    leave-one-surgeon-out every trial with a fold (the pooled out-of-fold trials), sorted.

    >>> tested_trials(pd.DataFrame({"trial": ["S1A2", "S2A2", "Clip0", "S3A1"], "split": ["1", "2", "train", "val"]}))
    ['S1A2', 'S2A2']
    """
    return sorted(split_table.loc[~split_table["split"].astype(str).isin(["train", "val"]), "trial"].unique())
