"""The board's rank groups: a detector shares the group of the one directly above it unless the
board's paired permutation test of the two (all classes), Holm-adjusted across the board's steps,
says p < 0.05. Checked against an independent computation: the arrangements enumerated by swapping
detections and ranking again, Holm by hand, the walk down the board written out."""

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from sospine.constants import BOX_LABELS
from sospine.scoring.leaderboard import ALPHA, headline, headline_text, rank, rank_groups
from sospine.tables import read_annotations, split_frame_names

from .test_statistics import heterogeneous_release, matched_pair, trial_names

N_TRIALS = 10  # the smallest p a pair can reach is 2 / 1024: below 0.05 even after Holm over 15 tests


@pytest.fixture(scope="module")
def release():
    truth, a, _ = heterogeneous_release(N_TRIALS, frames=10, seed=7)
    return truth, a, trial_names(N_TRIALS)


def _trial(dets: pd.DataFrame) -> pd.Series:
    return split_frame_names(dets["trial_frame"])["trial"]


def off_frame(dets: pd.DataFrame) -> pd.DataFrame:
    """The same detections moved off the frame: every one a false positive, AP 0 in every class."""
    return dets.assign(x1=dets["x1"] + 5000, x2=dets["x2"] + 5000)


def voc_ap(tp: np.ndarray, n_truth: int) -> float:
    """All-point VOC AP written out: at each true positive, the best precision at that rank or below."""
    if not len(tp):
        return 0.0
    precision = np.cumsum(tp) / np.arange(1, len(tp) + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    return float(envelope[tp].sum() / n_truth)


def brute_force_p(truth, upper, lower, trials) -> float:
    """Two-sided p of the all-class AP difference (lower minus upper), every one of the 2^n swaps of
    the two detectors' detections within trials ranked and scored again, the observed one counted."""
    ma, mb, n_truth = matched_pair(truth, lower, upper, trials)
    both = pd.concat([ma.detections.assign(_b=False), mb.detections.assign(_b=True)], ignore_index=True)
    stem = pd.Series(both["stem"].astype(str))
    stem_code = stem.map({s: i for i, s in enumerate(sorted(stem.unique()))}).to_numpy()
    trial = both["trial"].astype(str).map({t: i for i, t in enumerate(trials)}).to_numpy()
    label = both["label"].astype(str).to_numpy()
    owner_b, tp = both["_b"].to_numpy(bool), both["tp"].to_numpy(bool)
    order = np.lexsort((both["y2"], both["x2"], both["y1"], both["x1"], stem_code, -both["score"].to_numpy()))
    kept = [c for c in BOX_LABELS if n_truth.get(c, 0) > 0]
    means = []
    for code in range(2**N_TRIALS):
        swapped = ((code >> np.arange(len(trials))) & 1).astype(bool)[trial]
        side_a = owner_b == swapped  # lower's detections where not swapped, upper's where swapped
        differences = []
        for c in kept:
            mine = order[label[order] == c]
            a, b = mine[side_a[mine]], mine[~side_a[mine]]
            differences.append(voc_ap(tp[a], n_truth[c]) - voc_ap(tp[b], n_truth[c]))
        means.append(np.mean(differences))
    means = np.array(means)
    return float(np.mean(np.abs(means) >= abs(means[0]) - 1e-12))


def holm_by_hand(p: list[float]) -> list[float]:
    """Holm's step-down: sorted ascending, the i-th (from 0) times m - i, made monotone, capped at 1."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    out, running = [0.0] * len(p), 0.0
    for i, index in enumerate(order):
        running = max(running, min(1.0, (len(p) - i) * p[index]))
        out[index] = running
    return out


def expected_groups(truth, detections, order, trials, paired, reference):
    """Walk down the board: a new group (named by its first place) where the step's p against the
    one above, Holm-adjusted with every test the board reports (the paired table's rows and the
    steps it does not hold), is below 0.05. Returns the groups, the raw and the adjusted step p."""
    raw = [brute_force_p(truth, detections[u], detections[lo], trials) for u, lo in pairwise(order)]
    family = list(paired["p_value"])
    where = []
    for (upper, lower), p in zip(pairwise(order), raw, strict=True):
        if reference in (upper, lower):
            other = lower if upper == reference else upper
            where.append(next(i for i, r in enumerate(paired.itertuples()) if (r.detector, r.label) == (other, "all")))
        else:
            where.append(len(family))
            family.append(p)
    adjusted = [holm_by_hand(family)[i] for i in where]
    groups = {order[0]: 1}
    for place, (above, name) in enumerate(pairwise(order), start=2):
        groups[name] = place if adjusted[place - 2] < 0.05 else groups[above]
    return groups, raw, adjusted


def by_detector(board: pd.DataFrame, column: str) -> dict:
    return board.drop_duplicates("detector").set_index("detector")[column].to_dict()


def test_identical_detectors_share_a_group_and_a_clearly_worse_one_is_below_them(release):
    truth, a, trials = release
    detections = {
        "a": a,
        "copy": a.sample(frac=1.0, random_state=3),  # the same detections in another order
        "weak": off_frame(a),  # every detection a false positive
    }
    board, paired = rank(truth, detections, {n: trials for n in detections}, reference="a", n_resamples=0)
    order = list(board.drop_duplicates("detector")["detector"])
    assert order == ["a", "copy", "weak"] and by_detector(board, "rank") == {"a": 1, "copy": 2, "weak": 3}
    groups, raw, adjusted = expected_groups(truth, detections, order, trials, paired, "a")
    assert groups == {"a": 1, "copy": 1, "weak": 3}  # the independent computation itself
    assert by_detector(board, "rank_group") == groups
    assert raw[0] == 1.0 and raw[1] == pytest.approx(2 / 2**N_TRIALS)
    assert by_detector(board, "p_vs_above")["copy"] == pytest.approx(raw[0])
    assert by_detector(board, "p_vs_above")["weak"] == pytest.approx(raw[1])
    assert by_detector(board, "p_vs_above_holm")["copy"] == pytest.approx(adjusted[0])
    assert by_detector(board, "p_vs_above_holm")["weak"] == pytest.approx(adjusted[1])
    assert np.isnan(by_detector(board, "p_vs_above")["a"])
    # where one of the pair is the reference, the step's test is the paired table's own
    copy_all = paired.set_index(["detector", "label"]).loc[("copy", "all")]
    assert copy_all["p_value"] == by_detector(board, "p_vs_above")["copy"]
    # the headline prints the tie as a tie, and the rank stays the order of the APs
    table = headline(board, paired)
    assert table["place"].tolist() == ["1=", "1=", "3"] and table["rank"].tolist() == [1, 2, 3]
    text = headline_text(board, paired)
    assert "tied for 1: a, copy" in text and "1=" in text


def test_a_chain_of_ties_is_one_group_though_its_ends_differ(release):
    """A ~ B and B ~ C but A differs from C: B is A in half the trials and C in the other half. Only
    neighbours are tested, so all three share group 1; the direct test of A and C would say otherwise."""
    truth, a, trials = release
    worse = off_frame(a)  # C: finds nothing
    first_half = _trial(a).isin(trials[: N_TRIALS // 2]).to_numpy()
    half = pd.concat([a[first_half], worse[_trial(worse).isin(trials[N_TRIALS // 2 :]).to_numpy()]])
    detections = {"A": a, "B": half, "C": worse}
    board, paired = rank(truth, detections, {n: trials for n in detections}, reference="A", n_resamples=0)
    order = list(board.drop_duplicates("detector")["detector"])
    assert order == ["A", "B", "C"]
    groups, raw, _ = expected_groups(truth, detections, order, trials, paired, "A")
    assert groups == {"A": 1, "B": 1, "C": 1} and by_detector(board, "rank_group") == groups
    assert min(raw) >= 2 / 2 ** (N_TRIALS // 2)  # each step differs in half the trials only
    ends = brute_force_p(truth, a, worse, trials)  # the ends differ, even Holm-adjusted with the 14 rows
    assert ends == pytest.approx(2 / 2**N_TRIALS) and 15 * ends < ALPHA


def test_the_walk_down_the_board():
    order = ["a", "b", "c", "d", "e"]
    assert rank_groups(order, {"b": 0.5, "c": 0.5, "d": 0.5, "e": 0.5}) == dict.fromkeys(order, 1)
    assert rank_groups(order, {"b": 0.01, "c": 0.01, "d": 0.01, "e": 0.01}) == {n: i + 1 for i, n in enumerate(order)}
    assert rank_groups(order, {"b": 0.2, "c": 0.049, "d": 0.05, "e": 0.3}) == {"a": 1, "b": 1, "c": 3, "d": 3, "e": 3}
    # no test against the one above (no p-value): a group of its own, never merged with it
    assert rank_groups(order, {"b": np.nan, "c": 0.9, "e": 0.9}) == {"a": 1, "b": 2, "c": 2, "d": 4, "e": 4}
    assert rank_groups(["only"], {}) == {"only": 1}


def test_a_board_written_before_groups_still_makes_a_headline(release):
    truth, a, trials = release
    detections = {"a": a, "copy": a}
    board, paired = rank(truth, detections, {n: trials for n in detections}, reference="a", n_resamples=0)
    old = board.drop(columns=["rank_group", "p_vs_above", "p_vs_above_holm"])
    assert headline(old, paired)["place"].tolist() == ["1", "2"]
    assert "tied" not in headline_text(old, paired)


def test_the_paper_detections_and_a_jittered_copy_share_first_place(real_dir):
    """At IoU 0.6 a copy of the paper's detections with jittered boxes ranks above them (p = 0.75 over
    the four test trials): the board ranks it first and puts both in group 1, printed 1= and 1=."""
    truth = read_annotations(real_dir / "sospine_bbox.csv")
    dets = pd.read_csv(real_dir / "sospine_detections_3.6_0.05.csv")
    trials = sorted(_trial(dets).unique())
    rng = np.random.default_rng(0)
    jittered = dets.assign(x1=dets["x1"] + rng.normal(0, 3, len(dets)), x2=dets["x2"] + rng.normal(0, 3, len(dets)))
    detections = {"yolov4_paper": dets, "jittered": jittered}
    board, paired = rank(
        truth, detections, {n: trials for n in detections}, reference="yolov4_paper", iou=0.6, n_resamples=0
    )
    assert by_detector(board, "rank") == {"jittered": 1, "yolov4_paper": 2}
    assert by_detector(board, "rank_group") == {"jittered": 1, "yolov4_paper": 1}
    assert by_detector(board, "p_vs_above")["yolov4_paper"] == paired.set_index("label").loc["all", "p_value"] >= 0.125
    assert headline(board, paired)["place"].tolist() == ["1=", "1="]
