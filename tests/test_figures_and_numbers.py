"""What a reader meets reads right (issue 35): the board's, cost, presence, Bland-Altman and box-size
figures say what they show (no "1 detectors", no empty panel, p-values at their precision, one colour
per detector), and the CSVs hold counts as integers, numbers without float noise and absent inputs
said to be absent."""

from __future__ import annotations

import io
import logging
import runpy
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb

from sospine import plots
from sospine.constants import BOX_LABELS, TIP_LABELS
from sospine.dataset import stats
from sospine.tables import (
    read_annotations,
    read_detections,
    read_table,
    readable,
    with_frame_columns,
    without_float_noise,
    write_table,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "sospine"
LABELS = [*BOX_LABELS, "instruments", "all"]
TRIALS = "Clip0 S4A1 S6A3 S8A2"


@pytest.fixture
def drawn(monkeypatch) -> list:
    """The figures the plots functions draw, kept instead of written (and still written, for Agg)."""
    from sospine.plots import analytics, dataset, scoring, style

    figures = []

    def keep(fig, path, *args, **kwargs):
        figures.append(fig)
        style.save(fig, path, *args, **kwargs)

    for module in (analytics, dataset, scoring):  # each draws through its own name of style.save
        monkeypatch.setattr(module, "save", keep)
    return figures


def board(names: list[str], costs: dict | None = None, without: str | None = None) -> pd.DataFrame:
    rows = [
        {
            "detector": name,
            "label": label,
            "ap_voc": np.nan if label == without else 0.2 + 0.1 * j / (k + 1),
            "ci95_low": np.nan,
            "ci95_high": np.nan,
            "iou_threshold": 0.5,
            "n_trials": 4,
            "test_trials": TRIALS,
            **(costs or {}).get(name, {}),
        }
        for k, name in enumerate(names)
        for j, label in enumerate(LABELS)
    ]
    return pd.DataFrame(rows)


def paired(names: list[str], reference: str) -> pd.DataFrame:
    columns = ["detector", "reference", "label", "diff", "ci95_low", "ci95_high", "p_value", "p_min", "n_trials"]
    rows = [
        [name, reference, label, 0.05 * j - 0.1, np.nan, np.nan, [0.125, 0.1875, 0.25, 1, 0.375, 0.125, 0.625][j]]
        + [0.125, 4]
        for name in names
        if name != reference
        for j, label in enumerate(LABELS)
    ]
    return pd.DataFrame(rows, columns=columns)


def texts(fig) -> list[str]:
    """Every piece of text on the figure: titles, notes, annotations, tick labels."""
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def is_empty(ax) -> bool:
    """An axes that draws nothing and says nothing."""
    drawn_something = ax.lines or ax.collections or ax.patches or ax.images
    said_something = any(t.get_text() for t in ax.texts)
    return not (drawn_something or said_something)


# -- the board ----------------------------------------------------------------------------------


def test_one_detector_is_one_panel_in_the_singular(tmp_path, drawn):
    plots.leaderboard(board(["yolov4_paper"]), paired(["yolov4_paper"], "yolov4_paper"), tmp_path / "board.png")
    (fig,) = drawn
    assert len(fig.axes) == 1 and not is_empty(fig.axes[0])
    title = fig.axes[0].get_title()
    assert title.startswith("1 detector on 4 test trials (") and "detectors" not in title
    assert "no other to compare with" in title
    assert (tmp_path / "board.png").stat().st_size > 0


def test_several_detectors_leave_no_panel_empty(tmp_path, drawn):
    names = ["yolov4_paper", "yolo", "rtdetr"]
    table = board(names, without="nerve hook")
    differences = paired(names, "yolov4_paper")
    differences.loc[differences["detector"] == "rtdetr", "diff"] = np.nan  # a row with nothing to draw
    plots.leaderboard(table, differences, tmp_path / "board.png")
    (fig,) = drawn
    assert len(fig.axes) == 3 and not any(is_empty(ax) for ax in fig.axes)
    words = texts(fig)
    assert "3 detectors on 4 test trials (Clip0 S4A1 S6A3 S8A2)" in words
    assert "no truth\nboxes" in words  # the class without an AP says why it has no bar
    assert any(w.startswith("rtdetr minus yolov4_paper: no class has an AP on both sides") for w in words)
    # p-values at their precision: the floor is 0.125, not 0.12, and said to be the floor
    assert "p=0.125 (min)" in words and "p=0.1875" in words and not any(w in ("p=0.12", "p=0.188") for w in words)


def test_the_board_and_presence_figure_give_a_detector_one_colour(tmp_path, drawn):
    names = ["yolov4_paper", "yolo"]
    plots.leaderboard(board(names), paired(names, "yolov4_paper"), tmp_path / "board.png")
    table = pd.DataFrame(
        [
            {"detector": n, "tool": t, "presence_ap": 0.5, "ci95_low": np.nan, "ci95_high": np.nan, "n_trials": 4}
            for n in reversed(names)  # another order than the board's
            for t in BOX_LABELS
        ]
    )
    presence_paired = pd.DataFrame(
        [
            {"detector": "yolo", "reference": "yolov4_paper", "tool": t, "diff": 0.1, "p_value": p, "p_min": 0.125}
            for t, p in zip(BOX_LABELS, [0.125, 0.1875, 0.25, 1.0, 0.5], strict=True)
        ]
    )
    plots.presence_ap(table, presence_paired, tmp_path / "presence.png")
    board_fig, presence_fig = drawn

    def colour_of(fig) -> dict[str, tuple]:
        ax = fig.axes[0]
        handles, labels = ax.get_legend_handles_labels()
        return {label: to_rgb(handle.patches[0].get_facecolor()) for handle, label in zip(handles, labels, strict=True)}

    expected = {name: to_rgb(colour) for name, colour in plots.detector_palette(names).items()}
    for colours in (colour_of(board_fig), colour_of(presence_fig)):
        assert colours.keys() == expected.keys()
        assert all(colours[name] == pytest.approx(expected[name]) for name in names)
    words = texts(presence_fig)
    assert "p=0.125 (min)" in words and "p=0.1875" in words and "p=0.12" not in words
    assert any("the smallest p 4 test trials can give, 0.125" in w for w in words)


def test_p_values_print_at_their_precision():
    assert plots.p_text(0.125, 0.125) == "p=0.125 (min)"
    assert plots.p_text(0.1875, 0.125) == "p=0.1875"
    assert plots.p_text(0.0001, 2 / 2**24) == "p=0.0001"  # Monte Carlo: 1 in 10,000, above the exact floor
    assert plots.p_text(0.25) == "p=0.25"


# -- accuracy and cost ----------------------------------------------------------------------------


def test_no_cost_is_one_sentence_not_two_empty_panels(tmp_path, drawn):
    table = board(["yolov4_paper"])
    assert not plots.has_cost(table)
    plots.accuracy_cost(table, tmp_path / "cost.png")
    (fig,) = drawn
    assert len(fig.axes) == 1 and not is_empty(fig.axes[0])
    sentence = " ".join(fig.axes[0].texts[0].get_text().split())
    assert sentence.startswith("No detector on this board (yolov4_paper) recorded a cost")
    assert "a detections file carries no training or inference cost" in sentence
    assert fig.axes[0].get_title() == "accuracy and cost on 4 test trials"


def test_a_cost_panel_without_data_says_why(tmp_path, drawn):
    table = board(["yolov4_paper", "weights"], costs={"weights": {"infer_ms": 3.5}})
    assert plots.has_cost(table)
    plots.accuracy_cost(table, tmp_path / "cost.png")
    (fig,) = drawn
    inference, training = fig.axes
    assert inference.collections and not training.collections
    assert training.texts[0].get_text().startswith("no detector with a known training time")


# -- Bland-Altman ------------------------------------------------------------------------------


def test_bland_altman_titles_read_plainly(tmp_path, drawn):
    metrics = [
        "durotomy_in_n_outs",
        "needle_driver_time_in_view_s",
        "taking_a_bite_count",
        "suture_tying_total_s",
        "pattern_entropy",
        "pattern_entropy_authors",
        "state_share_empty",
        "state_share_durotomy+needle_driver",
    ]
    trials = ["Clip0", "S4A1", "S6A3", "S8A2"]
    truth = pd.DataFrame(np.arange(32.0).reshape(4, 8), index=trials, columns=metrics)
    agreement = pd.DataFrame([{"metric": m, "ccc": 0.8, "bias": 0, "loa_low": -1, "loa_high": 1} for m in metrics])
    plots.bland_altman(truth, truth + 1, agreement, tmp_path / "ba.png")
    titles = [ax.get_title().split("\n")[0] for ax in drawn[0].axes]
    assert titles == [
        "durotomy: entries into view",
        "needle driver: seconds in view",
        "taking a bite: occurrences",
        "suture tying: total seconds",
        "tool-combination entropy",
        "tool-combination entropy (authors' scale)",
        "share of frames with no tool",
        "share of frames with only durotomy+needle driver",
    ]
    assert not any("in n outs" in t or "_" in t for t in titles)


# -- box sizes ----------------------------------------------------------------------------------


def single_point_boxes(n_squares: int, n_other: int) -> pd.DataFrame:
    squares = [{"label": "needle", "width": 100.0, "height": 100.0}] * n_squares
    others = [{"label": "needle", "width": 30.0 + i, "height": 12.0} for i in range(n_other)]
    grasper = [{"label": "grasper", "width": 500.0 + i, "height": 400.0} for i in range(10)]
    return pd.DataFrame([*squares, *others, *grasper])


def test_box_sizes_say_how_many_needle_boxes_are_single_point_squares(tmp_path, drawn):
    sizes = single_point_boxes(7, 3)
    shares = stats.single_point_squares(sizes).set_index("label")
    assert shares.loc["needle", "share"] == pytest.approx(0.7) and shares.loc["grasper", "n_squares"] == 0
    plots.box_sizes(sizes, tmp_path / "sizes.png")
    (note,) = [" ".join(t.get_text().split()) for t in drawn[0].texts]  # the figure's own text, under the axes
    assert note.startswith("70% of needle boxes (7 of 10) are 100x100 px squares: a tool annotated with a single")
    assert "grasper" not in note
    assert stats.single_point_note(single_point_boxes(0, 5)) is None  # no note where no label has many


def test_box_sizes_caption_explains_the_squares():
    caption = (ROOT / "workflow" / "report" / "box_sizes.rst").read_text(encoding="utf-8")
    assert "single point" in caption and "100x100" in caption and "%" not in caption  # the share is the data's


def test_the_published_needle_boxes_are_mostly_single_point_squares():
    if not (SHARED / "sospine_bbox.csv").exists():
        pytest.skip(f"real SOSpine files not found at {SHARED}")
    sizes = stats.box_sizes(read_annotations(SHARED / "sospine_bbox.csv")).astype({"width": float, "height": float})
    note = stats.single_point_note(sizes)
    assert note.startswith("87% of needle boxes (1,232 of 1,417) are 100x100 px squares")


# -- numbers in CSVs ----------------------------------------------------------------------------


def test_numbers_are_written_at_the_precision_they_were_computed_in(tmp_path):
    table = pd.DataFrame(
        {
            "label": ["needle", "durotomy", "grasper"],
            "frames": [1242.0, np.nan, 884.0],  # a count beside an empty cell
            "ap50_coco": [float(np.float32(0.019715488)), float(np.float32(0.5)), np.nan],  # float32
            "best_threshold": [0.07719999999999999, 0.053200000000000004, 0.0611],  # a 4-decimal score + noise
            "ap_voc": [0.8247619047619049, 0.01825359964261128, 0.0],  # float64: every digit kept
        }
    )
    write_table(table, tmp_path / "t.csv")
    text = (tmp_path / "t.csv").read_text()
    assert text.splitlines() == [
        "label,frames,ap50_coco,best_threshold,ap_voc",
        "needle,1242,0.019715488,0.0772,0.8247619047619049",
        "durotomy,,0.5,0.0532,0.01825359964261128",
        "grasper,884,,0.0611,0.0",
    ]
    back = read_table(tmp_path / "t.csv")
    assert back["ap_voc"].tolist() == table["ap_voc"].tolist()  # machine-readable: full precision
    assert np.float32(back["ap50_coco"].iat[0]) == np.float32(table["ap50_coco"].iat[0])  # the same float32
    # a table for people rounds, and its counts are integers too (the same rule)
    assert readable(table)["frames"].tolist()[0] == 1242


def noisy(decimals: np.ndarray) -> np.ndarray:
    """Short decimals plus the few units in the last place that arithmetic leaves on them."""
    steps = np.random.default_rng(2).integers(-3, 4, len(decimals))
    return decimals + steps * np.spacing(decimals)


def test_cleaning_never_reorders_and_is_idempotent():
    rng = np.random.default_rng(1)
    values = np.concatenate(
        [
            rng.random(50_000),
            rng.random(50_000).astype(np.float32).astype(float),
            noisy(np.round(0.001 + rng.random(50_000), 4)),
            [0.07719999999999999, 0.0772, -2.00042724609375, 1e-30, 1e30, 0.0, np.inf],
        ]
    )
    once = without_float_noise(values)
    assert np.array_equal(without_float_noise(once), once)
    for part in (slice(0, 50_000), slice(50_000, 100_000), slice(100_000, 150_000)):  # one precision each
        order = np.argsort(values[part], kind="stable")
        assert np.all(np.diff(once[part][order]) >= 0)
    assert len(np.unique(once[50_000:100_000])) == len(np.unique(values[50_000:100_000]))  # float32s stay apart
    assert once[100_000:150_000].tolist() == np.round(values[100_000:150_000], 4).tolist()  # the noise goes
    # float64 values are changed only within a few units in their last place
    plain = np.abs(once - values)[:50_000]
    assert np.all(plain <= 4 * np.spacing(values[:50_000]))


def test_thresholds_select_the_same_detections_however_a_score_was_written(tmp_path):
    """A trained detector writes float32 scores as their float64 expansion, a table written here their
    float32 digits; read_detections takes both the same way, and a threshold read back equals the
    score it came from."""
    scores = np.array([0.6776965856552124, 0.24513088166713715, 0.0598847493529319], dtype=float)
    scores = scores.astype(np.float32).astype(float)
    raw = pd.DataFrame(
        {
            "trial_frame": [f"S4A1_frame_{i:08d}.jpeg" for i in (1, 2, 3)],
            "frame": [1, 2, 3],
            "x1": [278.3034973144531] * 3,
            "y1": [1.0] * 3,
            "x2": [386.7159729003906] * 3,
            "y2": [174.4007110595703] * 3,
            "score": scores,
            "label": ["durotomy"] * 3,
        }
    )
    raw.to_csv(tmp_path / "raw.csv", index=False)  # the float64 expansion, as predict.py writes it
    write_table(raw, tmp_path / "validated.csv", counts=False)
    assert (
        "0.6776966," in (tmp_path / "validated.csv").read_text()
        and "278.3035," in (tmp_path / "validated.csv").read_text()
    )
    from_raw, from_validated = read_detections(tmp_path / "raw.csv"), read_detections(tmp_path / "validated.csv")
    assert from_raw["score"].tolist() == from_validated["score"].tolist()
    threshold = from_raw["score"].max()
    write_table(
        pd.DataFrame({"detector": ["yolo"], "label": ["durotomy"], "threshold": [threshold]}), tmp_path / "t.csv"
    )
    assert (tmp_path / "t.csv").read_text().splitlines()[1] == "yolo,durotomy,0.6776966"
    back = read_table(tmp_path / "t.csv")["threshold"].iat[0]
    assert (from_validated["score"] >= back).sum() == 1


def test_published_scores_keep_their_precision_in_ap_per_class(tmp_path):
    if not (SHARED / "sospine_detections_3.6_0.05.csv").exists():
        pytest.skip(f"real SOSpine files not found at {SHARED}")
    from sospine.scoring.files import write_scores

    detections = read_detections(SHARED / "sospine_detections_3.6_0.05.csv")
    truth = read_annotations(SHARED / "sospine_bbox.csv")
    summary = write_scores(truth, detections, tmp_path, bootstrap=0)
    assert round(summary["map50_voc_instruments"], 2) == 0.77
    rows = {line.split(",")[0]: line.split(",") for line in (tmp_path / "ap_per_class.csv").read_text().splitlines()}
    header = rows.pop("label")
    durotomy = dict(zip(header, rows["durotomy"], strict=True))
    needle = dict(zip(header, rows["needle"], strict=True))
    assert durotomy["best_threshold"] == "0.0772" and durotomy["best_threshold_paper"] == "0.0772"
    assert needle["ap50_coco"] == "0.019715488" and needle["n_truth"] == "252"
    assert needle["ap_voc"] == repr(float(needle["ap_voc"])) and len(needle["ap_voc"]) > 10  # full precision


# -- frames and tips ----------------------------------------------------------------------------


def test_frame_counts_stay_integers_beside_trials_without_annotations():
    frames = pd.DataFrame({"trial": ["Clip0"] * 3 + ["S4A1"] * 2})
    outcomes = pd.DataFrame(
        {"Trial ID": ["Clip0", "S4A1", "S1A1"], "Total Frames at 1 FPS": ["3", "2", "900"]}, dtype=str
    )
    table = stats.frames_per_trial(frames, outcomes)
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    assert buffer.getvalue().splitlines() == [
        "trial,annotated_frames,declared_frames,difference",
        "Clip0,3,3,0",
        "S1A1,,900,",
        "S4A1,2,2,0",
    ]


def test_tips_per_label_says_the_file_is_absent(tmp_path):
    absent = stats.tips_per_label(None)
    assert absent.columns.tolist()[:2] == ["label", "tips"] and absent["label"].tolist() == list(TIP_LABELS)
    assert absent["tips"].isna().all() and (absent["note"] == stats.NO_TIPS_NOTE).all()
    write_table(absent, tmp_path / "tips.csv")
    lines = (tmp_path / "tips.csv").read_text().splitlines()
    assert lines[0] == "label,tips,note" and lines[1].startswith('needle tip,,"no tool-tips file')
    present = stats.tips_per_label(pd.DataFrame({"label": ["grasper", "grasper", "needle tip"]}))
    assert present.set_index("label")["tips"].to_dict()["grasper"] == 2 and (present["note"] == "").all()


def test_the_stats_job_writes_integers_and_says_the_tips_are_absent(tmp_path, synthetic, capfd):
    """workflow/scripts/stats.py as Snakemake runs it, on a source without a tool-tips file."""
    boxes = with_frame_columns(read_annotations(synthetic["sospine_bbox.csv"]))
    frames = boxes.drop_duplicates("trial_frame")[["trial_frame", "trial"]]
    trials = sorted(frames["trial"].unique())
    split = {trial: "test" if i == 0 else "train" for i, trial in enumerate(trials)}
    frames = frames.assign(split=frames["trial"].map(split))
    frames.to_csv(tmp_path / "frames.csv", index=False)
    pd.DataFrame({"trial": trials, "split": [split[t] for t in trials]}).to_csv(tmp_path / "trials.csv", index=False)
    outputs = ["table1", "frames_per_split", "frames_per_trial", "boxes_per_trial", "tips_per_label"]
    output = SimpleNamespace(**{name: str(tmp_path / f"{name}.csv") for name in outputs})
    output.box_sizes = str(tmp_path / "box_sizes.png")
    job = SimpleNamespace(
        input=SimpleNamespace(
            bbox=str(synthetic["sospine_bbox.csv"]),
            frames=str(tmp_path / "frames.csv"),
            trials=str(tmp_path / "trials.csv"),
            tips=[],
            outcomes=str(synthetic["sospine_outcomes.csv"]),
        ),
        output=output,
        log=[str(tmp_path / "stats.log")],
        rule="stats",
        params={},
    )
    saved = sys.stdout, sys.stderr, sys.excepthook, logging.getLogger().handlers[:]
    try:
        runpy.run_path(str(ROOT / "workflow" / "scripts" / "stats.py"), init_globals={"snakemake": job})
    finally:
        sys.stdout.flush()
        sys.stdout, sys.stderr, sys.excepthook = saved[:3]
        logging.getLogger().handlers[:] = saved[3]
    assert "no tool-tips file" in capfd.readouterr().err
    assert "no tool-tips file" in (tmp_path / "stats.log").read_text()
    tips = pd.read_csv(tmp_path / "tips_per_label.csv")
    assert tips["tips"].isna().all() and tips["note"].notna().all()
    per_trial = (tmp_path / "frames_per_trial.csv").read_text()
    assert ".0," not in per_trial and ".0\n" not in per_trial
    assert (tmp_path / "box_sizes.png").stat().st_size > 0
