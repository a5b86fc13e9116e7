"""One detector's scores: every table from truth and detections (`score`), and the files
`sospine score` and the scoring jobs write (`score_files`, `write_scores`)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from sospine.constants import INSTRUMENTS
from sospine.scoring.bootstrap import bootstrap_ap
from sospine.scoring.coco import coco_map
from sospine.scoring.matching import (
    PAPER_POINT_COLUMNS,
    ScoringError,
    class_table,
    coded,
    match,
    per_trial_ap,
    prepare_detections,
    prepare_truth,
)
from sospine.statistics import interval_note
from sospine.tables import read_annotations, split_frame_names, write_table


def score(
    truth_boxes: pd.DataFrame,
    detections: pd.DataFrame,
    *,
    test_trials: list[str] | None = None,
    iou: float = 0.5,
    bootstrap: int = 1000,
    seed: int = 0,
    coco: bool = True,
) -> dict:
    """All scoring tables for one detector; see `score_files` for the files written.

    `ap_voc` and `ap_paper` are at the IoU threshold `iou`; `ap50_voc` is always at IoU 0.5 (the
    name of earlier versions, equal to `ap_voc` at the default threshold); the COCO figures are at
    0.5 and 0.5:0.95. `coco=False` skips the (slower) torchmetrics figures, leaving them NaN.
    """
    with_coco = coco
    parsed = split_frame_names(detections["trial_frame"])
    det_trials = sorted(parsed["trial"].dropna().unique())
    trials = sorted(test_trials) if test_trials else det_trials
    if not trials:
        warnings.warn("no detections and no test trials given: every AP is 0", stacklevel=2)
    truth = prepare_truth(truth_boxes, trials)
    dets = prepare_detections(detections, trials, parsed=parsed)
    dropped = len(detections) - len(dets)
    coded_truth, coded_dets = coded(truth, dets)  # once for every match below
    matched = match(coded_truth, coded_dets, iou)
    paper = match(coded_truth, coded_dets, iou, rule="paper")
    at_iou50 = matched if iou == 0.5 else match(coded_truth, coded_dets, 0.5)
    table, curves = class_table(matched, paper, at_iou50)
    if dets.empty:
        warnings.warn("the detections file has no detections in the test trials: every AP is 0", stacklevel=2)
    coco_ap = coco_map(truth, dets) if with_coco and not dets.empty else {"ap50_coco": {}, "ap50_95_coco": {}}
    table["ap50_coco"] = table["label"].map(coco_ap["ap50_coco"]).astype(float)
    table["ap50_95_coco"] = table["label"].map(coco_ap["ap50_95_coco"]).astype(float)
    if with_coco and dets.empty:
        table[["ap50_coco", "ap50_95_coco"]] = table[["ap50_coco", "ap50_95_coco"]].fillna(0.0)
    note = interval_note(len(trials), bootstrap)
    intervals = bootstrap_ap(matched, trials, bootstrap, seed) if note is None else None
    if intervals is not None:
        table = table.merge(intervals, left_on="label", right_index=True, how="left")
    else:
        table[["ci95_low", "ci95_high"]] = np.nan
    table.insert(1, "iou_threshold", iou)
    table = table[[c for c in table.columns if c not in PAPER_POINT_COLUMNS] + PAPER_POINT_COLUMNS]
    instruments = table[table["label"].isin(INSTRUMENTS)]
    summary = {
        "iou_threshold": iou,
        "map_voc_all": float(table["ap_voc"].mean()),
        "map_voc_instruments": float(instruments["ap_voc"].mean()),
        "map_paper_all": float(table["ap_paper"].mean()),
        "map_paper_instruments": float(instruments["ap_paper"].mean()),
        "map50_voc_all": float(table["ap50_voc"].mean()),
        "map50_voc_instruments": float(instruments["ap50_voc"].mean()),
        "map50_coco_all": float(coco_ap["ap50_coco"].get("all", 0.0 if with_coco else np.nan)),
        "map50_95_coco_all": float(coco_ap["ap50_95_coco"].get("all", 0.0 if with_coco else np.nan)),
        "map50_coco_instruments": float(instruments["ap50_coco"].mean()),
        "test_trials": trials,
        "n_detections": int(len(dets)),
        "n_detections_outside_test_trials": int(dropped),
        "n_truth": int(table["n_truth"].sum()),
        "ci95_note": note
        or (
            f"95% intervals of VOC AP at IoU {iou}: point +- t({len(trials) - 1}) x trial-bootstrap standard error "
            f"({bootstrap} resamples of {len(trials)} trials)"
        ),
    }
    if intervals is not None:
        for key in ("map_voc_all", "map_voc_instruments"):
            summary[f"{key}_ci95"] = [float(intervals.loc[key, "ci95_low"]), float(intervals.loc[key, "ci95_high"])]
            if iou == 0.5:  # the earlier name, only where it is true
                summary[f"{key.replace('map_', 'map50_')}_ci95"] = summary[f"{key}_ci95"]
    return {
        "table": table,
        "curves": curves,
        "per_trial": per_trial_ap(matched, paper),
        "summary": summary,
        "matched": matched,  # at `iou`: what a bootstrap over these trials re-weights
    }


# what write_scores writes, summary.json last; score_files writes VALIDATION_REPORT instead when the
# files cannot be scored
SCORE_OUTPUTS = ("ap_per_class.csv", "per_trial_ap.csv", "pr_curves.csv", "pr_curves.png", "summary.json")
VALIDATION_REPORT = "validation_report.csv"


def score_files(
    truth_path: str | Path,
    detections_path: str | Path,
    out_dir: str | Path,
    *,
    test_trials: list[str] | None = None,
    iou: float = 0.5,
    bootstrap: int = 1000,
    seed: int = 0,
    name: str | None = None,
) -> dict:
    """Validate the truth and the detections (`sospine score`), then `write_scores`. `name`
    (default: the detections file's name) titles the figure."""
    from sospine.validation import format_issue, validate

    out = Path(out_dir)
    # the folder holds this run's files alone: an earlier run's scores never sit beside this run's
    # validation report (or the reverse), and summary.json, written last, marks a finished run
    for stale in (*SCORE_OUTPUTS, VALIDATION_REPORT):
        (out / stale).unlink(missing_ok=True)
    paths = {"bbox": truth_path, "detections": detections_path}
    # whether the files can be scored is a question of errors; the warnings (a million detections
    # reaching past the frame are a million of them) go into the report only when it is written
    report, files = validate(paths, errors_only=True)
    errors = report[report["severity"] == "error"]
    if not errors.empty:
        report, _ = validate(paths)
        errors = report[report["severity"] == "error"]
        report.to_csv(out / VALIDATION_REPORT, index=False)
        first = "; ".join(format_issue(r) for r in errors.head(5).itertuples())
        raise ScoringError(f"{len(errors)} validation errors (see {out / VALIDATION_REPORT}): {first}")
    detections = files["detections"].typed
    # scoring needs the typed table only: the rows as read (a million detections are half a gigabyte
    # of strings) and the report of warnings go now
    del report, errors, files
    return write_scores(
        read_annotations(truth_path),
        detections,
        out,
        test_trials=test_trials,
        iou=iou,
        bootstrap=bootstrap,
        seed=seed,
        name=name or Path(detections_path).stem,
    )


def write_scores(
    truth: pd.DataFrame,
    detections: pd.DataFrame,
    out_dir: str | Path,
    *,
    test_trials: list[str] | None = None,
    iou: float = 0.5,
    bootstrap: int = 1000,
    seed: int = 0,
    name: str = "detections",
) -> dict:
    """Score validated detections and write ap_per_class.csv, per_trial_ap.csv, pr_curves.csv/.png
    and summary.json into `out_dir`; return the summary."""
    from sospine.plots import pr_curves, pr_title

    out = Path(out_dir)
    result = score(truth, detections, test_trials=test_trials, iou=iou, bootstrap=bootstrap, seed=seed)
    # full precision, each number at the precision it was computed in (COCO's APs are float32)
    write_table(result["table"], out / "ap_per_class.csv")
    write_table(result["per_trial"], out / "per_trial_ap.csv")
    write_table(result["curves"], out / "pr_curves.csv")
    title = pr_title(name, iou, result["summary"]["test_trials"])
    pr_curves(result["curves"], result["table"], out / "pr_curves.png", title)
    (out / "summary.json").write_text(json.dumps(result["summary"], indent=2) + "\n")
    return result["summary"]


FOLD_METRICS = [
    "map_voc_all",
    "map_voc_instruments",
    "map_paper_all",
    "map_paper_instruments",
    "map50_coco_all",
    "map50_95_coco_all",
]


def fold_summary(summaries: dict[str, dict]) -> pd.DataFrame:
    """Leave-one-surgeon-out: one row per fold (its summary.json), then the mean and standard deviation."""
    rows = [
        {
            "fold": fold,
            "test_trials": " ".join(summary["test_trials"]),
            "iou_threshold": summary["iou_threshold"],
            **{key: summary[key] for key in FOLD_METRICS},
            "n_truth": summary["n_truth"],
            "n_detections": summary["n_detections"],
        }
        for fold, summary in summaries.items()
    ]
    table = pd.DataFrame(rows)
    spread = pd.DataFrame(
        [
            {"fold": "mean", **table[FOLD_METRICS].mean().to_dict()},
            {"fold": "std", **table[FOLD_METRICS].std().to_dict()},
        ]
    )
    return pd.concat([table, spread], ignore_index=True)
