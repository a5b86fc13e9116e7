"""Claims a reviewer would accept: presence thresholds never chosen on the trial they judge."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sospine import analytics
from sospine.constants import BBOX_CSV, PAPER_DETECTIONS_CSV
from sospine.scoring.detector_tables import covered_trials
from sospine.scoring.files import score
from sospine.scoring.matching import match, prepare_detections, prepare_truth
from sospine.tables import read_annotations, read_detections


def _cross_fitted(boxes, detections, test_trials, threshold="best_f1", iou=0.5):
    matched = match(prepare_truth(boxes, test_trials), prepare_detections(detections, test_trials), iou)
    trials = sorted(set(covered_trials(detections)) | set(test_trials))
    return analytics.cross_fitted_thresholds(matched, trials, test_trials, threshold)


def _brute_force_best_threshold(boxes, detections, trials, label, iou=0.5) -> float:
    """Independent of the ranking code: F1 at every candidate score, from the VOC flags of the
    trials scored alone; the highest score among the thresholds of highest F1."""
    matched = match(prepare_truth(boxes, trials), prepare_detections(detections, trials), iou).detections
    mine = matched[matched["label"].astype(str) == label]
    n_truth = int((prepare_truth(boxes, trials)["label"] == label).sum())
    best_f1, best = -1.0, np.nan
    for s in sorted(mine["score"].unique(), reverse=True):
        kept = mine[mine["score"] >= s]
        tp = int(kept["tp"].sum())
        f1 = 2 * tp / (len(kept) + n_truth) if len(kept) + n_truth else 0.0
        if f1 > best_f1 + 1e-12:
            best_f1, best = f1, s
    return float(best)


def test_each_test_trial_threshold_is_the_best_f1_of_the_other_test_trials(synthetic):
    boxes = read_annotations(synthetic[BBOX_CSV])
    trials = sorted(boxes["trial_frame"].str.split("_frame_").str[0].unique())
    detections = read_detections(synthetic[PAPER_DETECTIONS_CSV])
    test_trials = trials[:3]
    table = _cross_fitted(boxes, detections, test_trials)
    assert list(table.columns) == analytics.THRESHOLD_COLUMNS[1:]
    for trial in test_trials:
        others = [t for t in test_trials if t != trial]
        scored = score(boxes, detections, test_trials=others, bootstrap=0, coco=False)["table"].set_index("label")
        mine = table[table["trial"] == trial].set_index("label")
        for label, row in mine.iterrows():
            assert row["threshold"] == pytest.approx(scored.loc[label, "best_threshold"], nan_ok=True), (trial, label)
            if scored.loc[label, "n_truth"] > 0:
                expected = _brute_force_best_threshold(boxes, detections, others, label)
                assert row["threshold"] == pytest.approx(expected, nan_ok=True), (trial, label)
        assert mine["chosen_on"].str.contains(", ".join(others)).all()
        assert not mine["chosen_on"].str.contains(trial).any()
    # a new recording's thresholds come from all test trials: the scored file's own best_threshold
    everything = score(boxes, detections, test_trials=test_trials, bootstrap=0, coco=False)["table"]
    recording = analytics.for_new_recordings(table.assign(detector="d"), "d")
    assert recording == pytest.approx(dict(zip(everything["label"], everything["best_threshold"], strict=True)))
    # a trial outside the test trials is judged at the thresholds of all test trials
    outside = table[table["trial"] == trials[-1]].set_index("label")["threshold"]
    assert outside.to_dict() == pytest.approx(recording)


def test_a_fixed_presence_threshold_overrides_and_presence_uses_each_trials_own(synthetic):
    boxes = read_annotations(synthetic[BBOX_CSV])
    detections = read_detections(synthetic[PAPER_DETECTIONS_CSV])
    test_trials = sorted(boxes["trial_frame"].str.split("_frame_").str[0].unique())[:2]
    fixed = _cross_fitted(boxes, detections, test_trials, threshold=0.3)
    assert (fixed["threshold"] == 0.3).all() and (fixed["chosen_on"] == "analytics.presence_threshold").all()
    table = _cross_fitted(boxes, detections, test_trials).assign(detector="d")
    frames = analytics.frame_index(boxes)
    got = analytics.presence_at(frames, detections, table, "d", test_trials)
    for trial in test_trials:  # each trial as if thresholded alone at its own row's thresholds
        own = table[table["trial"] == trial]
        alone = analytics.detector_presence(
            frames[frames["trial"] == trial],
            detections[detections["trial_frame"].str.startswith(f"{trial}_")],
            dict(zip(own["label"], own["threshold"], strict=True)),
            "detections:d",
            [trial],
        )
        mine = got[got["trial"] == trial].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, alone.reset_index(drop=True), check_dtype=False)


def test_published_detections_thresholds_equal_sospine_score_on_the_other_trials(real_dir, tmp_path):
    boxes = read_annotations(real_dir / "sospine_bbox.csv")
    detections = read_detections(real_dir / "sospine_detections_3.6_0.05.csv")
    test_trials = ["Clip0", "S4A1", "S6A3", "S8A2"]
    table = _cross_fitted(boxes, detections, test_trials)
    trial, others = "S4A1", ["Clip0", "S6A3", "S8A2"]
    out = tmp_path / "scores"
    command = [sys.executable, "-m", "sospine", "score", "--truth", str(real_dir / "sospine_bbox.csv")]
    command += ["--detections", str(real_dir / "sospine_detections_3.6_0.05.csv"), "--out", str(out)]
    subprocess.run([*command, "--test-trials", *others], check=True, capture_output=True)
    scored = pd.read_csv(out / "ap_per_class.csv").set_index("label")["best_threshold"]
    mine = table[table["trial"] == trial].set_index("label")["threshold"]
    assert mine.to_dict() == pytest.approx(scored.to_dict(), nan_ok=True)


def test_under_leave_one_surgeon_out_a_detector_is_out_of_fold_only_if_held_out(tmp_path):
    from sospine.plan import Plan, PlanError

    from .test_plan import plan

    files = {}
    for n in range(1, 9):
        files[f"S{n}"] = tmp_path / f"mine-S{n}.csv"
        files[f"S{n}"].write_text("x\n")
    one = tmp_path / "one.csv"
    one.write_text("x\n")
    detectors = {
        "yolo": {"model": "yolo11n.yaml"},
        "folded": {"detections": {fold: str(path) for fold, path in files.items()}},
        "given": {"detections": str(one)},
    }
    found: Plan = plan(tmp_path, split={"method": "leave_one_surgeon_out"}, detectors=detectors)
    assert found.out_of_fold == {"yolo": True, "folded": True, "given": False}
    assert found.fold_detector("folded-S2") == ("folded", "S2") and found.kind("folded-S2") == "file"
    assert found.raw_detections("folded-S2") == str(files["S2"]) and found.is_external_file("folded-S2")
    assert found.raw_detections("folded") == found.out("inputs/out_of_fold/folded.csv")
    assert not found.is_external_file("folded") and str(files["S1"]) in found.external_files()
    assert found.fold_files("folded", list(files)) == {f: found.out(f"detections/folded-{f}.csv") for f in files}
    with pytest.raises(PlanError, match=r"gives files for folds S1, .*, S8 but the split has folds S1, .*, S9: add S9"):
        found.fold_files("folded", [*files, "S9"])
    # the split's folds are known at start: a missing or extra fold stops the run before any job
    for given, message in (({"S1": str(files["S1"])}, "add S2, S3"), ({**files, "S9": one}, "S9 is no fold")):
        wrong = {**detectors, "folded": {"detections": {k: str(v) for k, v in given.items()}}}
        with pytest.raises(PlanError, match=message):
            plan(tmp_path, split={"method": "leave_one_surgeon_out"}, detectors=wrong)
    # an explicit reference that is not out of fold could be tested with nothing
    with pytest.raises(PlanError, match="'leaderboard.reference': 'given' is not out of fold"):
        plan(
            tmp_path, split={"method": "leave_one_surgeon_out"}, detectors=detectors, leaderboard={"reference": "given"}
        )
    note = found.loso_note()
    assert "out of fold: yolo, folded; not out of fold (no p-value or interval): given" in note
    assert "Clip trials have no surgeon" in note
    # a run that trains nothing says so at start
    alone = plan(tmp_path, split={"method": "leave_one_surgeon_out"}, detectors={"given": {"detections": str(one)}})
    assert alone.out_of_fold == {"given": False} and "no detector is out of fold" in alone.loso_note()
    # under another split nothing is out of fold and nothing is said
    paper = plan(tmp_path, detectors={"given": {"detections": str(one)}})
    assert paper.out_of_fold == {"given": False} and paper.loso_note() is None


def test_files_per_fold_are_refused_under_another_split_or_with_a_bad_fold_name(tmp_path):
    from sospine.detectors.files import fold_files_problems

    path = tmp_path / "a.csv"
    path.write_text("x\n")
    problems = fold_files_problems("m", {"S1": str(path), "fold2": str(path)}, {"split": {"method": "paper"}})
    assert problems[0].startswith("config key 'detectors.m.detections': one file per fold needs split.method")
    assert "'detectors.m.detections.fold2': a fold is named by its surgeon" in problems[1]
    loso = {"split": {"method": "leave_one_surgeon_out"}}
    assert fold_files_problems("m", {"S1": str(path), "S2": "/no/such.csv"}, loso) == [
        "config key 'detectors.m.detections.S2': /no/such.csv does not exist"
    ]
    assert "the same file as S1" in fold_files_problems("m", {"S1": str(path), "S2": str(path)}, loso)[0]
    assert "is a folder, not a file" in fold_files_problems("m", {"S1": str(tmp_path)}, loso)[0]
    assert "got None" in fold_files_problems("m", {"S1": None}, loso)[0]
    assert "no fold given" in fold_files_problems("m", {}, loso)[0]
    assert "not 'S01'" in fold_files_problems("m", {"S01": str(path)}, loso)[0]


def test_table1_under_leave_one_surgeon_out_names_the_folds(real_dir):
    from sospine.dataset.split import split_dataset
    from sospine.dataset.stats import table1_by_fold

    boxes = read_annotations(real_dir / "sospine_bbox.csv")
    frames = (
        boxes[["trial_frame"]].drop_duplicates().assign(trial=lambda t: t["trial_frame"].str.split("_frame_").str[0])
    )
    settings = {"method": "leave_one_surgeon_out", "test_trials": [], "val_trials": 1, "test_fraction": 0.2, "seed": 0}
    _, trials, _ = split_dataset(frames, {**settings, "validation": "trials", "val_frames": 0})
    table = table1_by_fold(boxes, trials).set_index("label")
    folds = [c for c in table.columns if c.startswith("fold_S")]
    assert folds == [f"fold_S{n}" for n in range(1, 9)]
    assert (table["test"] == table[folds].sum(axis=1)).all() and (table["all"] == table["train"] + table["test"]).all()
    clips = boxes[boxes["trial_frame"].str.startswith("Clip")].dropna(subset=["label"])
    assert table["train"].sum() == len(clips)  # the Clip trials train in every fold, never tested
    s4 = boxes[boxes["trial_frame"].str.startswith("S4A")].dropna(subset=["label"])
    assert table["fold_S4"].sum() == len(s4)


def test_a_detector_not_out_of_fold_gets_no_p_value_or_interval_and_a_group_of_its_own():
    from sospine.scoring.claims import not_out_of_fold_note, withhold_claims
    from sospine.scoring.leaderboard import RECOMMENDATION, rank
    from sospine.statistics import holm

    from .test_rank_groups import off_frame
    from .test_statistics import heterogeneous_release, trial_names

    truth, a, b = heterogeneous_release(10, frames=10, seed=7)
    trials = trial_names(10)
    detections = {"held": a, "copy": a.copy(), "given": b, "worst": off_frame(a)}
    board, paired = rank(truth, detections, dict.fromkeys(detections, trials), reference="held", n_resamples=200)
    out_of_fold = {"held": True, "copy": True, "given": False, "worst": True}
    claimed, table = withhold_claims(board, paired, out_of_fold)
    assert claimed.groupby("detector")["out_of_fold"].first().to_dict() == out_of_fold
    given = claimed[claimed["detector"] == "given"]
    assert given[["ci95_low", "ci95_high"]].isna().all().all()
    others = claimed[claimed["detector"] != "given"]
    pd.testing.assert_frame_equal(
        others[["ci95_low", "ci95_high"]], board.loc[others.index, ["ci95_low", "ci95_high"]]
    )  # the others' intervals stand
    versus = table[table["detector"] == "given"]
    assert versus[["p_value", "p_holm", "ci95_low", "ci95_high"]].isna().all().all()
    kept = table[table["detector"] != "given"]
    # Holm over the tests that remain, by hand
    p = kept["p_value"].to_numpy(float)
    order = np.argsort(p, kind="stable")
    expected = np.empty(len(p))
    running = 0.0
    for position, index in enumerate(order):
        running = max(running, min(1.0, (len(p) - position) * p[index]))
        expected[index] = running
    assert kept["p_holm"].to_numpy(float) == pytest.approx(expected)
    assert np.allclose(holm(p), expected)
    assert (kept["p_value"].to_numpy() == paired.loc[kept.index, "p_value"].to_numpy()).all()
    # no step test touches it: a group of its own, and the one below it too
    per_detector = claimed.drop_duplicates("detector").set_index("detector")
    order = list(per_detector.sort_values("rank").index)
    place = order.index("given")
    assert per_detector.loc["given", "rank_group"] == place + 1 and np.isnan(per_detector.loc["given", "p_vs_above"])
    if place + 1 < len(order):
        below = order[place + 1]
        assert per_detector.loc[below, "rank_group"] == place + 2 and np.isnan(per_detector.loc[below, "p_vs_above"])
    assert not_out_of_fold_note(out_of_fold) in table["note"].iat[0] and RECOMMENDATION not in table["note"].iat[0]


def test_a_leave_one_surgeon_out_board_of_held_out_detectors_keeps_every_claim():
    from sospine.scoring.claims import withhold_claims
    from sospine.scoring.leaderboard import rank

    from .test_statistics import heterogeneous_release, trial_names

    truth, a, b = heterogeneous_release(10, frames=10, seed=7)
    trials = trial_names(10)
    board, paired = rank(truth, {"a": a, "b": b}, {"a": trials, "b": trials}, reference="a", n_resamples=200)
    claimed, table = withhold_claims(board, paired, {"a": True, "b": True})
    pd.testing.assert_frame_equal(claimed.drop(columns="out_of_fold"), board)
    assert claimed["out_of_fold"].all() and table["p_value"].equals(paired["p_value"])


@pytest.mark.slow
def test_leave_one_surgeon_out_on_the_published_files_claims_only_what_was_held_out(real_dir, workdir, tmp_path):
    """The published files under leave-one-surgeon-out: the paper's detections (trained on the same
    surgeons' other attempts) beside the same detections given as one file per fold (here only each
    fold's own trials: the form a held-out detector takes)."""
    from .conftest import run

    detections = pd.read_csv(real_dir / "sospine_detections_3.6_0.05.csv")
    surgeon = detections["trial_frame"].str.extract(r"^(S\d+)A")[0]
    folds = {}
    for n in range(1, 9):
        folds[f"S{n}"] = tmp_path / f"fold-S{n}.csv"
        detections[surgeon == f"S{n}"].to_csv(folds[f"S{n}"], index=False)
    given = ", ".join(f"{fold}: {path}" for fold, path in folds.items())
    config = tmp_path / "loso.yaml"
    config.write_text(
        f"data: {{source: mirror, mirror_dir: {real_dir}}}\nsplit: {{method: leave_one_surgeon_out}}\n"
        f"scoring: {{bootstrap: 20}}\ndetectors: {{folded: {{detections: {{{given}}}}}}}\n"
    )
    result = run(workdir, "--configfile", str(config))
    assert "note: leave-one-surgeon-out: the Clip trials have no surgeon" in result.stderr
    assert "not out of fold (no p-value or interval): yolov4_paper" in result.stderr
    results = workdir / "results"
    board = pd.read_csv(results / "leaderboard" / "leaderboard.csv")
    held = board.drop_duplicates("detector").set_index("detector")
    assert held["out_of_fold"].to_dict() == {"folded": True, "yolov4_paper": False}
    assert board.loc[board["detector"] == "yolov4_paper", ["ci95_low", "ci95_high"]].isna().all().all()
    paired = pd.read_csv(results / "leaderboard" / "paired.csv")
    assert paired["p_value"].isna().all()  # the only comparison involves the paper's file
    assert "not out of fold: yolov4_paper was not made without each fold's surgeon" in paired["note"].iat[0]
    assert "for claims use leave-one-surgeon-out" not in paired["note"].iat[0]
    assert "leave-one-surgeon-out pools 22" not in paired["note"].iat[0]
    log = (results / "logs" / "leaderboard.log").read_text()
    assert "not out of fold: yolov4_paper" in log and "for claims use leave-one-surgeon-out" not in log
    presence = pd.read_csv(results / "presence" / "paired.csv")
    assert presence["p_value"].isna().all() and set(presence["reference"]) == {"folded"}
    # the same APs: the folds' files hold exactly the paper's detections of the tested trials
    assert held.loc["folded", "ap_voc"] == pytest.approx(held.loc["yolov4_paper", "ap_voc"])
    table1 = pd.read_csv(results / "stats" / "table1.csv")
    assert [c for c in table1.columns if c.startswith("fold_")] == [f"fold_S{n}" for n in range(1, 9)]
    assert "test" in table1 and "train" in table1
    thresholds = pd.read_csv(results / "timelines" / "thresholds.csv")
    assert list(thresholds.columns) == ["detector", "trial", "label", "threshold", "chosen_on"]
    s4 = thresholds[(thresholds["detector"] == "yolov4_paper") & (thresholds["trial"] == "S4A1")]
    assert s4["chosen_on"].str.contains("other test trials").all() and not s4["chosen_on"].str.contains("S4A1").any()


def test_the_front_page_says_which_detector_is_not_out_of_fold(tmp_path):
    from sospine.front_page import skipped
    from sospine.scoring.claims import held_out, not_out_of_fold_note

    from .test_plan import plan

    one = tmp_path / "one.csv"
    one.write_text("x\n")
    found = plan(tmp_path, split={"method": "leave_one_surgeon_out"}, detectors={"given": {"detections": str(one)}})
    assert any("no detector is out of fold" in line for line in skipped(found))
    board = pd.DataFrame({"detector": ["given", "given"], "label": ["all", "needle"], "out_of_fold": [False, False]})
    assert held_out(board) == {"given": False}
    assert not_out_of_fold_note(held_out(board)).startswith("not out of fold: given was not made without")


def test_presence_ap_withholds_the_claims_of_a_detector_not_out_of_fold():
    from sospine.scoring.claims import withhold_presence_claims
    from sospine.statistics import holm

    table = pd.DataFrame(
        {
            "detector": ["a", "b", "c"],
            "tool": "needle",
            "presence_ap": [0.5, 0.6, 0.7],
            "ci95_low": [0.4, 0.5, 0.6],
            "ci95_high": [0.6, 0.7, 0.8],
            "n_frames": 100,
        }  # fmt: skip
    )
    paired = pd.DataFrame(
        {"detector": ["b", "c"], "reference": "a", "tool": "needle", "diff": [0.1, 0.2], "p_value": [0.01, 0.02]}
    )
    paired["p_holm"] = holm(paired["p_value"])
    kept, tests = withhold_presence_claims(table, paired, {"a": True, "b": False, "c": True})
    assert kept.loc[kept["detector"] == "b", ["ci95_low", "ci95_high"]].isna().all().all()
    assert kept.loc[kept["detector"] != "b", "ci95_low"].tolist() == [0.4, 0.6]
    assert np.isnan(tests.loc[0, "p_value"]) and np.isnan(tests.loc[0, "p_holm"])
    assert tests.loc[1, "p_holm"] == pytest.approx(0.02)  # one test left: Holm over it alone
