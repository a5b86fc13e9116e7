"""Outcome models against their control, in words: better than, no different from, or worse than it.

The comparison is checked against an independent computation (scikit-learn's leave-one-group-out
predictions and metrics, the control's means written out, the paired bootstrap over the same draws of
trials), and the recordings' estimates are given exactly where the model is better than its control."""

import io
import json

import numpy as np
import pandas as pd
import pytest

from sospine.analytics import recordings
from sospine.analytics.prediction import prediction_table

N_BOOTSTRAP, SEED = 300, 3


@pytest.fixture(scope="module")
def study():
    """24 trials of 8 surgeons; repair time and success follow `x`; feature sets: `x` itself (a good
    model), 18 columns of noise (ridge overfits them: worse than the mean) and one column of noise."""
    rng = np.random.default_rng(1)
    trials = [f"S{s}A{a}" for s in range(1, 9) for a in range(1, 4)]
    x = rng.normal(0, 1, len(trials))
    outcomes = pd.DataFrame(
        {
            "trial": trials,
            "surgeon": [t[:2] for t in trials],
            "repair_time_s": 300 + 100 * x + rng.normal(0, 20, len(trials)),
            "success": (x + rng.normal(0, 0.5, len(trials))) > 0,
        }
    )
    features = {
        "good": pd.DataFrame({"grasper_time_in_view_s": x}, index=trials),
        "noise": pd.DataFrame(rng.normal(0, 1, (len(trials), 18)), index=trials, columns=[f"n{i}" for i in range(18)]),
        "one": pd.DataFrame({"z": rng.normal(0, 1, len(trials))}, index=trials),
    }
    table = prediction_table(
        outcomes, {**features, "control": None}, n_permutations=0, n_bootstrap=N_BOOTSTRAP, seed=SEED
    )
    return outcomes, features, table


def independent_comparison(outcomes, features, outcome, metric):
    """(control value, difference, interval low, high, verdict), by scikit-learn and by hand."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import balanced_accuracy_score, mean_squared_error, r2_score, roc_auc_score
    from sklearn.model_selection import LeaveOneGroupOut, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    column = "success" if outcome == "success" else "repair_time_s"
    y = outcomes[column].astype(float).to_numpy()
    groups = outcomes["surgeon"].to_numpy()
    x = features.loc[outcomes["trial"]].to_numpy(float)
    if outcome == "success":
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        predicted = cross_val_predict(model, x, y, groups=groups, cv=LeaveOneGroupOut(), method="predict_proba")[:, 1]
    else:
        model = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
        predicted = cross_val_predict(model, x, y, groups=groups, cv=LeaveOneGroupOut())
    control = np.array([y[groups != g].mean() for g in groups])  # the mean of the other surgeons' trials

    def score(truth, guess, is_control):
        if metric == "auc":
            if is_control:
                return 0.5  # the control's AUC as its own row gives it
            return roc_auc_score(truth, guess) if len(np.unique(truth)) == 2 else np.nan
        if metric == "balanced_accuracy":
            return balanced_accuracy_score(truth, guess >= 0.5) if len(np.unique(truth)) == 2 else np.nan
        if metric == "rmse":
            return np.sqrt(mean_squared_error(truth, guess))
        return r2_score(truth, guess)

    rng = np.random.default_rng(SEED)  # the study's draws of trials, shared by model and control
    draws = [rng.integers(0, len(y), len(y)) for _ in range(N_BOOTSTRAP)]
    differences = np.array([score(y[d], predicted[d], False) - score(y[d], control[d], True) for d in draws])
    low, high = np.percentile(differences[~np.isnan(differences)], [2.5, 97.5])
    better_side = (-high, -low) if metric == "rmse" else (low, high)
    verdict = "better" if better_side[0] > 0 else "worse" if better_side[1] < 0 else "no different"
    difference = score(y, predicted, False) - score(y, control, True)
    return score(y, control, True), difference, low, high, verdict


@pytest.mark.parametrize("features", ["good", "noise", "one"])
def test_every_model_is_compared_with_its_control_as_an_independent_computation_says(study, features):
    outcomes, sets, table = study
    rows = table[table["features"] == features]
    assert len(rows) == 4
    for row in rows.itertuples():
        expected = independent_comparison(outcomes, sets[features], row.outcome, row.metric)
        got = (row.control_value, row.diff_control, row.diff_ci95_low, row.diff_ci95_high)
        assert got == pytest.approx(expected[:4], rel=1e-9, abs=1e-9), (row.outcome, row.metric)
        assert row.versus_control == expected[4]
        words = {"better": "better than", "no different": "no different from", "worse": "worse than"}[expected[4]]
        assert row.note.startswith(f"24 trials from 8 surgeons; {words} the control: "), row.note


def test_the_verdicts_of_the_planted_cases_and_the_control_has_none(study):
    _, _, table = study
    verdicts = table.set_index(["features", "outcome", "metric"])["versus_control"]
    assert (verdicts.loc["good"] == "better").all()
    # ridge on 18 columns of noise: a larger error than the mean of the other surgeons, and said so,
    # though its R^2 is far below 0 (where "not distinguishable from chance" alone would mislead)
    assert verdicts.loc[("noise", "repair_time", "rmse")] == verdicts.loc[("noise", "repair_time", "r2")] == "worse"
    noisy = table.set_index(["features", "outcome", "metric"]).loc[("noise", "repair_time", "rmse")]
    assert noisy["value"] > noisy["control_value"] and noisy["diff_ci95_low"] > 0
    assert "worse than the control: RMSE" in noisy["note"]
    control = table[table["features"] == "control"]
    assert (control["versus_control"] == "").all() and control["diff_control"].isna().all()
    assert control["note"].str.startswith("the control:").all()


def test_a_model_not_evaluated_is_not_compared():
    trials = [f"S{s}A1" for s in range(1, 4)]
    outcomes = pd.DataFrame(
        {"trial": trials, "surgeon": ["S1", "S2", "S3"], "repair_time_s": [1.0, 2, 3], "success": [True, False, True]}
    )
    table = prediction_table(outcomes, {"f": pd.DataFrame({"a": [1.0, 2, 3]}, index=trials)}, n_permutations=0)
    assert (table["versus_control"] == "").all() and table["note"].str.startswith("not evaluated").all()
    assert table["note"].str.endswith("so not compared with its control").all()


def _judged(outcome, metric, value, p, versus, control=100.0, low=-5.0, high=-1.0):
    return [
        {
            "outcome": outcome,
            "features": "ground_truth",
            "metric": metric,
            "value": value,
            "p_value": p,
            "control_value": control,
            "diff_control": value - control,
            "diff_ci95_low": low,
            "diff_ci95_high": high,
            "versus_control": versus,
        },
        {"outcome": outcome, "features": "control", "metric": metric, "value": control, "p_value": np.nan},
    ]


def _case():
    rng = np.random.default_rng(0)
    trials = [f"S{s}A{a}" for s in range(1, 9) for a in range(1, 4)]
    metrics = pd.DataFrame({"grasper_time_in_view_s": rng.uniform(10, 100, len(trials))}, index=trials)
    outcomes = pd.DataFrame(
        {
            "trial": trials,
            "success": metrics["grasper_time_in_view_s"].to_numpy() > 55,
            "repair_time_s": 5 * metrics["grasper_time_in_view_s"].to_numpy() + 100,
        }
    )
    return metrics, outcomes, pd.DataFrame({"grasper_time_in_view_s": [80.0]}, index=["case"])


@pytest.mark.parametrize(
    "versus, p, given, says",
    [
        ("better", 0.01, True, "Its model did better than its control"),
        ("worse", 0.01, False, "its model did worse than its control (RMSE 519 against its control's 270"),
        ("no different", 0.01, False, "its model did no better than its control, no different from it"),
        ("better", 0.3, False, "did better than its control but not distinguishably better than chance"),
        ("", 0.01, False, "its model was not compared with its control"),
    ],
)
def test_an_estimate_is_given_only_where_its_model_is_better_than_its_control(versus, p, given, says):
    metrics, outcomes, recording = _case()
    value = 519.0 if versus == "worse" else 20.0  # a point value below the control's is not enough
    prediction = pd.DataFrame(
        _judged("success", "auc", 0.9, 0.01, "better", control=0.5, low=0.2, high=0.4)
        + _judged("repair_time", "rmse", value, p, versus, control=270.0)
    )
    found = recordings.outcome_estimates(metrics, outcomes, recording, prediction)
    assert (found["repair_time"]["estimate"] is not None) == given
    assert says in found["repair_time"]["statement"], found["repair_time"]["statement"]
    assert found["repair_time"]["loso"]["versus_control"] == versus
    if versus:
        assert "on the same trials, difference" in found["repair_time"]["statement"]
    assert found["success"]["estimate"] is not None
    json.dumps(found, allow_nan=False)


def test_the_estimates_follow_the_notes_of_the_evaluated_models(study):
    """End to end: prediction_table's rows, as the workflow writes and reads them, decide the estimate."""
    outcomes, sets, _ = study
    table = prediction_table(
        outcomes,
        {"ground_truth": sets["good"], "control": None},
        n_permutations=24,  # the smallest p: 1 / 25
        n_bootstrap=N_BOOTSTRAP,
        seed=SEED,
    )
    read_back = pd.read_csv(io.StringIO(table.to_csv(index=False)))
    metrics = sets["good"]
    recording = pd.DataFrame({"grasper_time_in_view_s": [0.5]}, index=["case"])
    found = recordings.outcome_estimates(metrics, outcomes, recording, read_back)
    for outcome, metric in (("success", "auc"), ("repair_time", "rmse")):
        row = table.set_index(["outcome", "features", "metric"]).loc[(outcome, "ground_truth", metric)]
        assert row["versus_control"] == "better" and row["p_value"] < 0.05
        assert "better than the control" in row["note"]
        assert found[outcome]["estimate"] is not None
        assert found[outcome]["statement"].startswith("Estimated ")
    noise = prediction_table(
        outcomes, {"ground_truth": sets["noise"], "control": None}, n_permutations=1, n_bootstrap=N_BOOTSTRAP
    )
    found = recordings.outcome_estimates(
        sets["noise"], outcomes, recording.reindex(columns=sets["noise"].columns), noise
    )
    assert found["repair_time"]["estimate"] is None
    assert "did worse than its control" in found["repair_time"]["statement"]
