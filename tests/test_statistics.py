"""Statistics that hold with few test trials: the paired permutation test is exact (checked against
an independent enumeration), calibrated under a null, finds a planted difference over 24 trials, and
never goes below what the number of trials allows; the intervals cover at their stated rate."""

import numpy as np
import pandas as pd
import pytest

from sospine.constants import BOX_LABELS, INSTRUMENTS
from sospine.data.synth import SynthSpec, plan, synthetic_detections
from sospine.scoring import (
    MIN_TRIALS_FOR_INTERVAL,
    Matched,
    ap_from_flags,
    bootstrap_samples,
    match,
    prepare_detections,
    prepare_truth,
    resample_weights,
    t_interval,
)
from sospine.scoring.leaderboard import LABELS, rank
from sospine.scoring.permutation import EXACT_MAX_TRIALS, arrangements, holm, paired_permutation, smallest_p
from sospine.tables import split_frame_names


def trial_names(n: int) -> list[str]:
    return [f"S{i + 1}A1" for i in range(n)]


def heterogeneous_release(n_trials: int, frames: int = 20, seed: int = 0):
    """`n_trials` synthetic trials of varying difficulty (each its own jitter, miss and false-positive
    rate, as real trials differ) and a second, independent draw of the same quality: (truth, a, b)."""
    rng = np.random.default_rng(seed)
    truths, first, second = [], [], []
    releases = [
        plan(SynthSpec(seed=seed * 100 + k, trials=24, frames_per_trial=frames)) for k in range(-(-n_trials // 24))
    ]
    boxes = [g for r in releases for _, g in r.bbox.groupby(r.bbox["trial_frame"].str.split("_frame_").str[0])]
    for name, table in zip(trial_names(n_trials), boxes, strict=False):
        table = table.assign(trial_frame=name + "_frame_" + table["trial_frame"].str.split("_frame_").str[1])
        table = table.reset_index(drop=True)
        quality = dict(
            detection_jitter=rng.uniform(0.02, 0.3),
            detection_miss_rate=rng.uniform(0.0, 0.5),
            detection_false_positives=rng.uniform(0.0, 1.2),
        )
        truths.append(table)
        first.append(synthetic_detections(table, SynthSpec(**quality), np.random.default_rng(rng.integers(2**32))))
        second.append(synthetic_detections(table, SynthSpec(**quality), np.random.default_rng(rng.integers(2**32))))
    return (
        pd.concat(truths, ignore_index=True),
        pd.concat(first, ignore_index=True),
        pd.concat(second, ignore_index=True),
    )


def matched_pair(truth, a, b, trials):
    prepared = prepare_truth(truth, trials)
    n_truth = prepared.groupby("label").size().to_dict()
    return match(prepared, prepare_detections(a, trials)), match(prepared, prepare_detections(b, trials)), n_truth


def brute_force_differences(a, b, n_truth, trials):
    """AP(A) - AP(B) per class in every arrangement, by swapping the detections and ranking again."""
    rows = []
    for swapped in arrangements(len(trials))[0]:
        gone = {t for t, s in zip(trials, swapped, strict=True) if s}
        side_a = pd.concat([a[~a["trial"].isin(gone)], b[b["trial"].isin(gone)]])
        side_b = pd.concat([b[~b["trial"].isin(gone)], a[a["trial"].isin(gone)]])
        row = {}
        for label in BOX_LABELS:
            aps = []
            for side in (side_a, side_b):
                ranked = side[side["label"] == label].sort_values(
                    ["score", "stem", "label", "x1", "y1", "x2", "y2"], ascending=[False] + [True] * 6, kind="mergesort"
                )
                aps.append(ap_from_flags(ranked["tp"].to_numpy(bool), n_truth.get(label, 0)))
            row[label] = aps[0] - aps[1]
        rows.append(row)
    return pd.DataFrame(rows)


def test_the_permutation_distribution_is_exactly_an_independent_enumeration():
    truth, a, b = heterogeneous_release(6, frames=15, seed=1)
    b = b.sample(frac=0.8, random_state=2)  # another detector: fewer detections
    trials = trial_names(6)
    ma, mb, n_truth = matched_pair(truth, a, b, trials)
    test = paired_permutation(ma.detections, mb.detections, n_truth, trials)
    expected = brute_force_differences(ma.detections, mb.detections, n_truth, trials)
    for label in BOX_LABELS:
        assert np.allclose(test.differences[label], expected[label], atol=1e-12), label
    mean_all = expected[list(BOX_LABELS)].mean(axis=1).to_numpy()
    assert np.allclose(test.differences["all"], mean_all, atol=1e-12)
    observed = abs(mean_all[0])
    assert test.p_value("all") == pytest.approx(np.mean(np.abs(mean_all) >= observed - 1e-12))
    assert test.exact and test.n_arrangements == 64 and test.p_value("all") >= 2 / 64


def test_the_observed_difference_is_the_boards(tmp_path):
    truth, a, b = heterogeneous_release(5, frames=15, seed=3)
    trials = trial_names(5)
    board, paired = rank(truth, {"a": a, "b": b}, {"a": trials, "b": trials}, reference="b", n_resamples=0)
    ma, mb, n_truth = matched_pair(truth, a, b, trials)
    test = paired_permutation(ma.detections, mb.detections, n_truth, trials)
    for label in LABELS:
        assert test.observed(label) == pytest.approx(paired.set_index("label").loc[label, "diff"], abs=1e-12)
        assert paired.set_index("label").loc[label, "p_value"] == test.p_value(label)


def test_with_four_trials_no_p_value_is_below_an_eighth_however_large_the_difference():
    truth, a, _ = heterogeneous_release(4, seed=4)
    trials = trial_names(4)
    rng = np.random.default_rng(0)
    for dropped in (0.3, 0.7, 1.0):
        b = a[rng.random(len(a)) >= dropped]
        board, paired = rank(truth, {"a": a, "b": b}, {"a": trials, "b": trials}, reference="a", n_resamples=0)
        assert (paired["p_value"].dropna() >= 0.125).all(), paired
        assert smallest_p(4) == 0.125 and (paired["p_min"] == 0.125).all()
        assert paired["note"].str.startswith("with 4 test trials no difference can reach p < 0.05").all()


def test_under_the_null_p_values_are_uniform():
    """Two detectors of the same quality, their detections swapped at random within trials: the share
    of p-values below any level is that level (up to the test's discreteness and sampling)."""
    trials = trial_names(8)
    truth, a, b = heterogeneous_release(8, frames=15, seed=5)
    ma, mb, n_truth = matched_pair(truth, a, b, trials)
    rng = np.random.default_rng(1)
    p_values = []
    for _ in range(300):
        swap = set(np.array(trials)[rng.random(len(trials)) < 0.5])
        da, db = ma.detections, mb.detections
        side_a = pd.concat([da[~da["trial"].isin(swap)], db[db["trial"].isin(swap)]])
        side_b = pd.concat([db[~db["trial"].isin(swap)], da[da["trial"].isin(swap)]])
        p_values.append(paired_permutation(side_a, side_b, n_truth, trials).p_value("all"))
    p_values = np.array(p_values)
    for level in (0.05, 0.1, 0.25, 0.5, 0.75):
        assert abs(np.mean(p_values <= level) - level) < 0.07, (level, np.mean(p_values <= level))
    grid = np.linspace(0, 1, 101)
    assert np.max(np.abs([np.mean(p_values <= g) - g for g in grid])) < 0.09


def test_a_planted_difference_over_24_trials_is_found_and_the_sample_says_so():
    trials = trial_names(24)
    truth, a, _ = heterogeneous_release(24, frames=12, seed=6)
    weaker = a[np.random.default_rng(2).random(len(a)) >= 0.3]  # 30% of the detections lost
    board, paired = rank(truth, {"a": a, "weaker": weaker}, {"a": trials, "weaker": trials}, reference="a")
    row = paired.set_index("label").loc["all"]
    assert row["diff"] < 0 and row["p_value"] < 0.001 and row["p_holm"] < 0.01
    assert row["test"].startswith("Monte Carlo paired permutation test over 24 test trials (9999 random")
    assert row["p_value"] >= 1 / 10_000  # the observed arrangement counts: never 0
    assert row["ci95_low"] <= row["diff"] <= row["ci95_high"] < 0
    assert EXACT_MAX_TRIALS < 24


def test_holm_adjusts_across_the_rows():
    assert holm([0.01, 0.02, 0.03]).round(6).tolist() == [0.03, 0.04, 0.04]
    assert holm([0.5, 0.001]).round(6).tolist() == [0.5, 0.002]
    assert np.isnan(holm([np.nan, 0.2])[0]) and holm([np.nan, 0.2])[1] == 0.2


@pytest.fixture(scope="module")
def pool():
    """192 heterogeneous trials, matched once: the population the coverage test samples trials from."""
    trials = trial_names(192)
    truth, detections, _ = heterogeneous_release(192, frames=12, seed=7)
    matched, _, _ = matched_pair(truth, detections, detections, trials)
    return trials, matched, bootstrap_samples(matched, trials, np.ones((1, len(trials)))).iloc[0]


@pytest.mark.parametrize("n_trials", [MIN_TRIALS_FOR_INTERVAL, 22])
def test_intervals_cover_at_their_stated_rate(pool, n_trials):
    """Samples of test trials from a pool of 192 heterogeneous trials: the 95% intervals of each AP
    hold the pool's AP in about 95% of the samples (the interval the board prints from this many trials on)."""
    trials, matched, everything = pool
    rng = np.random.default_rng(n_trials)
    covered = {label: [] for label in [*BOX_LABELS, "map_voc_all", "map_voc_instruments"]}
    for replicate in range(150):
        chosen = sorted(rng.choice(trials, n_trials, replace=False))
        sample = Matched(
            matched.detections[matched.detections["trial"].isin(chosen)],
            matched.n_truth[matched.n_truth["trial"].isin(chosen)],
        )
        point = bootstrap_samples(sample, chosen, np.ones((1, n_trials))).iloc[0]
        replicates = bootstrap_samples(sample, chosen, resample_weights(n_trials, 300, replicate))
        for label in covered:
            low, high = t_interval(point[label], replicates[label], n_trials)
            covered[label].append(low <= everything[label] <= high)
    rates = {label: np.mean(hits) for label, hits in covered.items()}
    assert np.mean(list(rates.values())) > 0.91, rates
    assert min(rates.values()) > 0.86, rates
    assert INSTRUMENTS


def test_no_interval_below_the_minimum_of_trials():
    assert np.isnan(t_interval(0.5, np.array([0.4, 0.6, 0.5]), MIN_TRIALS_FOR_INTERVAL - 1)[0])
    low, high = t_interval(0.5, np.array([0.4, 0.6, 0.5, 0.45]), MIN_TRIALS_FOR_INTERVAL)
    assert low < 0.5 < high


def test_the_leave_one_surgeon_out_pool_is_tested_over_its_trials():
    """Pooled out-of-fold detections of 22 trials (the surgeons' trials of leave-one-surgeon-out)."""
    truth, a, b = heterogeneous_release(22, frames=10, seed=8)
    covered = sorted(split_frame_names(a["trial_frame"])["trial"].unique())
    board, paired = rank(truth, {"a": a, "b": b}, {"a": covered, "b": covered}, reference="b", n_resamples=200)
    assert set(paired["n_trials"]) == {22} and paired["ci95_low"].notna().all()
    assert paired["test"].str.startswith("Monte Carlo").all() and (paired["p_value"] > 0).all()
    assert paired["note"].str.startswith("p_holm").all()


def test_a_class_without_truth_leaves_the_means_of_the_others_and_a_p_value():
    """No needle box in the trials: the permutation test's mAP differences average the four classes
    with truth, as an independent enumeration does, and the board's differences are those."""
    truth, a, b = heterogeneous_release(5, frames=15, seed=9)
    truth = truth[truth["label"] != "needle"]
    trials = trial_names(5)
    ma, mb, n_truth = matched_pair(truth, a, b, trials)
    assert "needle" not in n_truth and (ma.detections["label"] == "needle").any()
    test = paired_permutation(ma.detections, mb.detections, n_truth, trials)
    expected = brute_force_differences(ma.detections, mb.detections, n_truth, trials)
    kept = [c for c in BOX_LABELS if c != "needle"]
    for label, group in (("all", kept), ("instruments", [c for c in INSTRUMENTS if c in kept])):
        mean = expected[group].mean(axis=1).to_numpy()
        assert np.allclose(test.differences[label], mean, atol=1e-12), label
        assert test.p_value(label) == pytest.approx(np.mean(np.abs(mean) >= abs(mean[0]) - 1e-12))
    board, paired = rank(truth, {"a": a, "b": b}, {"a": trials, "b": trials}, reference="b", n_resamples=0)
    ap = board.set_index(["detector", "label"])["ap_voc"]
    for label in ("all", "instruments"):
        row = paired.set_index("label").loc[label]
        assert row["diff"] == pytest.approx(ap[("a", label)] - ap[("b", label)], abs=1e-12)
        assert row["diff"] == pytest.approx(test.observed(label), abs=1e-12)
        assert row["p_value"] == test.p_value(label)


def test_the_interval_of_a_mean_keeps_its_classes_in_every_resample():
    """Needle boxes in one trial of twelve: a resample without that trial has no needle AP, and its
    mean over the other four classes is another quantity than the board's `all`; the interval is the
    spread of the five-class mean over the resamples that have all five."""
    trials = sorted(trial_names(12))  # the board's order, which the resample weights follow
    truth, a, _ = heterogeneous_release(12, frames=12, seed=10)
    trial = split_frame_names(truth["trial_frame"])["trial"].to_numpy()
    truth = truth[(truth["label"] != "needle").to_numpy() | (trial == trials[0])]
    board, _ = rank(truth, {"a": a}, {"a": trials}, reference="a", n_resamples=300, seed=4)
    matched, _, _ = matched_pair(truth, a, a, trials)
    replicates = bootstrap_samples(matched, trials, resample_weights(len(trials), 300, 4))
    assert replicates["needle"].isna().mean() > 0.2  # resamples without the needle's trial
    rows = board.set_index("label")
    for label, group in (("all", list(BOX_LABELS)), ("instruments", list(INSTRUMENTS))):
        mean = replicates[group].mean(axis=1, skipna=False)  # NaN where a class has no truth: left out
        expected = t_interval(rows.loc[label, "ap_voc"], mean, len(trials))
        assert rows.loc[label, ["ci95_low", "ci95_high"]].tolist() == pytest.approx(list(expected), abs=1e-12)
