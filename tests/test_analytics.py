import numpy as np
import pandas as pd
import pytest

from sospine import analytics, constants
from sospine.tables import read_annotations, read_outcomes


def test_smoothing_fills_short_gaps_then_drops_short_runs():
    signal = np.array([1, 1, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1], bool)
    assert analytics.smooth_signal(signal, 2, 0).astype(int).tolist() == [
        1,
        1,
        1,
        1,
        1,
        0,
        0,
        0,
        1,
        0,
        0,
        0,
        0,
        1,
        1,
        1,
    ]
    assert analytics.smooth_signal(signal, 0, 2).astype(int).tolist() == [
        1,
        1,
        0,
        1,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        1,
        1,
        1,
    ]
    assert (analytics.smooth_signal(signal, 0, 0) == signal).all()
    # a gap at the start or end is not between two runs: never filled
    assert analytics.smooth_signal(np.array([0, 1, 1, 0], bool), 5, 0).astype(int).tolist() == [0, 1, 1, 0]


def _presence(rows):
    """rows: (trial, frame, set of tools) -> long presence table from ground truth."""
    boxes = pd.DataFrame(
        [(constants.frame_name(t, f), lab) for t, f, tools in rows for lab in (tools or [None])],
        columns=["trial_frame", "label"],
    )
    return analytics.presence(analytics.frame_index(boxes), boxes, analytics.GROUND_TRUTH)


PHASES = {
    "taking a bite": {"require": ["needle driver", "needle", "durotomy"], "forbid": [], "min_frames": 1},
    "suture tying": {
        "require": ["nerve hook", "durotomy"],
        "forbid": ["needle driver", "needle", "grasper"],
        "min_frames": 2,
    },
}


def test_phases_segments_and_table():
    bite = {"needle driver", "needle", "durotomy"}
    tie = {"nerve hook", "durotomy"}
    rows = [
        ("S1A2", 1, None),
        ("S1A2", 2, bite),
        ("S1A2", 3, bite),
        ("S1A2", 4, {"durotomy"}),
        ("S1A2", 5, tie),
        ("S1A2", 6, tie),
        ("S1A2", 7, tie | {"grasper"}),
        ("S1A2", 8, tie),
        ("S1A2", 9, bite),
    ]
    presence = _presence(rows)
    assert presence.groupby(["trial", "frame"]).size().eq(5).all()
    segs = analytics.segments(analytics.phase_activity(presence, PHASES))
    got = sorted(map(tuple, segs[["phase", "start_frame", "end_frame"]].to_numpy().tolist()))
    # frame 8 is a 1-frame tying run (shorter than min_frames 2): dropped
    assert got == [("suture tying", 5, 6), ("taking a bite", 2, 3), ("taking a bite", 9, 9)]
    table = analytics.phase_table(segs, presence[["trial", "frame"]].drop_duplicates(), list(PHASES)).set_index("phase")
    assert table.loc["taking a bite", "occurrences"] == 2 and table.loc["taking a bite", "total_s"] == 3
    assert table.loc["suture tying", "fraction_of_trial"] == pytest.approx(2 / 9)


def test_a_new_phase_is_a_config_change():
    rows = [("S1A2", f, {"grasper", "needle driver", "durotomy"}) for f in range(1, 5)]
    phases = dict(PHASES, **{"pulling suture": {"require": ["grasper", "needle driver"], "forbid": ["nerve hook"]}})
    segs = analytics.segments(analytics.phase_activity(_presence(rows), phases))
    assert segs[["phase", "start_frame", "end_frame"]].values.tolist() == [["pulling suture", 1, 4]]


def test_ground_truth_phases_recover_the_synthetic_script(synthetic):
    boxes = read_annotations(synthetic[constants.BBOX_CSV])
    frames = analytics.frame_index(boxes)
    activity = analytics.phase_activity(
        analytics.presence(frames, boxes, analytics.GROUND_TRUTH),
        PHASES | {"suture tying": dict(PHASES["suture tying"], min_frames=1)},
    )
    scripted = pd.read_csv(synthetic["phases.csv"])
    scripted = scripted[scripted["phase"].isin(PHASES)]
    truth = analytics.expand_segments(scripted, frames, list(PHASES), "script").drop(columns="source")
    agreement = analytics.agreement(truth, activity.drop(columns="source"), ["trial", "phase"], flag="active")
    assert (agreement["f1"] == 1.0).all()


def test_tool_metrics_count_entries():
    rows = [("S1A2", 1, {"grasper"}), ("S1A2", 2, None), ("S1A2", 3, {"grasper"}), ("S1A2", 4, {"grasper"})]
    metrics = analytics.tool_metrics(_presence(rows)).set_index("tool")
    assert metrics.loc["grasper", "time_in_view_s"] == 3 and metrics.loc["grasper", "in_n_outs"] == 2
    assert metrics.loc["needle", "in_n_outs"] == 0


def test_outcome_figures_of_the_paper(real_dir):
    table = analytics.by_attempt(analytics.outcomes_table(read_outcomes(real_dir / "sospine_outcomes.csv"))).set_index(
        "attempt"
    )
    assert table.loc["1", "success_rate"] == 0.375 and round(table.loc["1", "mean_time_s"]) == 727
    assert table.loc["3", "success_rate"] == 0.875 and round(table.loc["3", "mean_time_s"]) == 424
    assert (
        table.loc["all", "n_success"] == 17
        and table.loc["all", "n_trials"] == 24
        and round(table.loc["all", "mean_time_s"]) == 600
    )
    # the paper's means are over all trials of an attempt; over successful trials they differ
    assert round(table.loc["1", "mean_time_success_s"]) == 482


def test_permutation_test_separates_obvious_groups():
    values = np.array([1, 2, 3, 4, 100, 101, 102, 103], float)
    groups = np.array([0, 0, 0, 0, 1, 1, 1, 1], bool)
    assert analytics.permutation_test(values, groups, n=2000) < 0.05
    assert analytics.permutation_test(values, np.array([0, 1] * 4, bool), n=2000) > 0.3


def test_per_trial_metrics_count_absent_phases_as_zero(real_dir):
    """A phase that never happens lasted 0 s and occurred 0 times; a trial without annotations has no
    metrics and says why; so every metric is compared over the same trials."""
    outcomes = analytics.outcomes_table(read_outcomes(real_dir / "sospine_outcomes.csv"))
    annotated = [t for t in outcomes["trial"] if t not in ("S1A1", "S2A1")]
    bite = {"needle driver", "needle", "durotomy"}
    tie = {"nerve hook", "durotomy"}
    # every annotated trial takes bites; only the first of them ties a suture
    rows = [(t, f, bite) for t in annotated for f in range(1, 4)] + [(annotated[0], f, tie) for f in range(4, 7)]
    presence = _presence(rows)
    segs = analytics.segments(analytics.phase_activity(presence, PHASES))
    table = analytics.per_trial_metrics(outcomes, presence, segs, list(PHASES)).set_index("trial")
    assert table.loc[annotated[0], "suture tying_total_s"] == 3 and table.loc[annotated[0], "suture tying_count"] == 1
    for trial in annotated[1:]:
        assert table.loc[trial, "suture tying_total_s"] == 0 and table.loc[trial, "suture tying_count"] == 0
        assert table.loc[trial, "taking a bite_total_s"] == 3 and table.loc[trial, "grasper_time_in_view_s"] == 0
        assert table.loc[trial, "missing_reason"] == ""
    for trial in ("S1A1", "S2A1"):
        assert table.loc[trial, "missing_reason"] == analytics.NO_ANNOTATIONS
        assert pd.isna(table.loc[trial, "suture tying_total_s"])
    compared = analytics.by_outcome(table.reset_index().drop(columns=["leak", "missing_reason"])).set_index("metric")
    phase_rows = compared.loc[[c for c in compared.index if c.startswith(("suture", "taking"))]]
    assert phase_rows["n_success"].nunique() == 1 and phase_rows["n_leak"].nunique() == 1
    rated = table.loc[annotated].dropna(subset=["success"])
    assert phase_rows["n_success"].iat[0] + phase_rows["n_leak"].iat[0] == len(rated)


def test_detector_presence_covers_its_trials_and_the_test_trials():
    boxes = pd.DataFrame(
        [(constants.frame_name(t, f), "grasper") for t in ("S1A2", "S4A1", "Clip0") for f in (1, 2)],
        columns=["trial_frame", "label"],
    )
    frames = analytics.frame_index(boxes)
    detections = pd.DataFrame(
        {
            "trial_frame": [constants.frame_name("S4A1", 1, "jpg"), constants.frame_name("S4A1", 2, "jpg")],
            "label": ["grasper", "grasper"],
            "score": [0.9, 0.2],
        }
    )
    thresholds = analytics.presence_thresholds(pd.DataFrame({"label": ["grasper"], "best_threshold": [0.5]}), "best_f1")
    table = analytics.detector_presence(frames, detections, thresholds, "detections:x", ["Clip0"])
    assert set(table["trial"]) == {"S4A1", "Clip0"}  # its own trial and the test trial it found nothing in
    grasper = table[table["tool"] == "grasper"].set_index(["trial", "frame"])["present"]
    assert grasper.to_dict() == {("S4A1", 1): True, ("S4A1", 2): False, ("Clip0", 1): False, ("Clip0", 2): False}
    both = pd.concat([analytics.presence(frames, boxes, analytics.GROUND_TRUTH), table])
    metrics = analytics.presence_metrics(both).set_index(["trial", "tool"])
    assert metrics.loc[("S4A1", "grasper"), "recall"] == 0.5 and metrics.loc[("Clip0", "grasper"), "recall"] == 0
    assert analytics.presence_thresholds(pd.DataFrame({"label": ["needle"]}), 0.3) == {"needle": 0.3}
