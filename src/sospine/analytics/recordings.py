"""A new recording analysed as the benchmark's trials are: tool presence at the detector's presence
thresholds with the run's smoothing, phases, performance metrics (APMs) and an outcome estimate.

The recording is one more "trial": the functions of `sospine.analytics` run on it unchanged. The
outcome estimate comes from the outcome models the run evaluated (sospine.analytics.prediction),
refitted on every annotated trial, and carries the leave-one-surgeon-out performance of the model
that made it: where that model was not better than its control (prediction.csv's `versus_control`:
the paired bootstrap interval of their difference lies wholly on the better side of 0) and better
than chance (its permutation p below 0.05), the estimate is withheld and the reason given instead,
in the words of prediction.csv's notes (better than, no different from, worse than its control).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sospine import analytics
from sospine.analytics.apm import apms
from sospine.constants import BOX_LABELS

_FRAME_NUMBER = re.compile(r"_frame_(\d+)\.(?:jpeg|jpg)$")
#: the outcome models' names in prediction.csv, and what their estimate is
ESTIMATES = {"success": "probability of a watertight repair (no CSF leak at 40 mmHg)", "repair_time": "seconds"}
#: the metric each outcome's model is judged by, against its control
JUDGED_BY = {"success": "auc", "repair_time": "rmse"}


def frames_of(name: str, n_frames: int) -> pd.DataFrame:
    """The recording's time axis: frames 1..n, as one trial named `name`."""
    return pd.DataFrame({"trial": name, "frame": np.arange(1, n_frames + 1)})


def presence(
    name: str,
    n_frames: int,
    detections: pd.DataFrame,
    thresholds: Mapping[str, float],
    source: str,
    min_gap: int,
    min_run: int,
) -> pd.DataFrame:
    """Long presence table of the recording (`trial` is its name): a tool is present in a frame where
    a detection of it reaches the tool's threshold (no threshold: never), smoothed as the run's
    timelines are."""
    kept = analytics.thresholded(detections, thresholds)  # a tool without a threshold is never present
    frame = kept["frame"] if "frame" in kept else kept["trial_frame"].str.extract(_FRAME_NUMBER)[0]
    hits = pd.DataFrame({"trial": name, "frame": frame.astype(int), "label": kept["label"]})
    table = analytics.presence_from(frames_of(name, n_frames), hits, source)
    return analytics.smooth(table, min_gap, min_run)


def phases_of(table: pd.DataFrame, phases: Mapping[str, Mapping]) -> pd.DataFrame:
    """The recording's phase segments (as phases/segments.csv: trial, source, phase, start, end)."""
    return analytics.segments(analytics.phase_activity(table, phases))


def metrics(table: pd.DataFrame, segments: pd.DataFrame, phases: Sequence[str], source: str) -> pd.DataFrame:
    """One row: the performance metrics of outcomes/per_trial_metrics.csv (each tool's seconds in view
    and entries, each phase's seconds and count)."""
    return apms(table, segments, phases, source)


def outcome_estimates(
    truth_metrics: pd.DataFrame, outcomes: pd.DataFrame, recording: pd.DataFrame, prediction: pd.DataFrame
) -> dict:
    """Each outcome's estimate for the recording, from its model fitted on every annotated trial's
    metrics (`truth_metrics`, by trial) and outcomes, with that model's leave-one-surgeon-out
    performance against its control (`prediction`, prediction.csv) and a sentence saying what it
    allows one to say. The estimate is withheld (None) where the model was not better than its
    control (`versus_control` is not `better`: no different from it, worse than it, or not compared),
    not better than chance (p >= 0.05) or could not be evaluated. A prediction.csv written before
    `versus_control` existed is judged as it was then: p < 0.05 and a better point value than the
    control's."""
    from sospine.analytics.prediction import _model

    merged = outcomes.set_index("trial").join(truth_metrics, how="inner")
    columns = list(truth_metrics.columns)
    x_new = recording.reindex(columns=columns).fillna(0.0).to_numpy(float)
    found = {}
    for outcome, target in (("success", "success"), ("repair_time", "repair_time_s")):
        rows = prediction[(prediction["outcome"] == outcome) & (prediction["features"] == "ground_truth")]
        control = prediction[(prediction["outcome"] == outcome) & (prediction["features"] == "control")]
        metric = JUDGED_BY[outcome]
        model_row = rows[rows["metric"] == metric]
        control_row = control[control["metric"] == metric]
        value, p, base = _first(model_row, "value"), _first(model_row, "p_value"), _first(control_row, "value")
        compared = None  # the comparison with the control on the model's own trials, where prediction.csv has it
        if "versus_control" in prediction:
            found_row = model_row.iloc[0] if len(model_row) else pd.Series(dtype=object)
            verdict = found_row.get("versus_control")
            compared = {
                "versus_control": str(verdict) if isinstance(verdict, str) and verdict else "",
                **{
                    c: _first(model_row, c)
                    for c in ("control_value", "diff_control", "diff_ci95_low", "diff_ci95_high")
                },
            }
            if compared["control_value"] is not None:
                base = compared["control_value"]
        known = merged.dropna(subset=[target])
        y = known[target].astype(float).to_numpy()
        entry = {
            "what": ESTIMATES[outcome],
            "model": "logistic regression" if outcome == "success" else "ridge regression",
            "features": "the performance metrics of the annotations, every annotated trial; here the detector's",
            "n_trials": int(len(known)),
            "loso": {
                "metric": metric,
                "value": value,
                "p_value": p,
                "control_value": base,
                **(
                    {k: compared[k] for k in ("versus_control", "diff_control", "diff_ci95_low", "diff_ci95_high")}
                    if compared
                    else {}
                ),
                "performance": rows.astype(object).where(rows.notna(), None).to_dict("records"),
            },
        }
        better = value is not None and p is not None and p < 0.05
        if compared is not None:
            better = better and compared["versus_control"] == "better"
        elif better and base is not None:  # a prediction.csv without the comparison: the point values
            better = value > base if metric == "auc" else value < base
        fitted = None
        if len(known) >= 2 and not (outcome == "success" and len(np.unique(y)) < 2):
            model = _model("success" if outcome == "success" else "repair_time_s")
            model.fit(known[columns].to_numpy(float), y)
            raw = model.predict_proba(x_new)[:, 1] if outcome == "success" else model.predict(x_new)
            fitted = float(raw[0])
        entry["estimate"] = fitted if better else None
        entry["statement"] = _statement(outcome, metric, value, p, base, better, fitted, len(known), compared)
        found[outcome] = entry
    return found


def _first(rows: pd.DataFrame, column: str) -> float | None:
    """The first row's value of `column` as a number, or None (no row, or empty)."""
    return float(rows[column].iat[0]) if len(rows) and pd.notna(rows[column].iat[0]) else None


def _statement(
    outcome: str,
    metric: str,
    value: float | None,
    p: float | None,
    base: float | None,
    better: bool,
    fitted: float | None,
    n_trials: int,
    compared: Mapping | None = None,
) -> str:
    what = "a watertight repair" if outcome == "success" else "the repair time"
    if value is None or p is None:
        return (
            f"No estimate of {what}: its model could not be evaluated under leave-one-surgeon-out on this run's "
            f"{n_trials} trials, so nothing says it would predict a new surgeon's case."
        )
    judged = (
        f"{metric.upper()} {value:.3g} against its control's {base:.3g}"
        if base is not None
        else f"{metric} {value:.3g}"
    )
    verdict = compared["versus_control"] if compared else None
    if verdict and compared["diff_ci95_low"] is not None and compared["diff_ci95_high"] is not None:
        judged += (
            f" on the same trials, difference {compared['diff_control']:+.3g}, 95% interval "
            f"{compared['diff_ci95_low']:+.3g} to {compared['diff_ci95_high']:+.3g}"
        )
    nothing = "so an estimate would say nothing about this case beyond what is known of every case."
    if not better and compared is not None:  # the words of prediction.csv's notes
        how = {
            "worse": "did worse than its control",
            "no different": "did no better than its control, no different from it",
            "better": "did better than its control but not distinguishably better than chance",
        }.get(verdict, "was not compared with its control")
        return f"No estimate of {what}: under leave-one-surgeon-out its model {how} ({judged}, p = {p:.3g}), {nothing}"
    if not better:
        worse = base is not None and (value < base if metric == "auc" else value > base)
        how = "worse than" if worse else "no better than"
        return (
            f"No estimate of {what}: under leave-one-surgeon-out its model did {how} its control ({judged}, "
            f"p = {p:.3g}), {nothing}"
        )
    shown = f"{fitted:.0%}" if outcome == "success" else f"{fitted:.0f} s"
    return (
        f"Estimated {what}: {shown}. Its model did better than its control for surgeons it had not seen "
        f"({judged}, p = {p:.3g}); the estimate is from the detector's metrics of this recording, which "
        "agree with the annotations only as far as outcomes/apm_agreement.csv says."
    )


def timeline_figure(table: pd.DataFrame, segments: pd.DataFrame, title: str, path: str | Path) -> None:
    """Tool presence over the recording with its phases shaded, in the style of the paper's Fig. 2."""
    from sospine.plots.style import palette, save, subplots

    colours = palette()
    fig, ax = subplots(figsize=(11, 3.6))
    for row, tool in enumerate(BOX_LABELS):
        frames = table.loc[(table["tool"] == tool) & table["present"], "frame"]
        ax.vlines(frames, row - 0.4, row + 0.4, color=colours[tool], linewidth=1.0)
    phase_names = list(dict.fromkeys(segments["phase"]))
    shades = dict(zip(phase_names, ("#d9d9d9", "#bdbdbd", "#f0f0f0", "#969696", "#e0e0e0"), strict=False))
    for _, segment in segments.iterrows():
        ax.axvspan(segment["start_frame"] - 0.5, segment["end_frame"] + 0.5, color=shades[segment["phase"]], zorder=0)
    for phase, shade in shades.items():
        ax.axvspan(0, 0, color=shade, label=phase)
    ax.set_yticks(range(len(BOX_LABELS)), list(BOX_LABELS))
    ax.set_xlabel("time (s, 1 frame per second)")
    n_frames = int(table["frame"].max()) if len(table) else 1
    ax.set_xlim(0.5, n_frames + 0.5)
    ax.set_ylim(-0.6, len(BOX_LABELS) - 0.4)
    ax.set_title(title, fontsize=9)
    if phase_names:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, title="phases")
    save(fig, path)


def choose_detector(wanted: str, board: pd.DataFrame, candidates: Sequence[str]) -> tuple[str, str]:
    """The detector that analyses recordings and why: the one named, or (`auto`) the best on the
    board by VOC AP over all classes of those that can predict new images (`candidates`).

    >>> board = pd.DataFrame({"detector": ["a", "b", "paper"], "label": "all", "ap_voc": [0.4, 0.6, 0.9]})
    >>> choose_detector("auto", board, ["a", "b"])
    ('b', 'the best on the board that can predict new images: all-class VOC AP 0.6')
    """
    if wanted != "auto":
        return wanted, "analysis.detector"
    rows = board[(board["label"] == "all") & board["detector"].isin(candidates)].sort_values(
        "ap_voc", ascending=False, kind="stable"
    )
    if rows.empty or rows["ap_voc"].isna().all():
        return candidates[0], "the first that can predict new images (none has an AP on the board)"
    best = rows.iloc[0]
    return str(
        best["detector"]
    ), f"the best on the board that can predict new images: all-class VOC AP {best['ap_voc']:.4g}"
