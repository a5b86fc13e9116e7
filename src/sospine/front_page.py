"""The report's front page, written for the run it reports on. It leads with the answer: each class's
AP of every detector on the board, by the paper's rules and VOC's, beside the AP the paper prints for
its YOLOv4; then what the run is made of (data, split, trials, what was skipped and why), the paper's
Table 1 for this split, the leaderboard with what its paired tests can show, and links to the figures
that this run made."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from sospine.constants import BOX_LABELS, PAPER_DETECTIONS_CSV, PAPER_TEST_TRIALS
from sospine.scoring.claims import held_out, not_out_of_fold_note
from sospine.scoring.leaderboard import COST_COLUMNS, headline, ties_note

if TYPE_CHECKING:
    from sospine.plan import Plan

#: The AP at IoU 0.5 that the paper prints for its YOLOv4 on its four test trials (Balu et al., Sci
#: Data 11, 2024), per class and for its instruments' mean; docs/reproducing.md sets them beside ours.
PAPER_AP: dict[str, float] = {
    "needle": 0.018,
    "needle driver": 0.939,
    "grasper": 0.768,
    "nerve hook": 0.600,
    "durotomy": 0.011,
    "instruments": 0.77,
}
#: The overall mAP the paper prints, which no mean of its own APs gives (they average 0.467).
PAPER_PRINTED_MAP = 0.38
PAPER = "Balu et al. 2024, YOLOv4"
#: The front page's layout in Snakemake's report, which caps the text column at 32rem, lets a wider
#: table run under the workflow graph beside it, and centres the page, so that the top of a page taller
#: than the window (or the left of one wider) is cut off where no scrolling reaches: here the column is
#: wider but shrinks with the window, its tables scroll inside it, long words wrap, and the page starts
#: at the top.
STYLE = """\
.. raw:: html

   <style>
   .grow.flex:has(> .py-2 > .prose > .document) { align-self: flex-start; min-width: 0; }
   .py-2:has(> .prose > .document) { min-width: 0; }
   .prose:has(> .document) { max-width: 60rem; }
   .document { overflow-wrap: anywhere; }
   .document table { display: block; max-width: 100%; overflow-x: auto; }
   .document table td, .document table th { overflow-wrap: normal; }
   </style>
"""


def _table(frame: pd.DataFrame) -> str:
    """An RST list-table of `frame` (strings as given; an empty cell stays empty)."""
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [list(frame.columns), *frame.astype(str).to_numpy().tolist()]:
        cells = [str(cell).strip() for cell in row]
        lines.append("   * - " + cells[0] if cells[0] else "   * -")
        lines += [f"     - {cell}" if cell else "     -" for cell in cells[1:]]
    return "\n".join(lines) + "\n"


def describe_source(config: Mapping) -> str:
    data = config["data"]
    if data["source"] == "synthetic":
        spec = data["synthetic"]
        return (
            f"synthetic SOSpine from the project's generator (seed {spec['seed']}, {spec['trials']} trials of "
            f"{spec['frames_per_trial']} frames at {spec['width']}x{spec['height']}): no real frame, a check of the "
            "pipeline, not of detectors on surgery"
        )
    if data["source"] == "mirror":
        return f"the published SOSpine files from the folder {data['mirror_dir']}"
    records = ", ".join(f"{name} {doi}" for name, doi in data["figshare"]["records"].items())
    return f"the published SOSpine records downloaded from FigShare and md5-verified ({records})"


def describe_split(config: Mapping) -> str:
    """The configured split in words, with the keys that set it."""
    split = config["split"]
    if split["method"] == "leave_one_surgeon_out":
        how = (
            "leave-one-surgeon-out (split.method): one fold per surgeon, each surgeon's trials tested in their "
            "own fold and pooled out of fold; the Clip trials, without a surgeon, are always trained on"
        )
    elif split["method"] == "paper":
        paper = ": the paper's four" if sorted(split["test_trials"]) == sorted(PAPER_TEST_TRIALS) else ""
        how = f"paper (split.method) with test trials {', '.join(split['test_trials'])} (split.test_trials{paper})"
    else:
        how = (
            f"random (split.method): a seeded trial-level split (seed {split['seed']}, "
            f"test fraction {split['test_fraction']:g})"
        )
    if split["validation"] == "frames":
        return f"{how}; validation on {split['val_frames']} random frames of the training trials (the paper's)"
    return f"{how}; validation on {split['val_trials']} whole held-out training trials"


def describe_trials(trials: pd.DataFrame) -> str:
    """Which trials each part of the split holds (`trials`: the split's `trial,split` table)."""
    parts = []
    for name, rows in trials.groupby(trials["split"].astype(str), sort=False):
        label = f"fold S{name}" if name.isdigit() else name
        parts.append(f"{label} ({len(rows)}): {' '.join(sorted(rows['trial'].astype(str)))}")
    order = {"test": 0, "val": 1, "train": 2}
    parts.sort(key=lambda part: order.get(part.split(" ")[0], -1))
    return "; ".join(parts)


def skipped(plan: Plan) -> list[str]:
    """What the run left out and why, one sentence each: the published files its source lacks, the
    detectors configured but not run, the paper's YOLOv4 where its detections are not there."""
    lines = []
    lines += [note.removeprefix("note: ") for note in plan.start_notes()]
    made = plan.detection_tables()
    for name, detector in plan.detectors.items():
        if name in made:
            continue
        what = {"train": "trained", "command": "run", "weights": "predicted"}.get(detector.kind, "run")
        model = detector.settings.get("model") or detector.settings.get("command") or detector.path
        lines.append(
            f"detector {name} ({model}) was not {what}: data source '{plan.source}' provides no frames.zip, "
            "so there are no images to train on or predict"
        )
    if plan.baseline not in plan.detectors:
        if plan.config["baseline"]["detections"] != "auto":
            why = "baseline.detections is empty"
        elif plan.source == "mirror":
            why = f"the mirror folder has no {PAPER_DETECTIONS_CSV}"
        else:
            why = "the FigShare records do not hold its detections"
        lines.append(
            f"the paper's YOLOv4 ({plan.baseline}) is not on the board: {why} "
            f"(give them with baseline.detections: <path to {PAPER_DETECTIONS_CSV}>)"
        )
    return lines


def _ap(value: float, digits: int = 4) -> str:
    return "–" if pd.isna(value) else f"{value:.{digits}f}"


def ap_table(board: pd.DataFrame) -> pd.DataFrame:
    """Each class's AP (and the instruments' and all classes' means) of every detector on the board,
    by the paper's rules and VOC's (as the board gives them, to 4 decimals), under the AP the paper
    prints for its YOLOv4 (as printed: 3 decimals, 2 for the means)."""
    labels = [*BOX_LABELS, "instruments", "all"]
    rows = [
        {
            "detector": PAPER,
            "rule": "as printed",
            **{label: _ap(PAPER_AP[label], 3) for label in BOX_LABELS},
            "instruments": f"{PAPER_AP['instruments']:.2f}",
            "all": f"{PAPER_PRINTED_MAP:.2f} *",
        }
    ]
    for name in board["detector"].unique():
        mine = board[board["detector"] == name].set_index("label")
        for column, rule in (("ap_paper", "paper's rules"), ("ap_voc", "VOC all-point")):
            if column in mine:
                rows.append(
                    {"detector": name, "rule": rule, **{label: _ap(mine[column].get(label)) for label in labels}}
                )
    return pd.DataFrame(rows, columns=["detector", "rule", *labels])


def comparable(config: Mapping, board: pd.DataFrame) -> str | None:
    """Why this board's APs cannot be read against the paper's, or None when they can (the real data,
    the paper's four test trials, IoU 0.5)."""
    reasons = []
    if config["data"]["source"] == "synthetic":
        reasons.append("the data are synthetic")
    trials = str(board["test_trials"].iat[0]).split()
    if sorted(trials) != sorted(PAPER_TEST_TRIALS):
        reasons.append(f"the board's test trials are not the paper's four ({', '.join(PAPER_TEST_TRIALS)})")
    if float(board["iou_threshold"].iat[0]) != 0.5:
        reasons.append(f"IoU is {board['iou_threshold'].iat[0]:g}, not the paper's 0.5")
    return "; ".join(reasons) or None


def has_cost(board: pd.DataFrame | None) -> bool:
    """Whether any detector on the board has a known cost (what accuracy_cost.png plots)."""
    if board is None or not len(board):
        return False
    columns = [c for c in COST_COLUMNS if c in board and c != "train_device"]
    return bool(columns) and bool(board[columns].notna().any().any())


def shown_figures(figures: Sequence[str], board: pd.DataFrame | None) -> list[str]:
    """The figures to link: those that exist with content; the accuracy-cost figure only where some
    detector has a cost."""
    found = []
    for figure in figures:
        path = Path(figure)
        if not path.is_file() or path.stat().st_size == 0:
            continue
        if path.name == "accuracy_cost.png" and not has_cost(board):
            continue
        found.append(figure)
    return found


def front_page(
    config: Mapping,
    output_dir: str,
    steps: Sequence[str],
    board: pd.DataFrame | None,
    paired: pd.DataFrame | None,
    figures: Sequence[str],
    *,
    skipped: Sequence[str] = (),
    trials: pd.DataFrame | None = None,
    table1: pd.DataFrame | None = None,
) -> str:
    """The front page as reStructuredText (Snakemake's report renders it and links `name`_ to the
    report's item of that file name)."""
    title = "SOSpine benchmark: this run"
    parts = [STYLE, title, "=" * len(title), ""]
    scored = board is not None and len(board)
    if scored:
        iou = board["iou_threshold"].iat[0]
        parts += [
            f"**AP per class** at IoU {iou:g} on the board's {board['n_trials'].iat[0]} test trials "
            f"({board['test_trials'].iat[0]}), each detector's by the paper's matching rules and by VOC's "
            f"all-point rule, under the AP the paper prints for its YOLOv4 ({PAPER}, its four test trials, "
            "IoU 0.5):",
            "",
            _table(ap_table(board)),
            "",
            f"\\* the paper prints an overall mAP of {PAPER_PRINTED_MAP:g}, which no mean of its own APs gives "
            "(its five APs average 0.467).",
            "",
        ]
        if why := comparable(config, board):
            parts += [f"*Not comparable with the paper's figures*: {why}.", ""]
    else:
        parts += ["**AP per class**: no detector was scored in this run.", ""]
    parts += [f"**Data**: {describe_source(config)} (data.source: {config['data']['source']}).", ""]
    parts += [f"**Split**: {describe_split(config)}.", ""]
    if trials is not None and len(trials):
        parts += [f"**Trials**: {describe_trials(trials)}.", ""]
    if scored and (shared := coverage_part(paired)):
        parts += [f"**Trials on the board**: {shared}.", ""]
    if skipped:
        parts += ["**Skipped**:", ""] + [f"- {line}" for line in skipped] + [""]
    if table1 is not None and len(table1):
        parts += [
            "**Table 1** (boxes per class; train counts the validation trials too, as the paper does):",
            "",
            _table(table1.map(lambda v: f"{v:,}" if isinstance(v, Integral) else v)),
            "",
        ]
    if scored:
        parts += [
            f"**Leaderboard**: VOC AP at IoU {board['iou_threshold'].iat[0]:g} on {board['n_trials'].iat[0]} test "
            f"trials ({board['test_trials'].iat[0]}); each detector's all-class AP minus the reference's, with the "
            "exact paired permutation test over the test trials (raw and Holm-adjusted p-value):",
            "",
        ]
        table = headline(board, paired if paired is not None else pd.DataFrame(columns=["detector", "label"]))
        shown = pd.DataFrame(
            {
                "place": table["place"],
                "detector": table["detector"],
                "kind": table["kind"],
                "AP (all)": table["ap_all"].map("{:.4f}".format),
                "AP (instruments)": table["ap_instruments"].map("{:.4f}".format),
                "difference": table["diff_all"].map(lambda v: "reference" if pd.isna(v) else f"{v:+.4f}"),
                "p": table["p_value"].map(lambda v: "" if pd.isna(v) else f"{v:.4g}"),
                "p (Holm)": table["p_holm"].map(lambda v: "" if pd.isna(v) else f"{v:.4g}"),
            }
        )
        parts += [_table(shown), ""]
        if "rank_group" in board and (ties := ties_note(table)):  # "1=": no test tells them apart
            parts += [f"*Places*: {ties.removeprefix('place: ')}.", ""]
        if paired is not None and len(paired):
            parts += [f"*What the tests can show*: {paired['note'].iat[0]}.", ""]
        elif "out_of_fold" in board and (withheld := not_out_of_fold_note(held_out(board))):
            parts += [f"*Not out of fold*: {withheld.removeprefix('not out of fold: ')}.", ""]
    else:
        parts += ["**Leaderboard**: no detector was scored in this run.", ""]
    if shown := shown_figures(figures, board):
        parts += ["**Figures**: " + ", ".join(f"`{Path(f).name}`_" for f in shown) + ".", ""]
    parts += [
        f"**Output folder**: ``{output_dir}`` (every result, its log under ``{output_dir}/logs``, the provenance of "
        f"every file in ``{output_dir}/provenance.json``).",
        "",
        f"**Steps run**: {', '.join(steps)}.",
        "",
    ]
    return "\n".join(parts)


def coverage_part(paired: pd.DataFrame | None) -> str | None:
    """The part of the paired table's note that names the detectors whose files shrank the board's
    test trials, or None."""
    from sospine.scoring.detector_tables import COVERAGE_NOTE_START

    if paired is None or not len(paired) or "note" not in paired:
        return None
    for part in str(paired["note"].iat[0]).split("; "):
        if part.startswith(COVERAGE_NOTE_START):
            return part
    return None
