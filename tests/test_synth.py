import hashlib
import zipfile

import pandas as pd

from sospine import constants
from sospine.boxes import derive_boxes
from sospine.cli import main
from sospine.synth import VIDEO_TRIALS
from sospine.tables import read_annotations, read_outcomes


def _digests(folder):
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_gives_identical_files(tmp_path):
    args = ["synth", "--seed", "3", "--trials", "3", "--frames-per-trial", "12", "--width", "160", "--height", "96"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert main([*args[:2], "4", *args[3:], "--out", str(tmp_path / "c")]) == 0
    assert _digests(tmp_path / "a")[constants.BBOX_CSV] != _digests(tmp_path / "c")[constants.BBOX_CSV]


def test_published_headers_and_line_endings(synthetic, real_dir):
    for name in (constants.BBOX_CSV, constants.OUTCOMES_CSV):
        real, synth = (real_dir / name).read_bytes(), synthetic[name].read_bytes()
        assert synth.split(b"\r\n")[0] == real.split(b"\r\n")[0], name  # header, BOM included
        assert synth.startswith(b"\xef\xbb\xbf") == real.startswith(b"\xef\xbb\xbf")
        assert synth.endswith(b"\r\n") == real.endswith(b"\r\n")
        assert b"\n" not in synth.replace(b"\r\n", b"")
    assert synthetic[constants.TOOL_TIPS_CSV].read_bytes().startswith(b"trial_frame,x1,y1,x2,y2,label\r\n")


def test_outcomes_quirks(synthetic):
    outcomes = read_outcomes(synthetic[constants.OUTCOMES_CSV])
    assert list(outcomes.columns) == list(constants.OUTCOME_COLUMNS)
    assert outcomes.isna().any().any()
    assert outcomes["Length"].dropna().str.fullmatch(r"\d+:\d\d:\d\d").all()
    assert set(outcomes["Leak At 40mmHg"].dropna()) <= {"Y", "N"}
    assert outcomes["Trial ID"].str.fullmatch(constants.TRIAL_PATTERN).all()


def test_frames_and_names(synthetic):
    with zipfile.ZipFile(synthetic[constants.FRAMES_ZIP]) as archive:
        names = archive.namelist()
        assert names == sorted(names)
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in archive.infolist())
    assert all(constants.FRAME_NAME_RE.match(n) and n.endswith(".jpeg") for n in names)
    assert len(names) == 5 * 30
    assert {n.split("_frame_")[0] for n in names} == set(VIDEO_TRIALS[:5])
    boxes = read_annotations(synthetic[constants.BBOX_CSV])
    assert set(boxes["trial_frame"]) == set(names)
    assert boxes["label"].isna().any(), "some frames must have no tool"
    assert set(boxes["label"].dropna()) == set(constants.BOX_LABELS)


def test_bbox_rows_follow_the_paper_rule_from_tool_tips(synthetic):
    tips = read_annotations(synthetic[constants.TOOL_TIPS_CSV])
    assert set(tips["label"].dropna()) == set(constants.TIP_LABELS)
    published = read_annotations(synthetic[constants.BBOX_CSV])
    derived = derive_boxes(tips)
    pd.testing.assert_frame_equal(
        derived.reset_index(drop=True),
        published.astype({c: "Int64" for c in ["x1", "y1", "x2", "y2"]}).reset_index(drop=True),
    )
    singles = (
        tips.dropna(subset=["label"])
        .assign(tool=lambda t: t["label"].map(constants.TIP_TO_TOOL))
        .groupby(["trial_frame", "tool"])
        .size()
    )
    assert (singles == 1).any(), "the generator should exercise the single-point rule"


def test_phases_scripted(synthetic):
    phases = pd.read_csv(synthetic["phases.csv"])
    assert list(phases.columns) == ["trial", "phase", "start_frame", "end_frame"]
    assert {"taking a bite", "suture tying"} <= set(phases["phase"])
    assert (phases["end_frame"] >= phases["start_frame"]).all()
