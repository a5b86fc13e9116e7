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

Every model is also compared with its control on the same trials (`versus_control`): the control's
out-of-fold predictions on those trials, the model's metric minus the control's (`diff_control`) and
its 95% interval from the same bootstrap draws of trials (paired: each draw scores both on the same
trials). The model is `better` than the control where that interval lies wholly on the better side
of 0 (a lower RMSE, a higher AUC, balanced accuracy or R^2), `worse` where it lies wholly on the
worse side, and `no different` where it holds 0; the note says which in words, before what the
permutation test says. A model can be worse than its control and yet not distinguishable from chance:
the permutation's null is the same model fitted to permuted outcomes, which overfits noise as well.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from sospine.statistics import bootstrap_draws, percentile_interval, refit_permutation_p

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
    "control_value",
    "diff_control",
    "diff_ci95_low",
    "diff_ci95_high",
    "versus_control",
]
#: the metrics of which lower is better (the others: higher is better)
LOWER_IS_BETTER = {"rmse"}
#: the AUC the control is given: a constant prediction ranks nothing
CONTROL_AUC = 0.5
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
    base = {"model": model, "n_trials": n_trials, "n_surgeons": n_surgeons, **_NOT_COMPARED}
    if n_trials < MIN_TRIALS or n_surgeons < MIN_SURGEONS:
        why = (
            f"not evaluated: {n_trials} trials from {n_surgeons} surgeons (needs {MIN_TRIALS} and {MIN_SURGEONS}), "
            "so not compared with its control"
        )
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
    control = out_of_fold(None, y, groups, outcome) if features is not None else None  # on the same trials
    rng = np.random.default_rng(seed)
    permuted = []
    if features is not None and n_permutations:
        for _ in range(n_permutations):
            shuffled = rng.permutation(y)
            permuted.append((shuffled, out_of_fold(features, shuffled, groups, outcome)))
    draws = bootstrap_draws(rng, n_trials, n_bootstrap)
    rows = []
    for metric in metrics:
        value = metric_value(metric, y, predicted)
        if features is None and metric == "auc":  # a constant prediction ranks nothing
            rows.append({**base, "metric": metric, "value": 0.5, "ci95_low": 0.5, "ci95_high": 0.5, "p_value": np.nan})
            rows[-1]["note"] = _note(metric, 0.5, np.nan, n_trials, n_surgeons, True)
            continue
        model_draws = np.array([metric_value(metric, y[d], predicted[d]) for d in draws])
        low, high = percentile_interval(model_draws)
        compared = (
            versus_control(metric, value, model_draws, *_control_metric(metric, y, control, draws))
            if control is not None
            else _NOT_COMPARED
        )
        p = np.nan
        if permuted and not np.isnan(value):
            null = np.array([metric_value(metric, ys, pred) for ys, pred in permuted])
            p = refit_permutation_p(value, null, higher_is_better=metric != "rmse")
        rows.append(
            {
                **base,
                **compared,
                "metric": metric,
                "value": value,
                "ci95_low": float(low),
                "ci95_high": float(high),
                "p_value": p,
            }
        )
        rows[-1]["note"] = _note(metric, value, p, n_trials, n_surgeons, features is None, compared)
    return rows


_NOT_COMPARED = {
    "control_value": np.nan,
    "diff_control": np.nan,
    "diff_ci95_low": np.nan,
    "diff_ci95_high": np.nan,
    "versus_control": "",
}


def _control_metric(
    metric: str, y: np.ndarray, control: np.ndarray, draws: list[np.ndarray]
) -> tuple[float, np.ndarray]:
    """The control's metric on the trials and on each bootstrap draw of them (AUC: `CONTROL_AUC`, as
    the control's own row gives it)."""
    if metric == "auc":
        return CONTROL_AUC, np.full(len(draws), CONTROL_AUC)
    return metric_value(metric, y, control), np.array([metric_value(metric, y[d], control[d]) for d in draws])


def versus_control(
    metric: str, value: float, model_draws: np.ndarray, control_value: float, control_draws: np.ndarray
) -> dict:
    """The model against its control on the same trials: the difference of their metric (model minus
    control), its 95% interval over the bootstrap draws (each draw scores both on the same trials: a
    paired bootstrap) and the verdict: `better` where the interval lies wholly on the better side of 0
    (below it for RMSE, above it for the others), `worse` where wholly on the worse side, `no different`
    where it holds 0; empty where there is no difference or no draw to judge it by.

    >>> versus_control("rmse", 519.0, np.array([500.0, 540, 520]), 270.0, np.array([260.0, 280, 275]))["versus_control"]
    'worse'
    >>> versus_control("auc", 0.6, np.array([0.4, 0.6, 0.8]), 0.5, np.full(3, 0.5))["versus_control"]
    'no different'
    """
    diff = value - control_value
    draws = np.asarray(model_draws, float) - np.asarray(control_draws, float)
    draws = draws[~np.isnan(draws)]
    if np.isnan(diff) or not len(draws):
        return {**_NOT_COMPARED, "control_value": float(control_value), "diff_control": float(diff)}
    low, high = percentile_interval(draws)
    gain_low, gain_high = (-high, -low) if metric in LOWER_IS_BETTER else (low, high)  # > 0: better
    verdict = "better" if gain_low > 0 else "worse" if gain_high < 0 else "no different"
    return {
        "control_value": float(control_value),
        "diff_control": float(diff),
        "diff_ci95_low": low,
        "diff_ci95_high": high,
        "versus_control": verdict,
    }


#: each verdict in words, as the notes and the recordings' statements say it
VERDICT_WORDS = {"better": "better than", "no different": "no different from", "worse": "worse than"}


def control_words(metric: str, value: float, compared: Mapping) -> str:
    """The comparison with the control in words: the verdict, the two figures, the difference and its
    interval (or why there is none).

    >>> compared = {"versus_control": "worse", "control_value": 270.0, "diff_control": 249.0,
    ...             "diff_ci95_low": 120.0, "diff_ci95_high": 380.0}
    >>> print(control_words("rmse", 519.0, compared))  # doctest: +NORMALIZE_WHITESPACE
    worse than the control: RMSE 519 against the control's 270 on the same trials
    (difference +249, 95% interval +120 to +380)
    """
    verdict = compared.get("versus_control") or ""
    control = compared.get("control_value")
    name = metric.upper() if metric in ("auc", "rmse") else "R^2" if metric == "r2" else metric.replace("_", " ")
    if not verdict:
        if control is None or pd.isna(control):
            return "not compared with the control"
        return f"not compared with the control (no bootstrap draw): {name} {value:.3g} against its {control:.3g}"
    return (
        f"{VERDICT_WORDS[verdict]} the control: {name} {value:.3g} against the control's {control:.3g} on the same "
        f"trials (difference {compared['diff_control']:+.3g}, 95% interval {compared['diff_ci95_low']:+.3g} to "
        f"{compared['diff_ci95_high']:+.3g})"
    )


def _note(
    metric: str,
    value: float,
    p: float,
    n_trials: int,
    n_surgeons: int,
    control: bool,
    compared: Mapping = _NOT_COMPARED,
) -> str:
    if control:
        return f"the control: what is known of no trial ({n_trials} trials, {n_surgeons} surgeons)"
    head = f"{n_trials} trials from {n_surgeons} surgeons; {control_words(metric, value, compared)}"
    if np.isnan(p):
        return head
    if p < 0.05:
        return f"{head}; p = {p:.3g} against outcomes permuted across trials: better than chance for new surgeons"
    return (
        f"{head}; p = {p:.3g} against outcomes permuted across trials: not distinguishable from chance (with so "
        "few trials most real differences would not be either)"
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
