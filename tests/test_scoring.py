import json

import numpy as np
import pandas as pd
import pytest

from sospine.cli import main
from sospine.dataset.boxes import paired_iou_inclusive
from sospine.scoring import score
from sospine.tables import read_annotations

TEST_TRIALS = ["Clip0", "S4A1", "S6A3", "S8A2"]
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


def reference_paper_ap(truth: pd.DataFrame, dets: pd.DataFrame, label: str, iou_thr: float = 0.5) -> float:
    """The SOSpine authors' rules as a plain loop: inclusive pixel boxes, a TP needs IoU strictly above
    the threshold (stable sort by score, ties in file order), AP without the step from recall 0."""

    def stem(s):
        return s.rsplit(".", 1)[0]

    def iou(a, b):
        if a[0] > b[2] or b[0] > a[2] or a[3] < b[1] or a[1] > b[3]:
            return 0.0
        inter = (min(a[2], b[2]) - max(a[0], b[0]) + 1) * (min(a[3], b[3]) - max(a[1], b[1]) + 1)
        area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
        area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
        return inter / (area_a + area_b - inter)

    gt = {}
    for r in truth[truth["label"] == label].itertuples():
        gt.setdefault(stem(r.trial_frame), []).append((r.x1, r.y1, r.x2, r.y2))
    taken = {k: [False] * len(v) for k, v in gt.items()}
    npos = sum(len(v) for v in gt.values())
    rows = [r for r in dets.itertuples() if r.label == label]
    rows = sorted(rows, key=lambda r: r.score, reverse=True)  # stable: ties keep file order
    flags = []
    for r in rows:
        best, best_j = 0.0, 0
        for j, box in enumerate(gt.get(stem(r.trial_frame), [])):
            overlap = iou((r.x1, r.y1, r.x2, r.y2), box)
            if overlap > best:
                best, best_j = overlap, j
        hit = best > iou_thr and not taken[stem(r.trial_frame)][best_j]
        if hit:
            taken[stem(r.trial_frame)][best_j] = True
        flags.append(hit)
    if not flags:
        return 0.0
    tp = np.cumsum(flags)
    recall = list(tp / npos)
    precision = list(tp / np.arange(1, len(flags) + 1))
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = max(precision[i], precision[i + 1])
    return float(sum((recall[i] - recall[i - 1]) * precision[i] for i in range(1, len(recall))))


def score_command(truth, detections, out, bootstrap: int = 1000) -> int:
    """`sospine score` as a user types it; its exit status."""
    return main(
        [
            "score",
            "--truth",
            str(truth),
            "--detections",
            str(detections),
            "--out",
            str(out),
            "--bootstrap",
            str(bootstrap),
        ]
    )


@pytest.fixture(scope="module")
def real(real_dir):
    truth = read_annotations(real_dir / "sospine_bbox.csv")
    dets = pd.read_csv(real_dir / "sospine_detections_3.6_0.05.csv")
    return truth, dets


def test_published_baseline_reproduces_the_paper(real_dir, tmp_path):
    assert score_command(real_dir / "sospine_bbox.csv", real_dir / "sospine_detections_3.6_0.05.csv", tmp_path, 50) == 0
    table = pd.read_csv(tmp_path / "ap_per_class.csv").set_index("label")
    for label, ap in PAPER_AP.items():
        assert round(table.loc[label, "ap_paper"], 3) == ap, label  # the paper's rules: exactly its figures
        assert table.loc[label, "ap50_voc"] == pytest.approx(ap, abs=0.006), label
        assert table.loc[label, "ap_voc"] == table.loc[label, "ap50_voc"]
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
    integer_boxes = dets.assign(**{c: dets[c].round() for c in ["x1", "y1", "x2", "y2"]}, score=dets["score"].round(2))
    return {
        "jitter": jitter,
        "shuffled_scores": shuffled_scores,
        "dropped": dropped,
        "swapped": swapped,
        "duplicated": duplicated,
        "reordered": reordered,
        "ties": rounded_ties,
        "integer_boxes": integer_boxes,
    }


def crowded(truth: pd.DataFrame, dets: pd.DataFrame) -> pd.DataFrame:
    """More than COCO's 100 detections per frame and class, all with one score: on 30 frames, each
    truth box gets 120 tied misses (a corner box) and then, last in the file, itself. COCO keeps the
    first 100 of a tie (its sort is stable), so these hits are never seen; a cut that broke ties
    otherwise would count them."""
    test_truth = truth[truth["trial_frame"].str.split("_frame_").str[0].isin(TEST_TRIALS)].dropna(subset=["label"])
    boxes = test_truth[test_truth["trial_frame"].isin(test_truth["trial_frame"].drop_duplicates().iloc[::60])]
    rows = boxes.assign(trial_frame=boxes["trial_frame"].str.replace(".jpeg", ".jpg"), score=0.5)
    rows["frame"] = rows["trial_frame"].str.extract(r"_frame_(\d+)", expand=False).astype(int)
    misses = rows.assign(x1=0.0, y1=0.0, x2=4.0, y2=4.0)
    return pd.concat([dets, *[misses] * 120, rows], ignore_index=True)[list(dets.columns)]


CASES = ["jitter", "shuffled_scores", "dropped", "swapped", "duplicated", "reordered", "ties", "integer_boxes"]


@pytest.mark.parametrize(
    "case, iou", [(case, 0.5) for case in CASES] + [("jitter", 0.3), ("jitter", 0.75), ("ties", 0.75)]
)
def test_paper_rules_match_an_independent_loop(real, case, iou):
    truth, dets = real
    perturbed = perturbations(dets)[case]
    table = score(truth, perturbed, bootstrap=0, coco=False, iou=iou)["table"].set_index("label")
    in_test = truth[truth["trial_frame"].str.split("_frame_").str[0].isin(TEST_TRIALS)]
    for label in table.index:
        expected = reference_paper_ap(in_test, perturbed, label, iou)
        assert table.loc[label, "ap_paper"] == pytest.approx(expected, abs=1e-9), (case, iou, label)


def test_paper_rule_effects_are_the_documented_ones():
    """Each rule alone, on boxes built to show it."""
    truth = pd.DataFrame(
        {"trial_frame": ["S1A2_frame_00000001.jpg"] * 2, "x1": [0, 100], "y1": [0, 0], "x2": [9, 109], "y2": [9, 9]}
    ).assign(label="grasper")
    # touching boxes: inclusive pixels overlap by one column, half-open boxes do not
    assert paired_iou_inclusive(np.array([[0, 0, 9, 9]]), np.array([[9, 0, 18, 9]]))[0] == pytest.approx(10 / 190)
    # IoU exactly 1/3 at threshold 1/3: not a hit for the paper (strictly greater), a hit just below it
    exact_then_perfect = truth.assign(x1=[5, 100], x2=[14, 109], score=[0.9, 0.8])  # inclusive IoU 50/150
    strict = score(truth, exact_then_perfect, bootstrap=0, coco=False, iou=1 / 3)["table"].set_index("label")
    assert strict.loc["grasper", "ap_paper"] == pytest.approx(0.25)  # FP then TP: recall 0 -> 0.5 at precision 0.5
    below = score(truth, exact_then_perfect, bootstrap=0, coco=False, iou=0.33)["table"].set_index("label")
    assert below.loc["grasper", "ap_paper"] == pytest.approx(0.5)  # TP, TP: recall 0.5 -> 1 at precision 1
    # a perfect first detection: VOC counts the step from recall 0, the paper leaves it out
    both = truth.assign(score=[0.9, 0.8])
    result = score(truth, both, bootstrap=0, coco=False)["table"].set_index("label")
    assert result.loc["grasper", "ap_voc"] == 1.0
    assert result.loc["grasper", "ap_paper"] == pytest.approx(0.5)


def test_names_say_what_they_hold_at_another_iou(real):
    truth, dets = real
    at_06 = score(truth, dets, bootstrap=0, coco=False, iou=0.6)
    at_05 = score(truth, dets, bootstrap=0, coco=False, iou=0.5)
    table = at_06["table"].set_index("label")
    assert (table["iou_threshold"] == 0.6).all()
    # ap50_voc stays the AP at IoU 0.5; ap_voc is at the configured 0.6
    pd.testing.assert_series_equal(table["ap50_voc"], at_05["table"].set_index("label")["ap_voc"], check_names=False)
    assert (table["ap_voc"] <= table["ap50_voc"] + 1e-12).all() and (table["ap_voc"] < table["ap50_voc"]).any()
    assert at_06["summary"]["map50_voc_all"] == at_05["summary"]["map_voc_all"]
    assert "map50_voc_all_ci95" not in at_06["summary"]


def test_intervals_only_where_they_mean_something(real):
    truth, dets = real
    four = score(truth, dets, bootstrap=100, coco=False)  # the paper's four test trials
    assert four["table"][["ci95_low", "ci95_high"]].isna().all().all()
    assert "4 test trial" in four["summary"]["ci95_note"] and "at least 10" in four["summary"]["ci95_note"]
    assert "map_voc_all_ci95" not in four["summary"]


def torchmetrics_coco(truth: pd.DataFrame, detections: pd.DataFrame) -> dict[str, dict[str, float]]:
    """The reference: torchmetrics' MeanAveragePrecision (faster_coco_eval backend), as the workflow
    computed the COCO figures before it dropped torch from scoring."""
    import torch
    from torchmetrics.detection import MeanAveragePrecision

    from sospine.constants import BOX_LABELS

    class_id = {label: i for i, label in enumerate(BOX_LABELS)}
    stems = np.union1d(truth["stem"].to_numpy(str), detections["stem"].to_numpy(str))

    def per_frame(table, with_scores):
        boxes = table[["x1", "y1", "x2", "y2"]].to_numpy(np.float32)
        labels = table["label"].map(class_id).to_numpy(np.int64)
        scores = table["score"].to_numpy(np.float32) if with_scores else None
        rows_of = table.reset_index(drop=True).groupby("stem").indices
        out = []
        for stem in stems:
            rows = rows_of.get(stem, np.array([], dtype=int))
            item = {"boxes": torch.tensor(boxes[rows]).reshape(-1, 4), "labels": torch.tensor(labels[rows])}
            if with_scores:
                item["scores"] = torch.tensor(scores[rows])
            out.append(item)
        return out

    metric = MeanAveragePrecision(
        iou_type="bbox", class_metrics=True, extended_summary=True, backend="faster_coco_eval"
    )
    metric.update(per_frame(detections, True), per_frame(truth, False))
    result = metric.compute()
    precision = result["precision"][:, :, :, 0, -1]
    out = {"ap50_coco": {}, "ap50_95_coco": {}}
    for k, c in enumerate(result["classes"].reshape(-1).tolist()):
        first, every = precision[0, :, k], precision[:, :, k]
        out["ap50_coco"][BOX_LABELS[c]] = float(first[first > -1].mean().float())
        out["ap50_95_coco"][BOX_LABELS[c]] = float(every[every > -1].mean().float())
    out["ap50_coco"]["all"] = float(result["map_50"])
    out["ap50_95_coco"]["all"] = float(result["map"])
    return out


@pytest.mark.parametrize(
    "case", ["published", "jitter", "dropped", "swapped", "duplicated", "ties", "integer_boxes", "crowded"]
)
def test_coco_figures_are_torchmetrics_to_1e6_without_torch(real, case):
    from sospine.scoring import coco_map, prepare_detections, prepare_truth

    truth, dets = real
    table = {"published": dets, "crowded": crowded(truth, dets)}.get(case)
    table = perturbations(dets)[case] if table is None else table
    prepared_truth, prepared = prepare_truth(truth, TEST_TRIALS), prepare_detections(table, TEST_TRIALS)
    if case == "crowded":  # COCO's cut to the 100 best per frame and class is where the figures could differ
        assert (prepared.groupby(["stem", "label"]).size() > 100).sum() >= 20
    ours, reference = coco_map(prepared_truth, prepared), torchmetrics_coco(prepared_truth, prepared)
    for kind in ("ap50_coco", "ap50_95_coco"):
        assert set(ours[kind]) == set(reference[kind])
        for label, value in reference[kind].items():
            assert ours[kind][label] == pytest.approx(value, abs=1e-6), (kind, label)


def test_scoring_imports_no_torch(real_dir, tmp_path):
    """`sospine score` (and the score and leaderboard scripts, which import the same modules) run
    without torch: the COCO figures come from faster_coco_eval directly; matplotlib draws the figure."""
    import subprocess
    import sys

    code = (
        "import sys; from sospine.cli import main; "
        f"code = main(['score', '--truth', r'{real_dir / 'sospine_bbox.csv'}', '--detections', "
        f"r'{real_dir / 'sospine_detections_3.6_0.05.csv'}', '--out', r'{tmp_path}']); "
        "plotted = 'matplotlib' in sys.modules; "
        "import sospine.scoring.leaderboard, sospine.scoring.permutation, sospine.validation.detections; "
        "assert code == 0; print('torch' in sys.modules, 'torchmetrics' in sys.modules, plotted)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split()[-3:] == ["False", "False", "True"], result.stdout
    assert (tmp_path / "pr_curves.png").stat().st_size > 10_000


@pytest.mark.parametrize("case", ["jitter", "shuffled_scores", "dropped", "swapped", "duplicated", "reordered", "ties"])
def test_matches_an_independent_voc_implementation(real, case):
    truth, dets = real
    perturbed = perturbations(dets)[case]
    table = score(truth, perturbed, bootstrap=0, coco=False)["table"].set_index("label")
    in_test = truth[truth["trial_frame"].str.split("_frame_").str[0].isin(TEST_TRIALS)]
    for label in table.index:
        assert table.loc[label, "ap50_voc"] == pytest.approx(reference_voc_ap(in_test, perturbed, label), abs=1e-9), (
            case,
            label,
        )


def test_row_order_does_not_change_anything(real):
    """Except the paper's AP, whose rules break score ties in file order (the published scores have
    four decimals, so ties are common): that is the authors' definition, kept as is."""
    truth, dets = real
    a = score(truth, dets, bootstrap=0, coco=False)["table"]
    b = score(truth, dets.sample(frac=1.0, random_state=5), bootstrap=0, coco=False)["table"]
    pd.testing.assert_frame_equal(a.drop(columns="ap_paper"), b.drop(columns="ap_paper"))


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
    assert score_command(real_dir / "sospine_bbox.csv", bad, tmp_path / "o") == 1
    assert "bad.csv:2" in capsys.readouterr().err


def test_fold_summary_has_every_fold_then_mean_and_std():
    from sospine.scoring import FOLD_METRICS, fold_summary

    def summary(value, trials):
        return {key: value for key in FOLD_METRICS} | {
            "test_trials": trials,
            "iou_threshold": 0.5,
            "n_truth": 10,
            "n_detections": 20,
        }

    table = fold_summary({"S1": summary(0.2, ["S1A2"]), "S2": summary(0.6, ["S2A2", "S2A3"])}).set_index("fold")
    assert list(table.index) == ["S1", "S2", "mean", "std"]
    assert table.loc["S2", "test_trials"] == "S2A2 S2A3"
    assert table.loc["mean", "map_paper_all"] == pytest.approx(0.4)
    assert table.loc["std", "map_voc_all"] == pytest.approx(np.std([0.2, 0.6], ddof=1))


def test_stable_order_is_pandas_stable_sort():
    """The VOC ranking's sort (first key, then each further key among ties only) gives pandas'
    stable multi-key order, descending keys, categories and missing values included."""
    from sospine.scoring import _stable_order

    rng = np.random.default_rng(3)
    for trial in range(200):
        n = int(rng.integers(0, 50))
        table = pd.DataFrame(
            {
                "score": rng.integers(0, 4, n) / 4,
                "stem": pd.Categorical(rng.choice(list("abc"), n), categories=list("cab")),
                "x": rng.integers(0, 2, n).astype(float),
                "rank": rng.integers(0, 3, n),
            }
        )
        if trial % 9 == 0 and n:
            table.loc[0, "x"] = np.nan  # placed last, as pandas does
        for keys, descending in (
            (["score", "stem", "x", "rank"], {"score"}),
            (["x", "stem"], {"x", "stem"}),
            (["rank"], set()),
        ):
            ascending = [key not in descending for key in keys]
            expected = table.sort_values(keys, ascending=ascending, kind="mergesort").index.to_numpy()
            assert (_stable_order(table, keys, descending) == expected).all(), (keys, table)


def test_pr_figure_fits_long_names_and_empty_classes(tmp_path):
    """The PR figure (matplotlib): the legend and the title are never cut off, however long the
    detector's name (line breaks and all), and a class without detections stays in the legend."""
    from PIL import Image

    from sospine.plots import pr_curves

    curves = pd.DataFrame(
        {"label": "grasper", "recall": [0.0, 0.5, 0.9], "precision": [1.0, 0.8, 0.6], "score": 0.5, "f1": 0.5}
    )
    table = pd.DataFrame({"label": ["needle", "grasper"], "ap_voc": [0.0, 0.7], "ap_paper": [0.0, 0.69]})
    short, long = tmp_path / "short.png", tmp_path / "long.png"
    pr_curves(curves, table, short, "yolo: precision-recall")
    pr_curves(curves, table, long, "a" * 180 + "\nb: precision-recall")  # a line break in a name too
    with Image.open(short) as small, Image.open(long) as wide:
        assert small.width >= 900 and wide.width > small.width + 200
        for image in (small, wide):
            pixels = np.asarray(image.convert("L"))
            assert pixels[:, -8:].min() == 255 and pixels[:, :8].min() == 255  # white margins: nothing cut
