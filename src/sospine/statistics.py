"""The statistics every comparison here uses, in one place: resampling test trials (a paired
bootstrap), intervals over them, exact or Monte Carlo permutations of paired differences, the
smallest p such a test can give, and Holm's adjustment.

The test trials are the units throughout: frames of one trial are anything but independent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Intervals of AP over test trials: the trials are the units (frames of one trial are anything but
# independent), so an interval needs enough of them. Below MIN_TRIALS_FOR_INTERVAL trials none is
# given and the tables say why; from it on, the interval is the point estimate plus or minus Student's
# t (n - 1 degrees of freedom) times the trial-bootstrap standard error, scaled by sqrt(n / (n - 1)).
# In a simulation (tests/test_statistics.py: samples of trials from a pool of 192 whose detection
# quality varies from trial to trial, 150 samples per trial count) a plain percentile bootstrap covered
# the pool's AP 77-82% of the time over 4 trials and 89-91% over 10, where it claims 95%; this interval
# covered 90-97% (mean 93%) over 10 trials and 90-93% over 22.
MIN_TRIALS_FOR_INTERVAL = 10
_Z975 = 1.959963984540054  # the standard normal's 97.5% point


def resample_weights(n_trials: int, n_resamples: int, seed: int = 0) -> np.ndarray:
    """How often each test trial is drawn in each resample (rows: resamples, columns: trials).
    Detectors scored with the same weights are resampled on the same trials: a paired bootstrap."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_trials, size=(n_resamples, n_trials))
    return np.stack([np.bincount(d, minlength=n_trials) for d in draws]).astype(float)


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile by the Cornish-Fisher expansion (Abramowitz & Stegun 26.7.5), good to
    1e-4 from 9 degrees of freedom on; only p = 0.975 is needed here.

    >>> round(t_quantile(0.975, 9), 3), round(t_quantile(0.975, 21), 3), round(t_quantile(0.975, 1000), 3)
    (2.262, 2.08, 1.962)
    """
    if p != 0.975:
        raise ValueError("only the 97.5% point is implemented")
    z, nu = _Z975, float(df)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / nu + g2 / nu**2 + g3 / nu**3 + g4 / nu**4


def t_interval(point: float, replicates: np.ndarray, n_trials: int, bounds: tuple[float, float] = (0.0, 1.0)):
    """95% interval: point +- t(n - 1) * sqrt(n / (n - 1)) * the bootstrap standard error, within
    `bounds` (AP in [0, 1], a difference of APs in [-1, 1]); (nan, nan) without enough trials."""
    values = np.asarray(replicates, dtype=float)
    values = values[~np.isnan(values)]
    if n_trials < MIN_TRIALS_FOR_INTERVAL or len(values) < 2 or np.isnan(point):
        return float("nan"), float("nan")
    half = t_quantile(0.975, n_trials - 1) * np.sqrt(n_trials / (n_trials - 1)) * values.std(ddof=1)
    return float(max(bounds[0], point - half)), float(min(bounds[1], point + half))


#: what a split with few test trials could pool instead (said only where the split is another)
POOLED_TRIALS = "; leave-one-surgeon-out pools 22"


def interval_note(n_trials: int, n_resamples: int) -> str | None:
    """Why there is no interval, or None when there is one."""
    if not n_resamples:
        return "no intervals: scoring.bootstrap is 0"
    if n_trials < MIN_TRIALS_FOR_INTERVAL:
        return (
            f"no intervals: {n_trials} test trial(s); an interval over test trials needs at least "
            f"{MIN_TRIALS_FOR_INTERVAL} (below that none covers at its stated 95%{POOLED_TRIALS})"
        )
    return None


#: Enumerate every arrangement up to this many trials (2^16 = 65,536); sample beyond.
EXACT_MAX_TRIALS = 16
#: Monte Carlo arrangements beyond EXACT_MAX_TRIALS (resolution 1 / 10,000).
MONTE_CARLO_SAMPLES = 9_999


def smallest_p(n_trials: int) -> float:
    """The smallest two-sided p-value a paired permutation test over `n_trials` trials can give.

    >>> smallest_p(4), smallest_p(5), smallest_p(24)
    (0.125, 0.0625, 1.1920928955078125e-07)
    """
    return 2.0 / 2**n_trials if n_trials else 1.0


def arrangements(n_trials: int, seed: int = 0, samples: int = MONTE_CARLO_SAMPLES) -> tuple[np.ndarray, bool]:
    """Which trials are swapped in each arrangement (rows; the first row swaps none) and whether the
    rows are all 2^n arrangements (exact) or a seeded sample of them.

    >>> rows, exact = arrangements(2)
    >>> rows.tolist(), exact
    ([[0, 0], [1, 0], [0, 1], [1, 1]], True)
    """
    if n_trials <= EXACT_MAX_TRIALS:
        codes = np.arange(2**n_trials, dtype=np.int64)
        rows = (codes[:, None] >> np.arange(n_trials)) & 1
        return rows.astype(np.int8), True
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, 2, size=(samples, n_trials), dtype=np.int8)
    return np.vstack([np.zeros((1, n_trials), dtype=np.int8), rows]), False


def bootstrap_draws(rng: np.random.Generator, n_items: int, n_resamples: int) -> list[np.ndarray]:
    """Resamples of `n_items` items with replacement, as indices, drawn in turn from `rng` (the
    outcome models' trial bootstrap; the board's is `resample_weights`, counts per trial).

    >>> [d.tolist() for d in bootstrap_draws(np.random.default_rng(0), 3, 2)]
    [[2, 1, 1], [0, 0, 0]]
    """
    return [rng.integers(0, n_items, n_items) for _ in range(n_resamples)]


def percentile_interval(replicates: np.ndarray) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of the defined replicates (NaN, NaN when none is)."""
    defined = np.asarray(replicates, dtype=float)
    defined = defined[~np.isnan(defined)]
    if not len(defined):
        return np.nan, np.nan
    low, high = np.quantile(defined, [0.025, 0.975])
    return float(low), float(high)


def refit_permutation_p(observed: float, null: np.ndarray, higher_is_better: bool = True) -> float:
    """One-sided p of a statistic against its values under permutations of the outcome (the whole
    evaluation repeated for each), the observed arrangement counted: (1 + as good) / (1 + permutations).

    >>> refit_permutation_p(0.9, np.array([0.5, 0.95, 0.7])), refit_permutation_p(10.0, np.array([12.0, 9.0]), False)
    (0.5, 0.6666666666666666)
    """
    null = np.asarray(null, dtype=float)
    as_good = null >= observed - 1e-12 if higher_is_better else null <= observed + 1e-12
    return float((1 + as_good.sum()) / (1 + len(null)))


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment (family-wise error over all given p-values; NaN stays NaN).

    >>> holm([0.01, 0.04, 0.03, float("nan")]).round(3).tolist()
    [0.03, 0.06, 0.06, nan]
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(len(p), np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def permutation_test(values: np.ndarray, groups: np.ndarray, n: int = 10000, seed: int = 0) -> float:
    """Two-sided permutation p-value for a difference in means between two boolean groups."""
    values, groups = np.asarray(values, float), np.asarray(groups, bool)
    ok = ~np.isnan(values)
    values, groups = values[ok], groups[ok]
    if groups.all() or not groups.any():
        return float("nan")
    observed = abs(values[groups].mean() - values[~groups].mean())
    rng = np.random.default_rng(seed)
    perms = np.array([rng.permutation(groups) for _ in range(n)])
    diffs = np.abs((perms * values).sum(1) / perms.sum(1) - (~perms * values).sum(1) / (~perms).sum(1))
    return float((1 + (diffs >= observed - 1e-12).sum()) / (n + 1))
