"""What the SOSpine authors' analysis script (`sospine_tool_patterns_figshare.py` in their GitHub
repository alanbalugu/SOSpine) computes beyond APs, each checked against an independent plain loop:
tool-combination states and their entropy (`find_tool_patterns`), the tool profile over a trial
(`calculate_tool_patterns`, with tenths that are tenths of the trial), the runs of
`smooth_labels(threshold=T)` against `min_gap_frames`, and TP, FP and best F1 by the paper's rule."""

from __future__ import annotations

import csv
import math
import statistics
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from sospine import analytics, constants, plots
from sospine.analytics import patterns
from sospine.analytics.apm import apms
from sospine.scoring import paper_operating_point, score
from sospine.tables import read_annotations, read_outcomes

from .test_scoring import TEST_TRIALS, perturbations

TOOL_NAMES = ("durotomy", "grasper", "needle", "needle driver", "nerve hook")


def plain_frames(bbox_path) -> dict[str, dict[int, set[str]]]:
    """trial -> frame -> the labels annotated there, read with the csv module."""
    trials: dict[str, dict[int, set[str]]] = {}
    with open(bbox_path, newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            name = row["trial_frame"]
            trial, frame = name[: name.index("_frame_")], int(name[-13:-5])
            labels = trials.setdefault(trial, {}).setdefault(frame, set())
            if row["label"]:
                labels.add(row["label"])
    return trials


def plain_patterns(frames: dict[int, set[str]]) -> tuple[list[str], dict[str, int], float, float]:
    """A trial's states frame by frame, the count of each, and the entropy over log 32 and over the log
    of its frame count, by hand."""
    states = []
    for frame in range(1, max(frames) + 1):
        tools = sorted(frames.get(frame, set()))
        states.append("+".join(tools) if tools else "empty")
    counts: dict[str, int] = {}
    for state in states:
        counts[state] = counts.get(state, 0) + 1
    h = 0.0
    for n in counts.values():
        p = n / len(states)
        h -= p * math.log(p)
    return states, counts, h / math.log(32), h / math.log(len(states))


def plain_profile(trials: dict[str, dict[int, set[str]]]) -> dict[tuple[str, int], tuple[float, float, int]]:
    """(tool, tenth) -> mean and population SD over the trials with the tool, and their number."""
    shares: dict[tuple[str, int], list[float]] = {}
    for frames in trials.values():
        last = max(frames)
        for tool in TOOL_NAMES:
            mine = [f for f, tools in frames.items() if tool in tools]
            if not mine:
                continue
            for tenth in range(1, 11):
                inside = [f for f in mine if math.ceil(Fraction(10 * f, last)) == tenth]
                shares.setdefault((tool, tenth), []).append(len(inside) / len(mine))
    return {key: (statistics.fmean(v), statistics.pstdev(v), len(v)) for key, v in shares.items()}


def _patterns_of(presence: pd.DataFrame):
    states = analytics.frame_states(presence)
    return states, analytics.tool_patterns(states), analytics.pattern_entropy(states)


def test_states_are_the_authors_32_in_their_order():
    assert len(analytics.STATES) == 32 and len(set(analytics.STATES)) == 32
    assert analytics.STATES[:6] == ("empty", *TOOL_NAMES)
    assert analytics.STATES[-1] == "durotomy+grasper+needle+needle driver+nerve hook"
    sizes = [0 if s == "empty" else s.count("+") + 1 for s in analytics.STATES]
    assert sizes == sorted(sizes)  # empty, the single tools, the pairs ... as their combs_list
    assert patterns.state_name(["nerve hook", "durotomy", "durotomy"]) == "durotomy+nerve hook"


def _presence(rows):
    boxes = pd.DataFrame(
        [(constants.frame_name(t, f), lab) for t, f, tools in rows for lab in (tools or [None])],
        columns=["trial_frame", "label"],
    )
    return analytics.presence(analytics.frame_index(boxes), boxes, analytics.GROUND_TRUTH)


def test_states_shares_and_entropy_by_hand():
    rows = [("S1A2", f, {"durotomy"}) for f in range(1, 5)] + [
        ("S1A2", 5, {"needle driver", "durotomy"}),
        ("S1A2", 6, None),
        ("S1A3", 1, {"grasper"}),
    ]
    states, table, entropy = _patterns_of(_presence(rows))
    assert states[states["trial"] == "S1A2"]["state"].tolist() == ["durotomy"] * 4 + ["durotomy+needle driver", "empty"]
    shares = table[table["trial"] == "S1A2"].set_index("state")
    assert len(shares) == 32 and shares["frames"].sum() == 6
    assert shares.loc["durotomy", "share"] == 4 / 6 and shares.loc["grasper", "frames"] == 0
    h = -(4 / 6 * math.log(4 / 6) + 2 * (1 / 6) * math.log(1 / 6))
    row = entropy.set_index("trial").loc["S1A2"]
    assert row["entropy"] == pytest.approx(h / math.log(32), abs=1e-15)
    assert row["entropy_authors"] == pytest.approx(h / math.log(6), abs=1e-15)
    assert row["n_states"] == 3
    one = entropy.set_index("trial").loc["S1A3"]  # one frame: 0 over log 32, 0/0 by the authors'
    assert one["entropy"] == 0 and np.isnan(one["entropy_authors"]) and one["n_states"] == 1


def test_the_profile_counts_tenths_of_the_trial_not_tenths_in_order_of_appearance():
    """The grasper is in the first and the last tenth only: the authors' enumeration of the groups
    that occur would put the last tenth's frames in the second tenth; here they stay in the tenth."""
    rows = [("S1A2", f, {"durotomy"}) for f in range(1, 101)]
    rows = [(t, f, tools | ({"grasper"} if f <= 10 or f > 90 else set())) for t, f, tools in rows]
    profile = analytics.tool_profile(_presence(rows)).set_index(["source", "tool", "tenth"])
    grasper = profile.loc[(analytics.GROUND_TRUTH, "grasper"), "share_mean"]
    assert grasper.tolist() == [0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0.5]
    assert profile.loc[(analytics.GROUND_TRUTH, "durotomy"), "share_mean"].tolist() == [0.1] * 10
    needle = profile.loc[(analytics.GROUND_TRUTH, "needle")]
    assert needle["share_mean"].isna().all() and (needle["n_trials"] == 0).all()
    assert patterns.tenth_of(np.array([10, 11]), np.array([100, 100])).tolist() == [1, 2]
    assert patterns.tenth_of(np.array([1, 7]), np.array([7, 7])).tolist() == [2, 10]  # ceil(10/7) = 2


@pytest.fixture(scope="module")
def real_presence(real_dir):
    boxes = read_annotations(real_dir / "sospine_bbox.csv")
    return analytics.presence(analytics.frame_index(boxes), boxes, analytics.GROUND_TRUTH)


def test_states_and_entropy_of_the_published_annotations_by_hand(real_dir, real_presence):
    trials = plain_frames(real_dir / "sospine_bbox.csv")
    states, table, entropy = _patterns_of(real_presence)
    entropy = entropy.set_index("trial")
    shares = table.set_index(["trial", "state"])
    assert set(entropy.index) == set(trials) and len(table) == 32 * len(trials)
    for trial, frames in trials.items():
        expected, counts, over_32, over_n = plain_patterns(frames)
        assert states[states["trial"] == trial]["state"].tolist() == expected, trial
        assert entropy.loc[trial, "entropy"] == pytest.approx(over_32, abs=1e-12), trial
        assert entropy.loc[trial, "entropy_authors"] == pytest.approx(over_n, abs=1e-12), trial
        assert entropy.loc[trial, "n_states"] == len(counts)
        for state in analytics.STATES:
            assert shares.loc[(trial, state), "frames"] == counts.get(state, 0), (trial, state)
            assert shares.loc[(trial, state), "share"] == pytest.approx(counts.get(state, 0) / len(expected), abs=1e-15)
    common = analytics.common_states(table)
    assert common == ["durotomy", "needle driver", "durotomy+needle driver", "grasper+needle driver"]


def test_tool_profile_of_the_published_annotations_by_hand(real_dir, real_presence):
    expected = plain_profile(plain_frames(real_dir / "sospine_bbox.csv"))
    profile = analytics.tool_profile(real_presence).set_index(["tool", "tenth"])
    assert len(profile) == 50
    for (tool, tenth), (mean, sd, n) in expected.items():
        assert profile.loc[(tool, tenth), "share_mean"] == pytest.approx(mean, abs=1e-12), (tool, tenth)
        assert profile.loc[(tool, tenth), "share_sd"] == pytest.approx(sd, abs=1e-12), (tool, tenth)
        assert profile.loc[(tool, tenth), "n_trials"] == n
    assert profile.groupby("tool")["share_mean"].sum().round(12).eq(1).all()


def authors_runs(frames: list[int], threshold: int) -> list[tuple[int, int]]:
    """The runs `smooth_labels(threshold)` keeps, as a plain loop: two runs join when the next one's
    first frame minus the last one's last frame is below the threshold."""
    runs: list[list[int]] = []
    for frame in frames:
        if runs and frame == runs[-1][1] + 1:
            runs[-1][1] = frame
        else:
            runs.append([frame, frame])
    joined: list[list[int]] = []
    for run in runs:
        if joined and run[0] - joined[-1][1] < threshold:
            joined[-1][1] = run[1]
        else:
            joined.append(list(run))
    return [tuple(r) for r in joined]


def our_runs(presence: pd.DataFrame, min_gap: int) -> dict[tuple[str, str], list[tuple[int, int]]]:
    smoothed = analytics.smooth(presence, min_gap, 0)
    out: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for (trial, tool), group in smoothed.groupby(["trial", "tool"]):
        frames = group.sort_values("frame")
        on = frames[frames["present"]]["frame"].tolist()
        out[(trial, tool)] = authors_runs(on, 1)  # consecutive frames only: the runs as they are
    return {k: v for k, v in out.items() if v}


def test_min_gap_frames_is_the_authors_threshold_minus_one(real_dir, real_presence):
    """Their smooth_labels(threshold=10) on the annotations is our min_gap_frames: 9 (776 runs);
    min_gap_frames: 10 fills one frame more (727)."""
    trials = plain_frames(real_dir / "sospine_bbox.csv")
    theirs = {}
    for trial, frames in trials.items():
        for tool in TOOL_NAMES:
            present = sorted(f for f, tools in frames.items() if tool in tools)
            if present:
                theirs[(trial, tool)] = authors_runs(present, 10)
    assert sum(len(v) for v in theirs.values()) == 776
    assert our_runs(real_presence, 9) == theirs
    assert sum(len(v) for v in our_runs(real_presence, 10).values()) == 727
    # on small signals, every threshold: T is G + 1
    rng = np.random.default_rng(0)
    for _ in range(200):
        signal = rng.random(40) < 0.5
        frames = [i + 1 for i in np.flatnonzero(signal)]
        threshold = int(rng.integers(2, 8))
        filled = analytics.smooth_signal(signal, threshold - 1, 0)
        assert authors_runs([i + 1 for i in np.flatnonzero(filled)], 1) == authors_runs(frames, threshold)


def plain_paper_point(truth: pd.DataFrame, dets: pd.DataFrame, label: str) -> tuple[int, int, float, float]:
    """TP, FP, best F1 and its score by the paper's rule, as a plain loop over detections ranked by
    score (stable: ties in file order): inclusive boxes, a hit needs IoU strictly above 0.5."""

    def stem(name):
        return name.rsplit(".", 1)[0]

    def iou(a, b):
        if a[0] > b[2] or b[0] > a[2] or a[3] < b[1] or a[1] > b[3]:
            return 0.0
        inter = (min(a[2], b[2]) - max(a[0], b[0]) + 1) * (min(a[3], b[3]) - max(a[1], b[1]) + 1)
        return inter / ((a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - inter)

    boxes: dict[str, list] = {}
    for r in truth[truth["label"] == label].itertuples():
        boxes.setdefault(stem(r.trial_frame), []).append((r.x1, r.y1, r.x2, r.y2))
    taken = {k: [False] * len(v) for k, v in boxes.items()}
    n_truth = sum(len(v) for v in boxes.values())
    rows = sorted((r for r in dets.itertuples() if r.label == label), key=lambda r: r.score, reverse=True)
    tp = fp = 0
    best_f1, best_score = 0.0, float("nan")
    for r in rows:
        best, best_j = 0.0, 0
        for j, box in enumerate(boxes.get(stem(r.trial_frame), [])):
            overlap = iou((r.x1, r.y1, r.x2, r.y2), box)
            if overlap > best:
                best, best_j = overlap, j
        if best > 0.5 and not taken[stem(r.trial_frame)][best_j]:
            taken[stem(r.trial_frame)][best_j] = True
            tp += 1
        else:
            fp += 1
        precision, recall = tp / (tp + fp), tp / n_truth
        f1 = 2 * (precision * recall) / (precision + recall) if tp else 0.0
        if f1 > best_f1:
            best_f1, best_score = f1, r.score
    return tp, fp, best_f1, best_score


#: what the authors' script prints for the published detections ("total TP", "total FP", best thresh)
AUTHORS_COUNTS = {
    "durotomy": (181, 1523, 0.0772),
    "grasper": (568, 177, 0.2039),
    "needle": (23, 145, 0.0611),
    "needle driver": (817, 251, 0.8473),
    "nerve hook": (111, 27, 0.0532),
}


@pytest.fixture(scope="module")
def real(real_dir):
    return read_annotations(real_dir / "sospine_bbox.csv"), pd.read_csv(real_dir / "sospine_detections_3.6_0.05.csv")


def test_paper_rule_operating_points_are_the_authors(real):
    truth, dets = real
    table = score(truth, dets, bootstrap=0, coco=False)["table"].set_index("label")
    in_test = truth[truth["trial_frame"].str.split("_frame_").str[0].isin(TEST_TRIALS)]
    for label, (tp, fp, threshold) in AUTHORS_COUNTS.items():
        row = table.loc[label]
        assert (row["n_tp_paper"], row["n_fp_paper"]) == (tp, fp), label
        assert row["n_tp_paper"] + row["n_fp_paper"] == row["n_detections"]
        assert row["best_threshold_paper"] == pytest.approx(threshold, abs=1e-9), label
        expected = plain_paper_point(in_test, dets, label)
        assert row["best_f1_paper"] == pytest.approx(expected[2], abs=1e-12), label
    # VOC's matching counts durotomy 175: the reader now sees both
    assert table.loc["durotomy", "n_true_positives"] == 175


@pytest.mark.parametrize("case", ["jitter", "ties", "swapped", "dropped"])
def test_paper_rule_operating_points_match_a_plain_loop(real, case):
    truth, dets = real
    perturbed = perturbations(dets)[case]
    table = score(truth, perturbed, bootstrap=0, coco=False)["table"].set_index("label")
    in_test = truth[truth["trial_frame"].str.split("_frame_").str[0].isin(TEST_TRIALS)]
    for label in table.index:
        tp, fp, f1, threshold = plain_paper_point(in_test, perturbed, label)
        row = table.loc[label]
        assert (row["n_tp_paper"], row["n_fp_paper"]) == (tp, fp), (case, label)
        assert row["best_f1_paper"] == pytest.approx(f1, abs=1e-12), (case, label)
        assert row["best_threshold_paper"] == pytest.approx(threshold, nan_ok=True), (case, label)


def test_ap_per_class_only_gains_columns(real):
    truth, dets = real
    table = score(truth, dets, bootstrap=0, coco=False)["table"]
    assert list(table.columns[-4:]) == ["n_tp_paper", "n_fp_paper", "best_f1_paper", "best_threshold_paper"]
    assert list(table.columns[:12]) == [
        "label",
        "iou_threshold",
        "n_truth",
        "n_detections",
        "n_true_positives",
        "ap_voc",
        "ap_paper",
        "ap50_voc",
        "best_f1",
        "best_threshold",
        "precision_at_best_f1",
        "recall_at_best_f1",
    ]
    assert paper_operating_point(np.array([False, False]), np.array([0.9, 0.8]), 3)[0] == 0


def test_presence_at_the_timelines_thresholds_per_class_or_per_trial():
    boxes = pd.DataFrame(
        [(constants.frame_name(t, f), "grasper") for t in ("S4A1", "Clip0") for f in (1, 2)],
        columns=["trial_frame", "label"],
    )
    frames = analytics.frame_index(boxes)
    detections = pd.DataFrame(
        {
            "trial_frame": [constants.frame_name(t, 1, "jpg") for t in ("S4A1", "Clip0")],
            "label": ["grasper", "grasper"],
            "score": [0.6, 0.6],
        }
    )
    per_class = pd.DataFrame({"detector": ["x", "y"], "label": ["grasper", "grasper"], "threshold": [0.5, 0.9]})
    table = analytics.presence_at(frames, detections, per_class, "x", ["S4A1", "Clip0"])
    grasper = table[(table["tool"] == "grasper") & table["present"]]
    assert sorted(grasper["trial"]) == ["Clip0", "S4A1"] and set(table["source"]) == {"detections:x"}
    per_trial = pd.DataFrame(
        {"detector": ["x", "x"], "trial": ["S4A1", "Clip0"], "label": ["grasper"] * 2, "threshold": [0.5, 0.7]}
    )
    table = analytics.presence_at(frames, detections, per_trial, "x", ["S4A1", "Clip0"])
    assert table[(table["tool"] == "grasper") & table["present"]]["trial"].tolist() == ["S4A1"]


def test_pattern_metrics_join_the_per_trial_metrics_and_the_apms(real_dir):
    outcomes = analytics.outcomes_table(read_outcomes(real_dir / "sospine_outcomes.csv"))
    annotated = [t for t in outcomes["trial"] if t not in ("S1A1", "S2A1")]
    rows = [(t, f, {"durotomy"}) for t in annotated for f in range(1, 4)] + [
        (t, 4, {"durotomy", "needle driver"}) for t in annotated
    ]
    presence = _presence(rows)
    states, table, entropy = _patterns_of(presence)
    common = analytics.common_states(table)
    assert common == ["durotomy", "durotomy+needle driver"]
    metrics = analytics.pattern_metrics(table, entropy, analytics.GROUND_TRUTH, common)
    segs = analytics.segments(analytics.phase_activity(presence, {}))
    per_trial = analytics.per_trial_metrics(outcomes, presence, segs, [], metrics).set_index("trial")
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert per_trial.loc[annotated[0], "pattern_entropy"] == pytest.approx(h / math.log(32))
    assert per_trial.loc[annotated[0], "pattern_entropy_authors"] == pytest.approx(h / math.log(4))
    assert per_trial.loc[annotated[0], "state_share_durotomy+needle driver"] == 0.25
    assert pd.isna(per_trial.loc["S1A1", "pattern_entropy"])
    table_apms = apms(presence, segs, [], analytics.GROUND_TRUTH, metrics)
    assert {"pattern_entropy", "pattern_entropy_authors", "state_share_durotomy+needle_driver"} <= set(
        table_apms.columns
    )
    assert len(table_apms) == len(annotated)


def test_figures(tmp_path, real_presence):
    states = analytics.frame_states(real_presence)
    plots.tool_states(states, "S8A2", list(analytics.STATES), tmp_path / "states.png")
    plots.tool_profile(analytics.tool_profile(real_presence), tmp_path / "profile.png")
    assert (tmp_path / "states.png").stat().st_size > 10_000 and (tmp_path / "profile.png").stat().st_size > 10_000
