"""Exact paired permutation tests over test trials, for AP differences between two detectors.

The question a leaderboard answers is whether one detector beats another beyond the noise of the
test trials. Under the null hypothesis that the two are exchangeable within each trial, swapping
their detections inside any set of trials leaves the distribution of the AP difference unchanged.
With n test trials there are 2^n such arrangements; the p-value is the share of them whose
difference is at least as large (in absolute value) as the observed one, the observed arrangement
included, so it is never 0 and never below 2 / 2^n (the arrangement and its mirror image): 0.125
with the paper's four test trials. Above `EXACT_MAX_TRIALS` trials a seeded Monte Carlo sample of
arrangements replaces the full enumeration; its resolution is 1 / (samples + 1).

Every arrangement is scored as the leaderboard scores (VOC all-point AP at the configured IoU, the
mAPs as means of the APs of the classes with truth in the trials, `scored_classes`) without matching
again: a detection's true-positive flag depends only on its own frame's truth, so each detector is
matched once per trial and an arrangement only decides which detector's detections of a trial count
for which side. The two detectors' detections of a class are merged once in the leaderboard's rank
order (score, then frame and box, a total order), so each side's ranking under any arrangement is a
subsequence of that merge; cumulative counts at each true positive are a matrix product of the
arrangements with per-trial count differences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sospine.constants import BOX_LABELS, COORDS, INSTRUMENTS
from sospine.statistics import EXACT_MAX_TRIALS, MONTE_CARLO_SAMPLES, arrangements, holm, smallest_p

__all__ = [
    "EXACT_MAX_TRIALS",
    "MONTE_CARLO_SAMPLES",
    "arrangements",
    "holm",
    "paired_permutation",
    "scored_classes",
    "smallest_p",
]

#: Differences this close to the observed one count as equal (floating-point sums in another order).
TOLERANCE = 1e-12
_CHUNK = 1024  # arrangements scored at once


def scored_classes(n_truth: Mapping[str, float], group: Sequence[str] = BOX_LABELS) -> list[str]:
    """The classes of `group` that a mean AP averages: those with a truth box in the scored trials (a
    class without any has no AP, and a swap of detections between trials never gives it one).

    >>> scored_classes({"needle": 3, "grasper": 0}, ["needle", "grasper", "nerve hook"])
    ['needle']
    """
    return [label for label in group if n_truth.get(label, 0) > 0]


@dataclass
class _Merged:
    """One class's detections of both detectors, merged in rank order, seen at its true positives."""

    n_truth: float
    owner_b: np.ndarray  # (K,) bool: the true positive is detector B's
    trial: np.ndarray  # (K,) trial index of each true positive
    base_all: np.ndarray  # (K,) A's detections (any trial) ranked at or above each true positive
    base_tp: np.ndarray  # (K,) A's true positives at or above it
    diff_all: np.ndarray  # (n, K) per trial: B's detections minus A's, at or above it
    diff_tp: np.ndarray  # (n, K) the same for true positives
    total_all: np.ndarray  # (K,) detections of both at or above it
    total_tp: np.ndarray  # (K,) true positives of both at or above it


def _merge(a: pd.DataFrame, b: pd.DataFrame, trials: Sequence[str], n_truth: float) -> _Merged:
    order = ["score", "stem", "label", *COORDS]
    parts = [part for part in (a.assign(_b=False), b.assign(_b=True)) if len(part)]
    both = pd.concat(parts, ignore_index=True) if parts else a.assign(_b=False)
    both = both.sort_values(order, ascending=[False] + [True] * 6, kind="mergesort").reset_index(drop=True)
    index = {t: i for i, t in enumerate(trials)}
    trial = both["trial"].astype(object).map(index).to_numpy(dtype=int)
    owner_b = both["_b"].to_numpy(bool)
    tp = both["tp"].to_numpy(bool)
    n = len(trials)
    # per trial, cumulative counts of each detector's detections and true positives down the ranking
    one_hot = np.zeros((n, len(both)), dtype=np.float64)
    one_hot[trial, np.arange(len(both))] = 1.0
    a_all = np.cumsum(one_hot * ~owner_b, axis=1)
    b_all = np.cumsum(one_hot * owner_b, axis=1)
    a_tp = np.cumsum(one_hot * (~owner_b & tp), axis=1)
    b_tp = np.cumsum(one_hot * (owner_b & tp), axis=1)
    at = np.flatnonzero(tp)
    return _Merged(
        n_truth=float(n_truth),
        owner_b=owner_b[at],
        trial=trial[at],
        base_all=a_all[:, at].sum(axis=0),
        base_tp=a_tp[:, at].sum(axis=0),
        diff_all=(b_all - a_all)[:, at],
        diff_tp=(b_tp - a_tp)[:, at],
        total_all=np.arange(1, len(both) + 1, dtype=np.float64)[at],
        total_tp=np.cumsum(tp)[at].astype(np.float64),
    )


def _side_ap(included: np.ndarray, tp_count: np.ndarray, all_count: np.ndarray, n_truth: float) -> np.ndarray:
    """VOC all-point AP of one side in each arrangement (rows), from its counts at the true positives."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(included, tp_count / all_count, 0.0)
    envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    return (envelope * included).sum(axis=1) / n_truth


def _class_differences(merged: _Merged, swapped: np.ndarray) -> np.ndarray:
    """AP(A) - AP(B) of one class in every arrangement."""
    if merged.n_truth <= 0:
        return np.full(len(swapped), np.nan)
    if not len(merged.trial):
        return np.zeros(len(swapped))  # no true positive on either side: both APs are 0
    out = np.empty(len(swapped))
    for start in range(0, len(swapped), _CHUNK):
        s = swapped[start : start + _CHUNK].astype(np.float64)
        a_all = merged.base_all + s @ merged.diff_all
        a_tp = merged.base_tp + s @ merged.diff_tp
        a_in = ~(merged.owner_b[None, :] ^ (s[:, merged.trial] > 0.5))  # A-side: A unswapped, B swapped
        ap_a = _side_ap(a_in, a_tp, a_all, merged.n_truth)
        ap_b = _side_ap(~a_in, merged.total_tp - a_tp, merged.total_all - a_all, merged.n_truth)
        out[start : start + len(s)] = ap_a - ap_b
    return out


@dataclass
class PermutationTest:
    """The paired permutation distribution of every label's AP difference (A - B)."""

    differences: dict[str, np.ndarray]  # label (classes, instruments, all) -> difference per arrangement
    exact: bool
    n_trials: int

    @property
    def n_arrangements(self) -> int:
        return len(next(iter(self.differences.values())))

    def observed(self, label: str) -> float:
        return float(self.differences[label][0])

    def p_value(self, label: str) -> float:
        """Two-sided: the share of arrangements at least as far from 0 as the observed one (exact), or
        (1 + such samples) / (1 + samples) for a Monte Carlo sample; never 0."""
        values = self.differences[label]
        if np.isnan(values[0]):
            return float("nan")
        extreme = np.abs(values) >= abs(values[0]) - TOLERANCE * max(1.0, abs(values[0]))
        if self.exact:
            return float(extreme.mean())
        return float(extreme.sum() / len(values))  # the observed arrangement is row 0: (1 + k) / (1 + N)

    @property
    def resolution(self) -> float:
        """The step between attainable p-values: 1 / 2^n exact, 1 / (samples + 1) sampled."""
        return 1.0 / self.n_arrangements

    def describe(self) -> str:
        if self.exact:
            return (
                f"exact paired permutation test over {self.n_trials} test trials ({self.n_arrangements} arrangements)"
            )
        return (
            f"Monte Carlo paired permutation test over {self.n_trials} test trials ({self.n_arrangements - 1} "
            f"random arrangements and the observed one; p-value resolution {self.resolution:.1g})"
        )


def paired_permutation(
    a: pd.DataFrame,
    b: pd.DataFrame,
    n_truth: Mapping[str, float],
    trials: Sequence[str],
    *,
    seed: int = 0,
    samples: int = MONTE_CARLO_SAMPLES,
) -> PermutationTest:
    """The permutation distribution of AP(A) - AP(B) over `trials`, per class and for the mAPs.

    `a` and `b` are matched detections (`sospine.scoring.Matched.detections`: stem, trial, label,
    score, box, tp) of the same trials; `n_truth` the truth boxes per class in those trials.
    """
    swapped, exact = arrangements(len(trials), seed=seed, samples=samples)
    differences = {}
    for label in BOX_LABELS:
        merged = _merge(a[a["label"] == label], b[b["label"] == label], trials, n_truth.get(label, 0))
        differences[label] = _class_differences(merged, swapped)
    stacked = pd.DataFrame(differences)
    for name, group in (("instruments", INSTRUMENTS), ("all", BOX_LABELS)):
        # the board's means: over the classes with truth, the same in every arrangement
        kept = scored_classes(n_truth, group)
        differences[name] = stacked[kept].mean(axis=1).to_numpy() if kept else np.full(len(swapped), np.nan)
    return PermutationTest(differences, exact, len(trials))
