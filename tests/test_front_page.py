"""The report's front page and what comes before it, without Snakemake: the page leads with each
class's AP beside the paper's printed figure, names the data, split, trials and what was skipped,
renders Table 1 and the board as tables, links only the figures there are; the board names the
detector whose file shrank the trials all share."""

import re

import pandas as pd
import pytest
from docutils.core import publish_parts

from sospine.data.synth import SynthSpec, generate
from sospine.front_page import PAPER_AP, PAPER_PRINTED_MAP, front_page, shown_figures, skipped
from sospine.scoring.detector_tables import ScoredTrials, coverage_note, read_detector_tables
from sospine.scoring.leaderboard import headline_text, rank
from sospine.tables import read_annotations, split_frame_names

from .conftest import ROOT
from .test_plan import plan

TRIALS = pd.DataFrame({"trial": ["S4A1", "Clip0", "S8A2", "S6A3", "S1A2"], "split": ["test"] * 4 + ["train"]})


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """Six synthetic trials with the generator's detections, all tested: (truth, detections path, folder)."""
    folder = tmp_path_factory.mktemp("release")
    paths = generate(SynthSpec(seed=7, trials=6, frames_per_trial=12, width=320, height=180), folder)
    return read_annotations(paths["sospine_bbox.csv"]), paths["sospine_detections_3.6_0.05.csv"], folder


def board_of(release, lacking: str | None = None):
    """The board and paired table of two file detectors, `theirs` without the trial `lacking`, read as
    the leaderboard's job reads them."""
    truth, detections, folder = release
    table = pd.read_csv(detections)
    trials = sorted(split_frame_names(table["trial_frame"])["trial"].unique())
    pd.DataFrame({"trial": trials, "split": "test"}).to_csv(folder / "trials.csv", index=False)
    theirs = table[~table["trial_frame"].str.startswith(f"{lacking}_")] if lacking else table
    theirs.to_csv(folder / "theirs.csv", index=False)
    tables, trials_of = read_detector_tables(
        [detections, folder / "theirs.csv"], {"ours": 1, "theirs": 1}, {"ours": "file", "theirs": "file"},
        folder / "trials.csv",
    )  # fmt: skip
    board, paired = rank(truth, tables, trials_of, reference="ours", n_resamples=0)
    return board.assign(kind="file"), paired, trials


def config(**data):
    return plan_config(data=data) if data else plan_config()


def plan_config(**overrides):
    from sospine.config import coerce, deep_merge

    from .test_config import FILE_CONFIG, SCHEMA

    return coerce(deep_merge(FILE_CONFIG, overrides), SCHEMA)


def test_the_paper_figures_are_those_docs_reproducing_prints():
    text = (ROOT / "docs" / "reproducing.md").read_text()
    rows = dict(
        re.findall(r"^\| (needle driver|grasper|nerve hook|needle|durotomy|instruments mAP) \| ([\d.]+) ", text, re.M)
    )
    assert {label: float(value) for label, value in rows.items() if label != "instruments mAP"} == {
        k: v for k, v in PAPER_AP.items() if k != "instruments"
    }
    assert float(rows["instruments mAP"]) == PAPER_AP["instruments"]
    assert f"{PAPER_PRINTED_MAP} (printed)" in text


def test_the_page_leads_with_each_class_ap_beside_the_papers_and_renders_its_tables(release, tmp_path):
    board, paired, _ = board_of(release)
    figures = [tmp_path / "box_sizes.png", tmp_path / "accuracy_cost.png", tmp_path / "none.png"]
    figures[0].write_bytes(b"png")
    figures[1].write_bytes(b"png")
    table1 = pd.DataFrame(
        {"label": ["needle", "grasper"], "all": [1417, 2375], "train": [1165, 1683], "test": [252, 692]}
    )
    page = front_page(
        config(source="synthetic"), "out", ["split", "score"], board, paired, list(map(str, figures)),
        skipped=["the paper's detections are not there"], trials=TRIALS, table1=table1,
    )  # fmt: skip
    body = page[page.index("SOSpine benchmark: this run") :]
    # the answer first: the per-class table, the paper's printed row above every detector's two rules
    assert body.index("**AP per class**") < body.index("**Data**") < body.index("**Leaderboard**")
    ours = board[(board["detector"] == "ours") & (board["label"] == "grasper")].iloc[0]
    links = "\n.. _box_sizes.png: #box\n"  # Snakemake's report adds a target per file
    html = publish_parts(page + links, writer="html", settings_overrides={"halt_level": 2})["html_body"]
    cells = re.findall(r"<td>(.*?)</td>", html.replace("\n", ""))
    assert "Balu et al. 2024, YOLOv4" in cells and "0.768" in cells and "0.77" in cells and "0.38 *" in cells
    assert f"{ours['ap_voc']:.4f}" in cells and f"{ours['ap_paper']:.4f}" in cells
    assert cells.count("paper's rules") == 2 and cells.count("VOC all-point") == 2  # ours and theirs
    assert "1,417" in cells and "2,375" in cells  # Table 1 as a table, not a link
    assert html.count("<table") == 3  # per-class APs, Table 1, the board
    assert "<style>" in html  # the layout: no table runs under the workflow graph
    assert "Not comparable with the paper's figures" in page and "the data are synthetic" in page
    assert "**Data**: synthetic SOSpine" in page and "(data.source: synthetic)" in page
    assert "with test trials S4A1, Clip0, S8A2, S6A3 (split.test_trials: the paper's four)" in page
    assert "**Trials**: test (4): Clip0 S4A1 S6A3 S8A2; train (1): S1A2." in page
    assert "- the paper's detections are not there" in page
    # figures: those with content; the accuracy-cost figure only where a detector has a cost
    assert "`box_sizes.png`_" in page and "accuracy_cost" not in page and "none.png" not in page
    costly = board.assign(params=1_000.0)
    assert shown_figures(list(map(str, figures)), costly) == [str(figures[0]), str(figures[1])]


def test_the_real_split_on_the_papers_trials_is_comparable(release):
    board, paired, _ = board_of(release)
    board = board.assign(test_trials="Clip0 S4A1 S6A3 S8A2", n_trials=4)
    page = front_page(config(source="mirror", mirror_dir="/data/sospine"), "out", [], board, paired, [])
    assert "Not comparable" not in page and "(data.source: mirror)" in page


def test_the_board_names_the_detector_whose_file_shrank_the_shared_trials(release):
    board, paired, trials = board_of(release, lacking="Clip0")
    kept = [t for t in trials if t != "Clip0"]
    assert board["test_trials"].iat[0] == " ".join(kept)
    note = paired["note"].iat[0]
    named = (
        f"the board is on the {len(kept)} test trials all detectors share ({' '.join(kept)}), not the split's "
        f"{len(trials)}: theirs ({release[2] / 'theirs.csv'}) has no detection in Clip0"
    )
    assert named in note and "ours (" not in note
    assert named in headline_text(board, paired)  # the console's headline (the job's log, sospine board)
    page = front_page(config(), "out", [], board, paired, [])
    assert f"**Trials on the board**: {named}." in page
    # every file covering every tested trial: no such note
    _, paired, _ = board_of(release)
    assert "the board is on the" not in paired["note"].iat[0]


def test_the_coverage_note_without_a_split_takes_every_detectors_trials():
    assert coverage_note({"a": ["S1A1", "S2A1"], "b": ["S1A1", "S2A1"]}) is None
    note = coverage_note({"a": ["S1A1", "S2A1"], "b": ["S1A1"]})
    assert (
        note
        == "the board is on the 1 test trial all detectors share (S1A1), not the split's 2: b has no detection in S2A1"
    )
    both = coverage_note(ScoredTrials({"a": ["S1A1"], "b": ["S2A1"]}, tested=["S1A1", "S2A1", "S3A1"]))
    assert both.endswith("a has no detection in S2A1 S3A1 and b has no detection in S1A1 S3A1"), both


def test_what_was_skipped_says_why(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "sospine_bbox.csv").write_text("x\n")
    lines = skipped(plan(tmp_path, data={"source": "mirror", "mirror_dir": str(mirror)}))
    assert any(line.startswith("data source 'mirror' does not provide frames.zip") for line in lines), lines
    assert "detector yolo (yolo11s.pt) was not trained: data source 'mirror' provides no frames.zip" in " ".join(lines)
    assert "the paper's YOLOv4 (yolov4_paper) is not on the board: the mirror folder has no" in " ".join(lines)
    figshare = skipped(plan(tmp_path))
    assert figshare == [
        "the paper's YOLOv4 (yolov4_paper) is not on the board: the FigShare records do not hold its detections "
        "(give them with baseline.detections: <path to sospine_detections_3.6_0.05.csv>)"
    ]
