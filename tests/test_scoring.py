import json

import numpy as np
import pandas as pd
import pytest

from sospine.cli import main
from sospine.scoring import score
from sospine.tables import read_annotations

PAPER_AP = {"needle driver": 0.939, "grasper": 0.768, "nerve hook": 0.600, "needle": 0.018, "durotomy": 0.011}


def reference_voc_ap(truth: pd.DataFrame, dets: pd.DataFrame, label: str, iou_thr: float = 0.5) -> float:
    """A straightforward PASCAL VOC devkit-style loop, independent of the vectorised code."""

    def stem(s):
        return s.rsplit(".", 1)[0]

    gt = {}
    for r in truth[truth["label"] == label].itertuples():
        gt.setdefault(stem(r.trial_frame), []).append([r.x1, r.y1, r.x2, r.y2])
    taken = {k: [False] * len(v) for k, v in gt.items()}
    npos = sum(len(v) for v in gt.values())
    d = dets[dets["label"] == label]
    d = d.iloc[np.lexsort((d["y2"], d["x2"], d["y1"], d["x1"], d["trial_frame"].map(stem), -d["score"].to_numpy()))]
    tp, fp = [], []
    for r in d.itertuples():
        boxes = gt.get(stem(r.trial_frame), [])
        best, best_j = 0.0, -1
        for j, (x1, y1, x2, y2) in enumerate(boxes):
            iw, ih = max(0, min(r.x2, x2) - max(r.x1, x1)), max(0, min(r.y2, y2) - max(r.y1, y1))
            union = (r.x2 - r.x1) * (r.y2 - r.y1) + (x2 - x1) * (y2 - y1) - iw * ih
            ov = iw * ih / union if union > 0 else 0.0
            if ov > best:
                best, best_j = ov, j
        if best >= iou_thr and not taken[stem(r.trial_frame)][best_j]:
            taken[stem(r.trial_frame)][best_j] = True
            tp.append(1)
            fp.append(0)
        else:
            tp.append(0)
            fp.append(1)
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    rec = tp / npos
    prec = tp / np.maximum(tp + fp, np.finfo(float).eps)
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


@pytest.fixture(scope="module")
def real(real_dir):
    truth = read_annotations(real_dir / "sospine_bbox.csv")
    dets = pd.read_csv(real_dir / "sospine_detections_3.6_0.05.csv")
    return truth, dets


def test_published_baseline_reproduces_the_paper(real_dir, tmp_path):
    assert (
        main(
            [
                "score",
                "--truth",
                str(real_dir / "sospine_bbox.csv"),
                "--detections",
                str(real_dir / "sospine_detections_3.6_0.05.csv"),
                "--out",
                str(tmp_path),
                "--bootstrap",
                "50",
            ]
        )
        == 0
    )
    table = pd.read_csv(tmp_path / "ap_per_class.csv").set_index("label")
    for label, ap in PAPER_AP.items():
        assert table.loc[label, "ap50_voc"] == pytest.approx(ap, abs=0.006), label
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["map50_voc_instruments"] == pytest.approx(0.77, abs=0.005)
    assert summary["map50_voc_all"] == pytest.approx(0.47, abs=0.01)
    assert sorted(summary["test_trials"]) == ["Clip0", "S4A1", "S6A3", "S8A2"]
    assert {"n_truth", "n_detections", "ap50_coco", "best_f1", "best_threshold"} <= set(table.columns)
    assert table.loc["needle driver", "ap50_coco"] > 0.9
    assert (tmp_path / "pr_curves.png").stat().st_size > 10_000


def perturbations(dets: pd.DataFrame):
    rng = np.random.default_rng(7)
    jitter = dets.copy()
    jitter[["x1", "y1", "x2", "y2"]] += rng.normal(0, 15, (len(dets), 4))
    jitter["x2"] = np.maximum(jitter["x2"], jitter["x1"])
    jitter["y2"] = np.maximum(jitter["y2"], jitter["y1"])
    shuffled_scores = dets.assign(score=rng.permutation(dets["score"].to_numpy()))
    dropped = dets.sample(frac=0.7, random_state=1)
    swapped = dets.copy()
    flip = rng.random(len(dets)) < 0.2
    swapped.loc[flip, "label"] = rng.choice(["needle", "grasper", "durotomy"], flip.sum())
    duplicated = pd.concat([dets, dets.sample(frac=0.3, random_state=2)])
    reordered = dets.sample(frac=1.0, random_state=3).assign(
        trial_frame=lambda d: d["trial_frame"].str.replace(".jpg", ".jpeg")
    )
    rounded_ties = dets.assign(score=dets["score"].round(1))
    return {
        "jitter": jitter,
        "shuffled_scores": shuffled_scores,
        "dropped": dropped,
        "swapped": swapped,
        "duplicated": duplicated,
        "reordered": reordered,
        "ties": rounded_ties,
    }


@pytest.mark.parametrize("case", ["jitter", "shuffled_scores", "dropped", "swapped", "duplicated", "reordered", "ties"])
def test_matches_an_independent_voc_implementation(real, case):
    truth, dets = real
    perturbed = perturbations(dets)[case]
    table = score(truth, perturbed, bootstrap=0, coco=False)["table"].set_index("label")
    trials = ["Clip0", "S4A1", "S6A3", "S8A2"]
    in_test = truth[truth["trial_frame"].str.split("_frame_").str[0].isin(trials)]
    for label in table.index:
        assert table.loc[label, "ap50_voc"] == pytest.approx(reference_voc_ap(in_test, perturbed, label), abs=1e-9), (
            case,
            label,
        )


def test_row_order_does_not_change_anything(real):
    truth, dets = real
    a = score(truth, dets, bootstrap=0, coco=False)["table"]
    b = score(truth, dets.sample(frac=1.0, random_state=5), bootstrap=0, coco=False)["table"]
    pd.testing.assert_frame_equal(a, b)


def test_empty_detections_give_zero_with_a_warning(real_dir, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("trial_frame,frame,x1,y1,x2,y2,score,label\n")
    with pytest.warns(UserWarning):
        result = score(
            read_annotations(real_dir / "sospine_bbox.csv"),
            pd.read_csv(empty),
            test_trials=["S4A1"],
            bootstrap=0,
            coco=False,
        )
    assert (result["table"]["ap50_voc"] == 0).all()


def test_bad_detections_exit_1_with_the_line(real_dir, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("trial_frame,frame,x1,y1,x2,y2,score,label\nS4A1_frame_00000010.jpg,10,1,2,30,40,nan,grasper\n")
    assert (
        main(
            [
                "score",
                "--truth",
                str(real_dir / "sospine_bbox.csv"),
                "--detections",
                str(bad),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 1
    )
    assert "bad.csv:2" in capsys.readouterr().err
