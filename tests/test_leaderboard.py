"""The leaderboard and its paired comparisons, on the synthetic release and on the paper's detections."""

import numpy as np
import pandas as pd
import pytest

from sospine.constants import BOX_LABELS, INSTRUMENTS
from sospine.data.synth import SynthSpec, generate
from sospine.scoring.leaderboard import LeaderboardError, common_trials, headline, headline_text, rank, reference_of
from sospine.tables import read_annotations, split_frame_names

from .test_scoring import reference_voc_ap


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """Twelve synthetic trials (enough for intervals) with the generator's detections: truth, detections, trials."""
    paths = generate(
        SynthSpec(seed=5, trials=12, frames_per_trial=20, width=320, height=180), tmp_path_factory.mktemp("r")
    )
    truth = read_annotations(paths["sospine_bbox.csv"])
    dets = pd.read_csv(paths["sospine_detections_3.6_0.05.csv"])
    trials = sorted(split_frame_names(dets["trial_frame"])["trial"].unique())
    return truth, dets, trials


def trials_of(dets: pd.DataFrame) -> list[str]:
    return sorted(split_frame_names(dets["trial_frame"])["trial"].unique())


def test_a_copy_of_the_reference_differs_by_exactly_zero(release):
    truth, dets, trials = release
    detections = {"paper": dets, "copy": dets.sample(frac=1.0, random_state=1)}  # same rows, another order
    board, paired = rank(truth, detections, {n: trials for n in detections}, reference="paper", n_resamples=200)
    assert (paired["diff"] == 0).all() and (paired["ci95_low"] == 0).all() and (paired["ci95_high"] == 0).all()
    assert (paired["p_value"] == 1).all()
    assert set(paired["detector"]) == {"copy"} and list(paired["label"]) == [*BOX_LABELS, "instruments", "all"]


def test_the_board_matches_an_independent_computation(release):
    truth, dets, trials = release
    weaker = dets[dets["score"] > 0.5]
    board, _ = rank(truth, {"a": dets, "b": weaker}, {"a": trials, "b": trials}, reference="a", n_resamples=50)
    for name, table in (("a", dets), ("b", weaker)):
        rows = board[board["detector"] == name].set_index("label")
        expected = {label: reference_voc_ap(truth, table, label) for label in BOX_LABELS}
        for label, value in expected.items():
            assert rows.loc[label, "ap_voc"] == pytest.approx(value, abs=1e-12)
        assert rows.loc["all", "ap_voc"] == pytest.approx(np.mean(list(expected.values())), abs=1e-12)
        assert rows.loc["instruments", "ap_voc"] == pytest.approx(np.mean([expected[c] for c in INSTRUMENTS]))
        assert rows.loc["all", "n_detections"] == len(table)
    assert list(board["rank"].unique()) == [1, 2]


def test_a_known_difference_is_found_and_covered(release):
    """Drop every grasper detection: grasper's difference is minus its AP, the other classes' 0."""
    truth, dets, trials = release
    without = dets[dets["label"] != "grasper"]
    board, paired = rank(truth, {"ref": dets, "nog": without}, {"ref": trials, "nog": trials}, reference="ref")
    ap = board[board["detector"] == "ref"].set_index("label")["ap_voc"]
    diff = paired.set_index("label")
    assert diff.loc["grasper", "diff"] == pytest.approx(-ap["grasper"])
    assert diff.loc["grasper", "ci95_low"] <= diff.loc["grasper", "diff"] <= diff.loc["grasper", "ci95_high"]
    assert diff.loc["grasper", "ci95_high"] < 0 and diff.loc["grasper", "p_value"] == 2 / 2**12  # the most extreme
    for label in ("needle", "needle driver", "nerve hook", "durotomy"):
        assert diff.loc[label, "diff"] == 0 and diff.loc[label, "ci95_low"] == diff.loc[label, "ci95_high"] == 0
    assert diff.loc["all", "diff"] == pytest.approx(-ap["grasper"] / 5)


def test_a_paired_interval_is_narrower_than_the_separate_ones(release):
    """Jittering the reference's boxes a little: the difference varies less than either detector."""
    truth, dets, trials = release
    rng = np.random.default_rng(0)
    shifted = dets.assign(x1=dets["x1"] + rng.normal(0, 2, len(dets)), x2=dets["x2"] + rng.normal(0, 2, len(dets)))
    board, paired = rank(truth, {"ref": dets, "shift": shifted}, {"ref": trials, "shift": trials}, reference="ref")
    row = board[(board["detector"] == "ref") & (board["label"] == "all")].iloc[0]
    diff = paired.set_index("label").loc["all"]
    assert diff["ci95_high"] - diff["ci95_low"] < row["ci95_high"] - row["ci95_low"]


def test_detectors_are_compared_on_the_trials_they_share(release):
    truth, dets, trials = release
    part = dets[split_frame_names(dets["trial_frame"])["trial"].isin(trials[:5]).to_numpy()]
    board, _ = rank(truth, {"all": dets, "part": part}, {"all": trials, "part": trials_of(part)}, reference="all")
    assert set(board["test_trials"]) == {" ".join(trials[:5])} and set(board["n_trials"]) == {5}
    assert (board.groupby("label")["ap_voc"].nunique() == 1).all()  # the same detections on those trials
    with pytest.raises(LeaderboardError, match="share no test trial.*a: S1A1.*b: S2A1"):
        common_trials({"a": ["S1A1"], "b": ["S2A1"]})


def test_few_trials_give_no_interval_and_say_so(release):
    truth, dets, trials = release
    weaker = dets[dets["score"] > 0.5]
    board, paired = rank(truth, {"a": dets, "b": weaker}, {"a": trials[:4], "b": trials[:4]}, reference="a")
    assert board["ci95_low"].isna().all() and paired["ci95_low"].isna().all()
    assert (paired["p_value"] >= 0.125).all() and (paired["p_min"] == 0.125).all()
    assert paired["note"].str.contains("no difference can reach p < 0.05").all()
    assert paired["note"].str.contains("leave-one-surgeon-out").all()
    assert set(paired["test"]) == {"exact paired permutation test over 4 test trials (16 arrangements)"}


def test_reference_choice():
    assert reference_of(["yolo", "yolov4_paper"], "auto", "yolov4_paper") == "yolov4_paper"
    assert reference_of(["yolo", "mine"], "auto", "yolov4_paper") == "yolo"
    with pytest.raises(LeaderboardError, match="'nope' is not a detector"):
        reference_of(["yolo"], "nope", None)


def test_the_paper_detections_rank_beside_a_degraded_copy(real_dir):
    truth = read_annotations(real_dir / "sospine_bbox.csv")
    dets = pd.read_csv(real_dir / "sospine_detections_3.6_0.05.csv")
    trials = trials_of(dets)
    fewer = dets[dets["label"] != "needle driver"]
    board, paired = rank(
        truth,
        {"yolov4_paper": dets, "fewer": fewer},
        {"yolov4_paper": trials, "fewer": trials},
        reference="yolov4_paper",
    )
    paper = board[board["detector"] == "yolov4_paper"].set_index("label")
    assert paper.loc["needle driver", "ap_voc"] == pytest.approx(0.9399, abs=1e-4)  # as `sospine score`
    assert paper.loc["instruments", "ap_voc"] == pytest.approx(0.772, abs=1e-3)
    diff = paired.set_index("label")
    assert diff.loc["needle driver", "diff"] == pytest.approx(-paper.loc["needle driver", "ap_voc"])
    assert diff.loc["grasper", "diff"] == 0
    assert diff.loc["needle driver", "note"].startswith("with 4 test trials no difference can reach p < 0.05")
    assert diff.loc["needle driver", "p_value"] == 0.125  # the smallest four trials allow, however large the drop


def test_a_class_without_truth_is_left_out_of_every_mean_alike(release):
    """No nerve-hook box in the test trials (its detections stay, all false positives): the board's
    `instruments` and `all` average the classes with truth, and the paired table tests that same
    quantity, so its difference is the board's and it has a p-value and an interval."""
    truth, dets, trials = release
    no_hook = truth[truth["label"] != "nerve hook"]
    weaker = dets[dets["score"] > 0.5]
    assert (weaker["label"] == "nerve hook").any()
    detections = {"a": dets, "b": weaker}
    board, paired = rank(no_hook, detections, {n: trials for n in detections}, reference="a", n_resamples=200)
    kept = [c for c in BOX_LABELS if c != "nerve hook"]
    means = {}
    for name, table in detections.items():
        rows = board[board["detector"] == name].set_index("label")
        expected = {label: reference_voc_ap(no_hook, table, label) for label in kept}
        assert np.isnan(rows.loc["nerve hook", "ap_voc"]) and rows.loc["nerve hook", "n_truth"] == 0
        assert rows.loc["all", "ap_voc"] == pytest.approx(np.mean(list(expected.values())), abs=1e-12)
        instruments = [expected[c] for c in INSTRUMENTS if c in kept]
        assert rows.loc["instruments", "ap_voc"] == pytest.approx(np.mean(instruments), abs=1e-12)
        assert rows.loc[["all", "instruments"], ["ci95_low", "ci95_high"]].notna().all().all()
        means[name] = rows.loc[["all", "instruments"], "ap_voc"]
    diff = paired.set_index("label")
    for label in ("all", "instruments"):
        assert diff.loc[label, "diff"] == pytest.approx(means["b"][label] - means["a"][label], abs=1e-12)
        assert diff.loc[label, ["p_value", "p_holm", "ci95_low", "ci95_high"]].notna().all(), diff.loc[label]
        assert diff.loc[label, "ci95_low"] <= diff.loc[label, "diff"] <= diff.loc[label, "ci95_high"]
    assert np.isnan(diff.loc["nerve hook", "p_value"])
    assert diff["note"].str.contains("no truth box of nerve hook").all()
    top = headline(board, paired).set_index("detector").loc["b"]
    assert top["diff_all"] == pytest.approx(top["ap_all"] - means["a"]["all"], abs=1e-12)
    assert 0 < top["p_value"] <= 1 and "nerve hook" in headline_text(board, paired)
    alone, nothing = rank(no_hook, {"a": dets}, {"a": trials}, reference="a", n_resamples=0)
    assert nothing.empty and "no truth box of nerve hook" in headline_text(alone, nothing)  # said without a pair too
