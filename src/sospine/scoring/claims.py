"""What a leave-one-surgeon-out board may claim: only detectors whose every test trial was predicted
by a model that never saw that trial's surgeon (out of fold) get p-values and intervals. A
detections file made elsewhere is not out of fold (the paper's YOLOv4 was trained on the same
surgeons' other attempts) unless it comes as one file per fold."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from sospine.scoring.leaderboard import RECOMMENDATION
from sospine.scoring.places import rank_groups, step_p_values, step_pairs
from sospine.statistics import POOLED_TRIALS, holm

#: Why a detector has no p-value or interval on a leave-one-surgeon-out board.
NOT_OUT_OF_FOLD = (
    "not out of fold: {names} {verb} not made without each fold's surgeon (a detections file made elsewhere), so "
    "{pronoun} no p-value or interval; give one file per fold ({{detections: {{S1: file.csv, ...}}}}) to rank "
    "{object} out of fold"
)


def not_out_of_fold_note(out_of_fold: Mapping[str, bool]) -> str | None:
    """One sentence naming the detectors that are not out of fold and why, or None.

    >>> not_out_of_fold_note({"yolo": True, "yolov4_paper": False})[:70]
    "not out of fold: yolov4_paper was not made without each fold's surgeon"
    """
    names = [name for name, held_out in out_of_fold.items() if not held_out]
    if not names:
        return None
    one = len(names) == 1
    return NOT_OUT_OF_FOLD.format(
        names=", ".join(names),
        verb="was" if one else "were",
        pronoun="it has" if one else "they have",
        object="it" if one else "them",
    )


def held_out(board: pd.DataFrame) -> dict[str, bool]:
    """Detector -> `out_of_fold`, from a leaderboard that has the column."""
    return board.drop_duplicates("detector").set_index("detector")["out_of_fold"].astype(bool).to_dict()


def withhold_claims(
    board: pd.DataFrame, paired: pd.DataFrame, out_of_fold: Mapping[str, bool]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The board and paired table of a leave-one-surgeon-out run with `out_of_fold` marked and every
    claim about a detector that is not out of fold withheld: its intervals, the paired tests it
    takes part in (p-values, Holm adjustments of the rest recomputed without them) and its step test
    against the detector above (so it has a rank group of its own). The advice to use
    leave-one-surgeon-out goes: this run does."""
    board, paired = board.copy(), paired.copy()
    held = board["detector"].map(lambda name: bool(out_of_fold.get(name, True)))
    board["out_of_fold"] = held
    for advice in (f"; {RECOMMENDATION}", POOLED_TRIALS):  # this run uses leave-one-surgeon-out
        paired["note"] = paired["note"].str.replace(advice, "", regex=False)
    withheld = set(board.loc[~held, "detector"])
    if not withheld:
        return board, paired
    board.loc[~held, ["ci95_low", "ci95_high"]] = np.nan
    rows = paired["detector"].isin(withheld) | paired["reference"].isin(withheld)
    paired.loc[rows, ["ci95_low", "ci95_high", "p_value"]] = np.nan
    paired["p_holm"] = holm(paired["p_value"].to_numpy(float)) if len(paired) else []
    if len(paired):
        paired["note"] = paired["note"] + "; " + not_out_of_fold_note(out_of_fold)
    order = list(board.drop_duplicates("detector").sort_values("rank", kind="stable")["detector"])
    reference = paired["reference"].iat[0] if len(paired) else None
    steps = step_pairs(order, reference)
    before = board.drop_duplicates("detector").set_index("detector")["p_vs_above"].to_dict()
    raw = {name: np.nan if set(pair) & withheld else before.get(name, np.nan) for name, pair in steps.items()}
    _, adjusted = step_p_values(paired, raw, steps)
    board["p_vs_above"] = board["detector"].map(raw).astype(float)
    board["p_vs_above_holm"] = board["detector"].map(adjusted).astype(float)
    board["rank_group"] = board["detector"].map(rank_groups(order, adjusted))
    return board, paired


def withhold_presence_claims(
    table: pd.DataFrame, paired: pd.DataFrame, out_of_fold: Mapping[str, bool]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Presence AP's table and paired tests under leave-one-surgeon-out, as `withhold_claims` treats
    the board: a detector that is not out of fold keeps its presence AP but has no interval and takes
    part in no paired test (Holm adjusts the tests that remain)."""
    table, paired = table.copy(), paired.copy()
    withheld = {name for name, held in out_of_fold.items() if not held}
    table.loc[table["detector"].isin(withheld), ["ci95_low", "ci95_high"]] = np.nan
    rows = paired["detector"].isin(withheld) | paired["reference"].isin(withheld)
    paired.loc[rows, "p_value"] = np.nan
    paired["p_holm"] = holm(paired["p_value"].to_numpy(float)) if len(paired) else []
    return table, paired
