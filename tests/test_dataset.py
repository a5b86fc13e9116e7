import zipfile

import numpy as np
import pandas as pd
import pytest

from sospine import constants
from sospine.data.synth import VIDEO_TRIALS
from sospine.dataset.export import ExportError, export_yolo
from sospine.dataset.split import assign_trials, frames_split
from sospine.dataset.stats import table1
from sospine.tables import read_annotations, with_frame_columns


@pytest.mark.parametrize("method", ["paper", "random", "leave_one_surgeon_out"])
@pytest.mark.parametrize("validation", ["trials", "frames"])
def test_no_trial_or_frame_in_two_splits(method, validation):
    frames = pd.DataFrame(
        [(constants.frame_name(t, i), t) for t in VIDEO_TRIALS for i in range(1, 21)], columns=["trial_frame", "trial"]
    )
    folds = assign_trials(
        list(VIDEO_TRIALS),
        method=method,
        test_trials=list(constants.PAPER_TEST_TRIALS),
        val_trials=2,
        test_fraction=0.2,
        seed=1,
    )
    assert len(folds) == (8 if method == "leave_one_surgeon_out" else 1)
    for fold in folds.values():
        assert fold["trial"].is_unique and set(fold["trial"]) == set(VIDEO_TRIALS)
        table = frames_split(frames, fold, validation=validation, val_frames=30, seed=1)
        assert table["trial_frame"].is_unique and len(table) == len(frames)
        assert set(table["split"]) == {"train", "val", "test"}
        per_trial = table.groupby("trial")["split"].agg(set)
        tested = per_trial[per_trial.map(lambda s: "test" in s)]
        assert (tested.map(len) == 1).all(), "a test trial never shares frames with another split"
        if validation == "trials":
            assert (per_trial.map(len) == 1).all()
        if method == "leave_one_surgeon_out":
            assert fold.loc[fold["split"] == "test", "trial"].str.extract(r"^(S\d+)A")[0].nunique() == 1
            assert (fold.loc[fold["trial"].str.startswith("Clip"), "split"] != "test").all()


def test_paper_table1_and_split(real_dir):
    boxes = with_frame_columns(read_annotations(real_dir / "sospine_bbox.csv"))
    frames = boxes.drop_duplicates("trial_frame")
    fold = assign_trials(
        frames["trial"].unique().tolist(),
        method="paper",
        test_trials=list(constants.PAPER_TEST_TRIALS),
        val_trials=2,
        test_fraction=0.2,
        seed=0,
    )["main"]
    split = frames_split(frames, fold, validation="frames", val_frames=1000, seed=0)
    assert (split["split"] == "test").sum() == 2828 and (split["split"] != "test").sum() == 12866
    assert (split["split"] == "val").sum() == 1000
    t = table1(boxes, split).set_index("label")
    expected = {
        "grasper": (2375, 1683, 692),
        "needle driver": (4238, 3400, 838),
        "nerve hook": (1200, 1023, 177),
        "durotomy": (12141, 9917, 2224),
        "needle": (1417, 1165, 252),
    }
    for label, (a, tr, te) in expected.items():
        assert tuple(t.loc[label, ["all", "train", "test"]]) == (a, tr, te)


def _frames_of(synthetic):
    boxes = read_annotations(synthetic[constants.BBOX_CSV])
    frames = with_frame_columns(boxes).drop_duplicates("trial_frame")[["trial_frame", "trial"]]
    return boxes, frames.assign(split=np.where(frames["trial"] == "Clip0", "test", "train"))


def test_export_labels_round_trip_to_original_pixels(synthetic, tmp_path):
    boxes, frames = _frames_of(synthetic)
    summary = export_yolo(synthetic[constants.FRAMES_ZIP], boxes, frames, tmp_path, max_side=160, workers=2)
    assert summary["frames"]["test"] == 30 and (tmp_path / "dataset.yaml").exists()
    names = (tmp_path / "dataset.yaml").read_text()
    assert all(f"{i}: {label}" in names for i, label in enumerate(constants.BOX_LABELS))
    from PIL import Image

    assert Image.open(next((tmp_path / "images" / "train").iterdir())).size == (160, 90)
    width, height = 320, 180
    for row in boxes.dropna(subset=["label"]).sample(40, random_state=0).itertuples():
        split = "test" if row.trial_frame.startswith("Clip0") else "train"
        lines = (tmp_path / "labels" / split / row.trial_frame.replace(".jpeg", ".txt")).read_text().split("\n")
        cls = constants.BOX_LABELS.index(row.label)
        decoded = []
        for line in filter(None, lines):
            c, cx, cy, w, h = line.split()
            if int(c) == cls:
                cx, cy, w, h = float(cx) * width, float(cy) * height, float(w) * width, float(h) * height
                decoded.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
        clipped = (max(row.x1, 0), max(row.y1, 0), min(row.x2, width), min(row.y2, height))
        if clipped[2] > clipped[0] and clipped[3] > clipped[1]:
            assert any(np.allclose(d, clipped, atol=1) for d in decoded), row


def test_coco_files_load_in_pycocotools(synthetic, tmp_path):
    """COCO users open these with pycocotools: COCO() needs `info` (2.0.9-2.0.10 raise KeyError
    without it), loadRes() needs the images; the licence travels with the data."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    boxes, frames = _frames_of(synthetic)
    export_yolo(synthetic[constants.FRAMES_ZIP], boxes, frames, tmp_path, max_side=160, workers=1)
    for split in ("train", "test"):
        coco = COCO(str(tmp_path / "coco" / f"{split}.json"))
        assert coco.dataset["licenses"][0]["name"] == "CC BY 4.0" and coco.dataset["info"]["url"].startswith("https")
        assert all((tmp_path / image["file_name"]).is_file() for image in coco.dataset["images"])
        # the truth as detections: a perfect score
        truth = [dict(a, score=1.0) for a in coco.dataset["annotations"]]
        results = coco.loadRes([{k: a[k] for k in ("image_id", "category_id", "bbox", "score")} for a in truth])
        evaluation = COCOeval(coco, results, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
        assert evaluation.stats[1] == 1.0  # AP at IoU 0.5


def test_hostile_archive(synthetic, tmp_path):
    boxes, frames = _frames_of(synthetic)
    hostile = tmp_path / "hostile.zip"
    with zipfile.ZipFile(synthetic[constants.FRAMES_ZIP]) as good, zipfile.ZipFile(hostile, "w") as bad:
        for name in good.namelist()[1:]:  # the first frame goes missing
            data = good.read(name)
            bad.writestr(name, data[:200] if name == good.namelist()[5] else data)  # and one is corrupt
        bad.writestr("../../escape.jpeg", b"x")
        bad.writestr("/abs.jpeg", b"x")
        bad.writestr("notes.txt", b"x")
    out = tmp_path / "out" / "yolo"
    with pytest.raises(ExportError, match="missing from the archive: Clip0_frame_00000001.jpeg"):
        export_yolo(hostile, boxes, frames, out, max_side=160)
    present = frames[frames["trial_frame"] != "Clip0_frame_00000001.jpeg"]
    with pytest.raises(ExportError, match="corrupt JPEG"):
        export_yolo(hostile, boxes, present, out, max_side=160)
    assert not (tmp_path / "escape.jpeg").exists() and not list(tmp_path.parent.glob("escape*"))
    assert all(p.resolve().is_relative_to(out.resolve()) for p in out.rglob("*"))


def test_unknown_test_trials_are_named_not_dropped():
    from sospine.dataset.split import SplitError, assign_trials

    with pytest.raises(SplitError, match=r"\['S9A9'\] is not among the annotated trials"):
        assign_trials(
            ["S1A2", "S4A1", "Clip0"],
            method="paper",
            test_trials=["S4A1", "S9A9"],
            val_trials=0,
            test_fraction=0,
            seed=0,
        )


@pytest.mark.parametrize("kind", ["truncated", "empty", "not_a_zip"])
def test_broken_archives_are_named(synthetic, tmp_path, kind):
    boxes, frames = _frames_of(synthetic)
    broken = tmp_path / "frames.zip"
    data = synthetic[constants.FRAMES_ZIP].read_bytes()
    broken.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "not_a_zip": b"<html>nope</html>"}[kind])
    with pytest.raises(ExportError, match=f"{broken}: not a readable zip archive"):
        export_yolo(broken, boxes, frames, tmp_path / "out", max_side=160)


def test_an_entry_far_larger_than_a_frame_is_refused(synthetic, tmp_path, monkeypatch):
    import sospine.dataset.export

    monkeypatch.setattr(sospine.dataset.export, "MAX_FRAME_BYTES", 1000)  # the synthetic frames are larger
    boxes, frames = _frames_of(synthetic)
    with pytest.raises(ExportError, match="far larger than a frame can be"):
        export_yolo(synthetic[constants.FRAMES_ZIP], boxes, frames, tmp_path / "out", max_side=160)


@pytest.mark.parametrize("method", ["paper", "leave_one_surgeon_out"])
def test_split_dataset_gives_folds_trials_and_the_main_frames(method):
    from sospine.dataset.split import split_dataset

    trials = ["Clip0", "S1A2", "S1A3", "S2A1", "S4A1"]
    frames = pd.DataFrame(
        [(constants.frame_name(t, i), t) for t in trials for i in range(1, 6)], columns=["trial_frame", "trial"]
    )
    settings = {"method": method, "test_trials": ["S4A1", "Clip0"], "val_trials": 1, "test_fraction": 0.2, "seed": 0}
    settings |= {"validation": "trials", "val_frames": 0}
    folds, trial_table, frame_table = split_dataset(frames, settings)
    assert len(frame_table) == len(frames) and frame_table["trial_frame"].is_unique
    if method == "paper":
        assert list(folds) == ["main"]
        assert set(trial_table.loc[trial_table["split"] == "test", "trial"]) == {"S4A1", "Clip0"}
    else:
        assert list(folds) == ["S1", "S2", "S4"]
        assert dict(zip(trial_table["trial"], trial_table["split"], strict=True)) == {
            "Clip0": "train",
            "S1A2": "1",
            "S1A3": "1",
            "S2A1": "2",
            "S4A1": "4",
        }
        tested = frame_table.loc[frame_table["split"] == "test", "trial"]
        assert set(tested) == {"S1A2", "S1A3"}  # the main frames are the first fold's
