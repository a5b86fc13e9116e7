"""Which places on the board its tests support: each detector is tested against the one directly
above it (the step tests), Holm-adjusted with every test the board reports, and shares the rank group
of the one above unless that test separates them (docs/reproducing.md, "Places on the board")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from sospine.statistics import holm

#: The level at which the board tells two detectors apart (after Holm's adjustment).
ALPHA = 0.05


def step_pairs(order: Sequence[str], reference: str) -> dict[str, tuple[str, str]]:
    """Each detector but the first on the board (`order`, best first) -> the pair its step test
    compares: it and the detector directly above it, oriented as the paired table orients a pair
    (detector minus reference), between two others lower minus upper."""
    return {low: (up, low) if low == reference else (low, up) for up, low in zip(order, order[1:], strict=False)}


def step_p_values(
    table: pd.DataFrame, raw: Mapping[str, float], steps: Mapping[str, tuple[str, str]]
) -> tuple[dict[str, float], dict[str, float]]:
    """Each step's p-value (detector -> p of its test against the one above, all classes) and the
    same Holm-adjusted across every test the board reports: the rows of the paired table `table` and
    the steps it does not hold (between two detectors neither of which is the reference). A step
    against the reference is the table's own `all` row, so its adjusted p is never below the table's
    `p_holm`: what the board's groups tell apart, its paired table does too."""
    reference = table["reference"].iat[0] if len(table) else None
    family = list(table["p_value"].astype(float))
    where = {}
    for name, pair in steps.items():
        if reference in pair:
            row = (table["detector"] == pair[0]).to_numpy() & (table["label"] == "all").to_numpy()
            where[name] = int(np.flatnonzero(row)[0])
        else:
            where[name] = len(family)
            family.append(raw[name])
    adjusted = holm(family) if family else np.array([])
    return dict(raw), {name: float(adjusted[i]) for name, i in where.items()}


def rank_groups(order: Sequence[str], p_above: Mapping[str, float], alpha: float = ALPHA) -> dict[str, int]:
    """Each detector's rank group, given the board's order (best first) and, for every detector but
    the first, the (Holm-adjusted) p-value of its paired test against the detector directly above.

    Walking down the board, a detector starts a new group when that p-value is below `alpha`, or when
    there is none (NaN or missing: no test, so it is not put with the one above); otherwise it shares
    the group of the one above. A group is named by the rank (1-based place) of its first detector.
    Only neighbours are tested, so a group can hold two detectors that a test of them against each
    other would tell apart (A ~ B and B ~ C put A, B, C together even when A differs from C).

    >>> rank_groups(["a", "b", "c", "d"], {"b": 0.6, "c": 0.01, "d": 0.2})
    {'a': 1, 'b': 1, 'c': 3, 'd': 3}
    """
    groups: dict[str, int] = {}
    for place, name in enumerate(order, start=1):
        p = p_above.get(name, np.nan) if place > 1 else np.nan
        starts = place == 1 or not (p >= alpha)  # NaN: no test, a group of its own
        groups[name] = place if starts else groups[order[place - 2]]
    return groups
