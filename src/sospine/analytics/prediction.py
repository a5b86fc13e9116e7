"""Do the performance metrics predict the outcome for a surgeon the model has never seen?

Two outcomes: success (no CSF leak at 40 mmHg), by logistic regression, and repair time, by ridge
regression, each standardised inside a scikit-learn pipeline and evaluated by leave-one-surgeon-out
(every trial predicted by a model fitted without any trial of its surgeon). Four feature sets: the
APMs from the annotations (`ground_truth`), from each detector (`detections:<name>`), what is known
without video (`no_video`: attempt, postgraduate year, prior MISS experience, prior cases) and
nothing at all (`control`: the training folds' majority class or mean). Metrics: AUC and balanced
accuracy, or RMSE and R^2, on the out-of-fold predictions; a permutation p-value (the outcomes
permuted across trials and the whole leave-one-surgeon-out evaluation repeated) and a 95% interval
(a bootstrap over trials of the out-of-fold predictions). With two dozen trials from eight surgeons
most of these figures cannot be told from chance, and the table says so in words.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

PREDICTION_COLUMNS = [
    "outcome",
    "features",
    "model",
    "metric",
    "value",
    "ci95_low",
    "ci95_high",
    "p_value",
    "n_trials",
    "n_surgeons",
    "note",
]
#: fewer trials (or surgeons) than this and a feature set is not evaluated, and the table says why
MIN_TRIALS, MIN_SURGEONS = 8, 3
NO_VIDEO = ["attempt", "pgy", "prior_miss", "prior_cases"]
OUTCOMES = {
    "success": ("logistic regression", ("auc", "balanced_accuracy")),
    "repair_time_s": ("ridge regression", ("rmse", "r2")),
}


def prior_cases_number(text: object) -> float:
    """The outcomes file's `Number prior cases` as a number: a range's middle, `< 10` as 5, `40+` as 40.

    >>> [prior_cases_number(v) for v in ["0", "< 10", "10-20", "40+", None]]
    [0.0, 5.0, 15.0, 40.0, nan]
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return np.nan
    numbers = [float(n) for n in re.findall(r"\d+", str(text))]
    if not numbers:
        return np.nan
    if "<" in str(text):
        return numbers[0] / 2
    return float(np.mean(numbers))


def no_video_features(outcomes: pd.DataFrame) -> pd.DataFrame:
    """What is known of a trial without its video, indexed by trial."""
    table = outcomes.set_index("trial")
    return pd.DataFrame(
        {
            "attempt": table["attempt"].astype(float),
            "pgy": table["pgy"].astype(float),
            "prior_miss": table["prior_miss"].map({"Y": 1.0, "N": 0.0}),
            "prior_cases": table["prior_cases"].map(prior_cases_number),
        }
    )


def _model(outcome: str):  # noqa: ANN202 - a scikit-learn pipeline
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if outcome == "success":
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    return make_pipeline(StandardScaler(), Ridge(alpha=1.0))


def out_of_fold(features: pd.DataFrame | None, y: np.ndarray, groups: np.ndarray, outcome: str) -> np.ndarray:
    """Leave-one-surgeon-out predictions (success: probability; time: seconds); `features` None is
    the control (the training folds' majority share or mean)."""
    predictions = np.empty(len(y), dtype=float)
    for surgeon in np.unique(groups):
        test = groups == surgeon
        train = ~test
        if features is None or features.shape[1] == 0:
            predictions[test] = y[train].mean()  # success: the training share (majority class at 0.5)
            continue
        x = features.to_numpy(float)
        if outcome == "success" and len(np.unique(y[train])) < 2:
            predictions[test] = y[train].mean()
            continue
        model = _model(outcome)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x[train], y[train])
            predictions[test] = model.predict_proba(x[test])[:, 1] if outcome == "success" else model.predict(x[test])
    return predictions


def metric_value(metric: str, y: np.ndarray, predicted: np.ndarray) -> float:
    """AUC, balanced accuracy (at 0.5), RMSE or R^2 of out-of-fold predictions: scikit-learn's
    definitions, computed directly (a permutation test evaluates them thousands of times).

    >>> y, p = np.array([0.0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9])
    >>> [round(metric_value(m, y, p), 4) for m in ("auc", "balanced_accuracy")]
    [0.75, 0.5]
    """
    if metric in ("auc", "balanced_accuracy"):
        positive = y.astype(bool)
        if positive.all() or not positive.any():
            return np.nan
        if metric == "auc":  # the Mann-Whitney statistic, ties counted half (roc_auc_score)
            ranks = pd.Series(predicted).rank(method="average").to_numpy()
            n_pos, n_neg = positive.sum(), (~positive).sum()
            return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
        called = predicted >= 0.5
        return float(((called & positive).sum() / positive.sum() + (~called & ~positive).sum() / (~positive).sum()) / 2)
    residual = y - predicted
    if metric == "rmse":
        return float(np.sqrt(np.mean(residual**2)))
    total = np.sum((y - y.mean()) ** 2)
    return float(1 - np.sum(residual**2) / total) if total > 0 else np.nan


def evaluate(
    features: pd.DataFrame | None,
    outcomes: pd.DataFrame,
    outcome: str,
    *,
    n_permutations: int = 99,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> list[dict]:
    """The rows of one outcome and feature set: each metric with its interval and permutation p."""
    label, metrics = OUTCOMES[outcome]
    table = outcomes.dropna(subset=[outcome, "surgeon"]).set_index("trial")
    if features is not None:
        features = features.reindex(table.index).dropna()
        table = table.loc[features.index]
    y = table[outcome].astype(float).to_numpy()
    groups = table["surgeon"].to_numpy()
    n_trials, n_surgeons = len(y), len(np.unique(groups))
    model = "majority class" if features is None and outcome == "success" else "mean" if features is None else label
    base = {"model": model, "n_trials": n_trials, "n_surgeons": n_surgeons}
    if n_trials < MIN_TRIALS or n_surgeons < MIN_SURGEONS:
        why = f"not evaluated: {n_trials} trials from {n_surgeons} surgeons (needs {MIN_TRIALS} and {MIN_SURGEONS})"
        return [
            {
                **base,
                "metric": m,
                "value": np.nan,
                "ci95_low": np.nan,
                "ci95_high": np.nan,
                "p_value": np.nan,
                "note": why,
            }
            for m in metrics
        ]
    predicted = out_of_fold(features, y, groups, outcome)
    rng = np.random.default_rng(seed)
    permuted = []
    if features is not None and n_permutations:
        for _ in range(n_permutations):
            shuffled = rng.permutation(y)
            permuted.append((shuffled, out_of_fold(features, shuffled, groups, outcome)))
    draws = [rng.integers(0, n_trials, n_trials) for _ in range(n_bootstrap)]
    rows = []
    for metric in metrics:
        value = metric_value(metric, y, predicted)
        if features is None and metric == "auc":  # a constant prediction ranks nothing
            rows.append({**base, "metric": metric, "value": 0.5, "ci95_low": 0.5, "ci95_high": 0.5, "p_value": np.nan})
            rows[-1]["note"] = _note(metric, 0.5, np.nan, n_trials, n_surgeons, True)
            continue
        boot = np.array([metric_value(metric, y[d], predicted[d]) for d in draws])
        boot = boot[~np.isnan(boot)]
        low, high = np.nanquantile(boot, [0.025, 0.975]) if len(boot) else (np.nan, np.nan)
        p = np.nan
        if permuted and not np.isnan(value):
            null = np.array([metric_value(metric, ys, pred) for ys, pred in permuted])
            better = null <= value + 1e-12 if metric == "rmse" else null >= value - 1e-12
            p = float((1 + better.sum()) / (1 + len(null)))
        rows.append(
            {**base, "metric": metric, "value": value, "ci95_low": float(low), "ci95_high": float(high), "p_value": p}
        )
        rows[-1]["note"] = _note(metric, value, p, n_trials, n_surgeons, features is None)
    return rows


def _note(metric: str, value: float, p: float, n_trials: int, n_surgeons: int, control: bool) -> str:
    if control:
        return f"the control: what is known of no trial ({n_trials} trials, {n_surgeons} surgeons)"
    if np.isnan(p):
        return f"{n_trials} trials from {n_surgeons} surgeons"
    if p < 0.05:
        return f"{n_trials} trials from {n_surgeons} surgeons; p = {p:.3g}: better than chance for new surgeons"
    return (
        f"{n_trials} trials from {n_surgeons} surgeons; p = {p:.3g}: not distinguishable from chance (with so few "
        "trials most real differences would not be either)"
    )


def prediction_table(
    outcomes: pd.DataFrame,
    feature_sets: Mapping[str, pd.DataFrame | None],
    *,
    n_permutations: int = 99,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Every outcome, feature set and metric (`feature_sets`: name -> features by trial, None for
    the control)."""
    rows = []
    for outcome in OUTCOMES:
        for name, features in feature_sets.items():
            for row in evaluate(
                features, outcomes, outcome, n_permutations=n_permutations, n_bootstrap=n_bootstrap, seed=seed
            ):
                rows.append({"outcome": "success" if outcome == "success" else "repair_time", "features": name, **row})
    return pd.DataFrame(rows, columns=PREDICTION_COLUMNS)
