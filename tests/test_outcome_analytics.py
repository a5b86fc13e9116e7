"""What surgical data science cites: tool-presence AP, detector-vs-annotator agreement on the
performance metrics, and leave-one-surgeon-out outcome models, each against an independent
computation, on planted signal and on none."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from sospine import analytics
from sospine.analytics.apm import apm_agreement, apms, bland_altman, concordance
from sospine.analytics.prediction import no_video_features, out_of_fold, prediction_table
from sospine.analytics.presence_ap import (
    confidences,
    presence_ap_table,
    presence_aps,
    presence_note,
    presence_paired,
    truth_presence,
)
from sospine.constants import BOX_LABELS
from sospine.data.synth import SynthSpec, plan
from sospine.scoring import MIN_TRIALS_FOR_INTERVAL
from sospine.scoring.permutation import arrangements


def test_presence_ap_is_scikit_learns_average_precision():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(2, 60))
        scores = np.round(rng.random(n), 1) * (rng.random(n) < 0.6)  # ties and frames without detection
        present = rng.random(n) < 0.4
        weights = rng.integers(0, 3, n).astype(float)
        if not (present * weights).any():
            continue
        ours = presence_aps(scores, present, weights[None, :])[0]
        assert ours == pytest.approx(average_precision_score(present, scores, sample_weight=weights), abs=1e-12)


def small_release(trials=4, frames=20, seed=0):
    release = plan(SynthSpec(seed=seed, trials=trials, frames_per_trial=frames, width=320, height=180))
    frames_of = analytics.frame_index(release.bbox)
    return release, frames_of


def test_a_frames_confidence_is_its_highest_score_of_the_tool():
    frames = pd.DataFrame({"trial": ["S1A2", "S1A2"], "frame": [1, 2]})
    detections = pd.DataFrame(
        {
            "trial_frame": ["S1A2_frame_00000001.jpg"] * 3,
            "score": [0.2, 0.7, 0.4],
            "label": ["grasper", "grasper", "needle"],
        }
    )
    table = confidences(frames, detections).set_index("frame")
    assert table.loc[1, "grasper"] == 0.7 and table.loc[1, "needle"] == 0.4 and table.loc[2, "grasper"] == 0.0


def test_presence_ap_and_its_paired_test_against_an_independent_enumeration():
    release, frames = small_release(trials=4)
    trials = sorted(frames["trial"].unique())
    truth = truth_presence(frames, release.bbox)
    rng = np.random.default_rng(1)
    noisier = release.detections.assign(
        score=(release.detections["score"] + rng.normal(0, 0.3, len(release.detections))).clip(0.06, 1)
    )
    conf = {"a": confidences(frames, release.detections), "b": confidences(frames, noisier)}
    table = presence_ap_table(truth, conf, trials, n_resamples=0).set_index(["detector", "tool"])
    for tool in BOX_LABELS:
        expected = average_precision_score(truth[tool], conf["a"][tool])
        assert table.loc[("a", tool), "presence_ap"] == pytest.approx(expected, abs=1e-12)
    paired = presence_paired(truth, conf, trials, reference="b").set_index("tool")
    swapped, exact = arrangements(len(trials))
    assert exact and len(swapped) == 16
    trial_of = truth["trial"].map({t: i for i, t in enumerate(trials)}).to_numpy()
    for tool in BOX_LABELS:
        diffs = []
        for row in swapped:
            flip = row[trial_of].astype(bool)
            side_a = np.where(flip, conf["b"][tool], conf["a"][tool])
            side_b = np.where(flip, conf["a"][tool], conf["b"][tool])
            diffs.append(average_precision_score(truth[tool], side_a) - average_precision_score(truth[tool], side_b))
        diffs = np.array(diffs)
        assert paired.loc[tool, "diff"] == pytest.approx(diffs[0], abs=1e-12)
        assert paired.loc[tool, "p_value"] == pytest.approx(np.mean(np.abs(diffs) >= abs(diffs[0]) - 1e-12))
        assert paired.loc[tool, "p_value"] >= 0.125  # four trials
    copy = presence_paired(truth, {"a": conf["a"], "copy": conf["a"]}, trials, reference="a")
    assert (copy["diff"] == 0).all() and (copy["p_value"] == 1).all()


def test_presence_ap_intervals_from_ten_trials():
    release, frames = small_release(trials=12, frames=10)
    trials = sorted(frames["trial"].unique())
    truth = truth_presence(frames, release.bbox)
    table = presence_ap_table(truth, {"a": confidences(frames, release.detections)}, trials, n_resamples=200)
    assert table[["ci95_low", "ci95_high"]].notna().all().all()
    assert ((table["ci95_low"] <= table["presence_ap"]) & (table["presence_ap"] <= table["ci95_high"])).all()


def test_a_detector_that_detects_nothing_of_a_tool_has_presence_ap_0():
    """scikit-learn gives a constant confidence the tool's prevalence; a detector without a detection of
    the tool retrieves no frame (recall stays 0): AP 0 with the interval [0, 0], in the paired table
    too, and the note says so. Wherever the detector has detections the AP stays scikit-learn's."""
    release, frames = small_release(trials=12, frames=10)
    trials = sorted(frames["trial"].unique())
    truth = truth_presence(frames, release.bbox)
    detections = release.detections
    conf = {
        "full": confidences(frames, detections),
        "no_needle": confidences(frames, detections[detections["label"] != "needle"]),
        "empty": confidences(frames, detections.iloc[:0]),
    }
    table = presence_ap_table(truth, conf, trials, n_resamples=200)
    rows = table.set_index(["detector", "tool"])
    undetected = {("no_needle", "needle")} | {("empty", tool) for tool in BOX_LABELS}
    for name in conf:
        for tool in BOX_LABELS:
            row = rows.loc[(name, tool)]
            assert truth[tool].any() and row["n_detected"] == (conf[name][tool] > 0).sum()
            if (name, tool) in undetected:
                assert row["n_detected"] == 0 and average_precision_score(truth[tool], conf[name][tool]) > 0
                assert row["presence_ap"] == 0 and row["ci95_low"] == 0 and row["ci95_high"] == 0
            else:
                expected = average_precision_score(truth[tool], conf[name][tool])
                assert row["n_detected"] > 0 and row["presence_ap"] == pytest.approx(expected, abs=1e-12)
    paired = presence_paired(truth, conf, trials, reference="full").set_index(["detector", "tool"])
    for name, tool in undetected:
        assert paired.loc[(name, tool), "diff"] == pytest.approx(-rows.loc[("full", tool), "presence_ap"], abs=1e-12)
    # a bootstrap resample alike: one that draws only frames without a detection retrieves nothing
    scores, present = np.array([0.0, 0.7, 0.0, 0.0]), np.array([True, True, False, True])
    aps = presence_aps(scores, present, np.array([[1.0, 0, 2, 1], [1, 1, 1, 1]]))
    assert aps[0] == 0 and aps[1] == pytest.approx(average_precision_score(present, scores), abs=1e-12)
    note = presence_note(table)
    assert "no_needle: no detection of needle" in note and "empty: no detection of any tool" in note
    assert "presence AP 0" in note and presence_note(table[table["detector"] == "full"]) == ""


def lin_ccc(x, y):
    """Lin's CCC, written out independently: 2 cov / (var x + var y + (mean difference)^2), 1/n moments."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    cov = np.mean((x - x.mean()) * (y - y.mean()))
    return 2 * cov / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def test_concordance_and_bland_altman():
    rng = np.random.default_rng(3)
    for _ in range(50):
        x = rng.normal(100, 30, 12)
        y = x * rng.uniform(0.7, 1.3) + rng.normal(rng.uniform(-20, 20), 10, 12)
        ccc, low, high = concordance(x, y)
        assert ccc == pytest.approx(lin_ccc(x, y), abs=1e-12) and low <= ccc <= high
        bias, loa_low, loa_high = bland_altman(x, y)
        d = y - x
        assert bias == pytest.approx(d.mean()) and loa_high - loa_low == pytest.approx(
            2 * 1.959963984540054 * d.std(ddof=1)
        )
    assert concordance(np.arange(5.0), np.arange(5.0))[0] == 1.0


def test_a_detector_that_sees_what_the_annotator_sees_reproduces_every_metric():
    release, frames = small_release(trials=12, frames=30)
    truth_table = analytics.presence(frames, release.bbox, analytics.GROUND_TRUTH)
    copied = truth_table.assign(source="detections:copy")
    both = pd.concat([truth_table, copied])
    empty = pd.DataFrame(columns=["trial", "source", "phase", "start_frame", "end_frame"])
    truth = apms(both, empty, [], analytics.GROUND_TRUTH)
    detected = apms(both, empty, [], "detections:copy")
    agreement = apm_agreement(truth, detected, "copy")
    varying = agreement[agreement["agreement"] != "undefined"]
    assert len(varying) and (varying["ccc"] == 1).all() and (varying["verdict"] == "reproduces it").all()
    assert (agreement["bias"] == 0).all() and (agreement["n_trials"] == 12).all()
    # a detector that sees the grasper only half the time does not reproduce its time in view
    half = copied.copy()
    grasper = half["tool"] == "grasper"
    half.loc[grasper, "present"] = half.loc[grasper, "present"] & (half.loc[grasper, "frame"] % 2 == 0)
    worse = apm_agreement(truth, apms(pd.concat([truth_table, half]), empty, [], "detections:copy"), "copy")
    row = worse.set_index("metric").loc["grasper_time_in_view_s"]
    assert row["bias"] < 0 and row["verdict"] != "reproduces it"


def trial_table(**metrics) -> pd.DataFrame:
    """APMs per trial (rows S1A1, S2A1, ...), one column per metric."""
    n = len(next(iter(metrics.values())))
    return pd.DataFrame(metrics, index=pd.Index([f"S{i + 1}A1" for i in range(n)], name="trial"), dtype=float)


def test_too_few_trials_give_no_interval_and_no_verdict_of_reproduction():
    """Identical values on 3 trials are CCC 1, but 3 trials cannot show that a detector reproduces a
    metric: no interval and no verdict below the trials an interval needs (as on the leaderboard)."""
    rng = np.random.default_rng(4)
    for n in (2, 3, MIN_TRIALS_FOR_INTERVAL - 1):
        x = rng.normal(300, 60, n)
        for y in (x, x + rng.normal(0, 5, n)):  # the same values, and close ones
            row = apm_agreement(trial_table(m=x), trial_table(m=y), "d").iloc[0]
            assert row["ccc"] == pytest.approx(lin_ccc(x, y), abs=1e-12) and row["n_trials"] == n
            assert np.isnan(row["ci95_low"]) and np.isnan(row["ci95_high"])
            assert (
                row["verdict"] == f"too few trials to judge: {n}, where at least {MIN_TRIALS_FOR_INTERVAL} are needed"
            )
    x = rng.normal(300, 60, MIN_TRIALS_FOR_INTERVAL)
    row = apm_agreement(trial_table(m=x), trial_table(m=x), "d").iloc[0]
    assert row["verdict"] == "reproduces it" and row["ci95_low"] == row["ci95_high"] == 1


def test_constant_annotations_say_agreement_cannot_be_measured():
    """A metric the annotations give the same value in every trial has no CCC (its variance is 0),
    however many trials, and the verdict says so rather than blaming their number."""
    constant = "the annotations give the same value in every trial: agreement cannot be measured"
    for n in (3, 12):
        x = np.full(n, 42.0)
        for y in (x, x + np.arange(n)):
            row = apm_agreement(trial_table(m=x), trial_table(m=y), "d").iloc[0]
            assert row["verdict"] == constant and row["agreement"] == "undefined"
            assert np.isnan(row[["ccc", "ci95_low", "ci95_high"]].astype(float)).all()
            assert row["bias"] == pytest.approx(np.mean(y - x))  # Bland-Altman still holds
    # a detector that gives one value where the annotations vary does not reproduce them
    row = apm_agreement(trial_table(m=np.arange(12.0)), trial_table(m=np.full(12, 5.0)), "d").iloc[0]
    assert (
        row["ccc"] == 0 and row["verdict"] == "does not reproduce it: the detector gives the same value in every trial"
    )


def ground_truth_apms(release):
    frames = analytics.frame_index(release.bbox)
    table = analytics.presence(frames, release.bbox, analytics.GROUND_TRUTH)
    empty = pd.DataFrame(columns=["trial", "source", "phase", "start_frame", "end_frame"])
    return apms(table, empty, [], analytics.GROUND_TRUTH)


def test_leave_one_surgeon_out_predictions_are_scikit_learns():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import LeaveOneGroupOut, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    release = plan(SynthSpec(seed=5, trials=24, frames_per_trial=30, width=192, height=108))
    outcomes = analytics.outcomes_table(release.outcomes.astype(str).replace({"<NA>": None}))
    features = ground_truth_apms(release)
    table = (
        outcomes.dropna(subset=["success", "surgeon"]).set_index("trial").loc[lambda t: t.index.isin(features.index)]
    )
    x, y, groups = features.loc[table.index], table["success"].astype(float).to_numpy(), table["surgeon"].to_numpy()
    ours = out_of_fold(x, y, groups, "success")
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    theirs = cross_val_predict(
        model, x.to_numpy(float), y, groups=groups, cv=LeaveOneGroupOut(), method="predict_proba"
    )[:, 1]
    np.testing.assert_allclose(ours, theirs, atol=1e-10)


@pytest.mark.parametrize("planted", [True, False])
def test_the_outcome_models_find_a_planted_signal_and_only_then(planted):
    """The generator ties the outcome to the grasper's time in view (or to nothing): the models on
    the annotations' metrics find it, for surgeons they never saw, and report a large p where none is."""
    spec = SynthSpec(seed=11, trials=24, frames_per_trial=40, width=192, height=108)
    if planted:
        spec = SynthSpec(**{**spec.__dict__, "outcome_signal": "grasper_time_in_view_s", "outcome_strength": 2.0})
    release = plan(spec)
    outcomes = analytics.outcomes_table(release.outcomes.astype(str).replace({"<NA>": None}))
    features = ground_truth_apms(release)[["grasper_time_in_view_s", "nerve_hook_time_in_view_s", "needle_in_n_outs"]]
    table = prediction_table(outcomes, {"ground_truth": features}, n_permutations=99)
    table = table.set_index(["outcome", "features", "metric"])
    auc, r2 = table.loc[("success", "ground_truth", "auc")], table.loc[("repair_time", "ground_truth", "r2")]
    assert auc["n_trials"] == 22 and auc["n_surgeons"] == 8  # the trials with video
    others = prediction_table(outcomes, {"no_video": no_video_features(outcomes), "control": None}, n_permutations=0)
    others = others.set_index(["outcome", "features", "metric"])
    assert others.loc[("success", "no_video", "auc"), "n_trials"] == 24  # no video needed
    assert others.loc[("success", "control", "auc"), "value"] == 0.5
    if planted:
        assert auc["value"] > 0.7 and auc["p_value"] < 0.05 and "better than chance" in auc["note"]
        assert r2["value"] > 0.3 and r2["p_value"] < 0.05
    else:
        assert auc["p_value"] > 0.05 and r2["p_value"] > 0.05
        assert "not distinguishable from chance" in auc["note"]
