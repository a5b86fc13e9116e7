import hashlib
import zipfile

import pandas as pd

from sospine import constants
from sospine.cli import main
from sospine.data.synth import VIDEO_TRIALS
from sospine.dataset.boxes import derive_boxes
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


# --- every generated set validates (issue 26) -------------------------------------------------

from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sospine.data.synth import MIN_FRAME_SIDE, SynthSpec, plan, write_tables  # noqa: E402
from sospine.validation import validate  # noqa: E402

# no example database in the checkout: a test writes only inside its temporary folders
PROPERTY = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SPECS = st.builds(
    SynthSpec,
    seed=st.integers(0, 2**31 - 1),
    trials=st.integers(1, len(VIDEO_TRIALS)),
    frames_per_trial=st.integers(1, 40),
    width=st.integers(MIN_FRAME_SIDE, 2000),
    height=st.integers(MIN_FRAME_SIDE, 1200),
)


def validate_release(spec: SynthSpec, folder) -> pd.DataFrame:
    """The validation report of the release's CSV files (what `sospine validate` checks)."""
    paths = write_tables(plan(spec), folder)
    report, _ = validate(
        {
            "tool_tips": paths[constants.TOOL_TIPS_CSV],
            "bbox": paths[constants.BBOX_CSV],
            "outcomes": paths[constants.OUTCOMES_CSV],
            "detections": paths[constants.PAPER_DETECTIONS_CSV],
        }
    )
    return report


@PROPERTY
@given(spec=SPECS)
@example(spec=SynthSpec(seed=0, trials=6, frames_per_trial=40, width=192, height=108))  # the reported case
@example(spec=SynthSpec(seed=0, trials=24, frames_per_trial=2, width=MIN_FRAME_SIDE, height=MIN_FRAME_SIDE))
@example(spec=SynthSpec(seed=5, trials=1, frames_per_trial=1, width=MIN_FRAME_SIDE, height=1200))
def test_every_generated_set_validates_without_errors(spec, tmp_path_factory):
    report = validate_release(spec, tmp_path_factory.mktemp("release"))
    errors = report[report["severity"] == "error"]
    assert errors.empty, f"{spec}:\n{errors.to_string()}"
    assert not (report["check"] == "has_rows").any(), "the detections stand-in holds at least one detection"


def test_the_detections_stand_in_is_never_empty(tmp_path):
    # one frame with no tool and no false positive drawn: the stand-in still holds a detection
    for seed in range(40):
        spec = SynthSpec(seed=seed, trials=1, frames_per_trial=1, width=64, height=64)
        detections = plan(spec).detections
        assert len(detections) >= 1, spec


def test_the_smallest_frame_is_refused_below_the_schema_minimum():
    import pytest

    from sospine.config import load_yaml

    schema = load_yaml(constants.__file__.replace("src/sospine/constants.py", "workflow/schemas/config.schema.yaml"))
    synthetic = schema["properties"]["data"]["properties"]["synthetic"]["properties"]
    assert synthetic["width"]["minimum"] == synthetic["height"]["minimum"] == MIN_FRAME_SIDE
    assert "64" in synthetic["width"]["description"] and "pixel" in synthetic["width"]["description"]
    with pytest.raises(ValueError, match="at least 64x64"):
        SynthSpec(width=MIN_FRAME_SIDE - 1, height=200)


def test_warnings_are_the_published_kinds_in_similar_proportions(tmp_path, real_dir):
    """At the published frame size the synthetic boxes raise the warnings the real bbox file raises,
    at rates within a factor of about two of the real ones."""
    spec = SynthSpec(seed=11, trials=24, frames_per_trial=400)
    paths = write_tables(plan(spec), tmp_path / "synthetic")
    synthetic, _ = validate({"bbox": paths[constants.BBOX_CSV], "outcomes": paths[constants.OUTCOMES_CSV]})
    real, _ = validate({"bbox": real_dir / constants.BBOX_CSV, "outcomes": real_dir / constants.OUTCOMES_CSV})

    def rates(report, bbox_path):
        boxes = read_annotations(bbox_path)["label"].notna().sum()
        warnings = report[report["severity"] == "warning"]
        return warnings.groupby("check").size() / boxes, set(warnings["check"])

    synthetic_rates, synthetic_kinds = rates(synthetic, paths[constants.BBOX_CSV])
    real_rates, real_kinds = rates(real, real_dir / constants.BBOX_CSV)
    assert synthetic_kinds == real_kinds, (synthetic_kinds, real_kinds)
    for check in ("zero_width_box", "zero_height_box"):
        assert 0.4 < synthetic_rates[check] / real_rates[check] < 2.5, (check, synthetic_rates, real_rates)
    # every trial's declared frame count is a few frames short of the annotated one, as published
    assert (synthetic["check"] == f"frames_in_{constants.BBOX_CSV}").sum() == spec.trials


def test_a_single_point_at_the_top_edge_starts_at_pixel_one_as_published():
    tips = pd.DataFrame(
        {
            "trial_frame": ["S1A2_frame_00000001.jpeg"] * 2,
            "x1": [889, 30],
            "y1": [34, 500],
            "x2": [889, 30],
            "y2": [34, 500],
            "label": ["needle tip", "grasper"],
        }
    )
    boxes = derive_boxes(tips).set_index("label")
    # the published file's Clip0 frame 286 needle: 839,1,939,84
    assert boxes.loc["needle", ["x1", "y1", "x2", "y2"]].tolist() == [839, 1, 939, 84]
    assert boxes.loc["grasper", ["x1", "y1", "x2", "y2"]].tolist() == [1, 450, 80, 550]
