"""A leaderboard of detectors scored on the same test trials, and paired comparisons with a reference.

Every detector is scored on the trials common to all of them (a trained detector's test trials, the
trials a detections file covers). Whether a detector differs from the reference beyond the noise of
those trials is answered by an exact paired permutation test over them (`sospine.scoring.permutation`): its
p-value respects that trials, not frames, are the units, so with the paper's four test trials it
cannot go below 0.125, and the table says so. Intervals (`sospine.scoring.t_interval`, from one trial
bootstrap shared by all detectors, so that differences are paired) are given only from
`MIN_TRIALS_FOR_INTERVAL` trials on. Holm's adjustment across the table's rows guards against reading
one small p among many comparisons as a finding. The `instruments` and `all` rows are means over the
classes with a truth box in the test trials (a class without any has no AP): the same classes for
the point estimate, its interval, the paired difference and its p-value, so that the paired table
tests the board's figures; the note says which classes are left out.

The board's order (`rank`, by the all-class AP) is a strict order that its tests may not support, so
beside it `rank_group` says which places are shown (`rank_groups`): walking down the board, a
detector starts a new group only when the same paired permutation test of its all-class AP against
the detector directly above it (`p_vs_above`; the paired table's own test where one of the two is
the reference) is below `ALPHA` after Holm's adjustment across every test the board reports (the
paired table's rows and these steps: `p_vs_above_holm`); otherwise it shares the group of the one
above. A group is named by the rank of its first detector (1, 1, 3: the first two tied).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from sospine.constants import BOX_LABELS, INSTRUMENTS
from sospine.scoring import bootstrap_samples, score
from sospine.scoring.detector_tables import coverage_note
from sospine.scoring.permutation import PermutationTest, paired_permutation, scored_classes
from sospine.scoring.places import ALPHA, rank_groups, step_p_values, step_pairs
from sospine.statistics import (
    MIN_TRIALS_FOR_INTERVAL,
    MONTE_CARLO_SAMPLES,
    holm,
    interval_note,
    resample_weights,
    smallest_p,
    t_interval,
)

#: The leaderboard's rows per detector: the classes, then the means over the instruments and all five
#: (over those of them with truth in the test trials: `averaged`).
LABELS: tuple[str, ...] = (*BOX_LABELS, "instruments", "all")
BOARD_COLUMNS = [
    "rank",
    "detector",
    "label",
    "ap_voc",
    "ci95_low",
    "ci95_high",
    "ap50_coco",
    "ap50_95_coco",
    "ap_paper",
    "n_truth",
    "n_detections",
    "iou_threshold",
    "n_trials",
    "test_trials",
    "rank_group",
    "p_vs_above",
    "p_vs_above_holm",
]
PAIRED_COLUMNS = [
    "detector",
    "reference",
    "label",
    "diff",
    "ci95_low",
    "ci95_high",
    "p_value",
    "p_holm",
    "p_min",
    "n_trials",
    "test",
    "note",
]
#: What a detector cost, beside its accuracy (empty for detections files made elsewhere).
COST_COLUMNS = ["params", "gflops", "epochs", "train_s", "train_device", "infer_ms"]
#: What to recommend when a split cannot show a difference: the pooled out-of-fold trials.
RECOMMENDATION = "for claims use leave-one-surgeon-out (split.method: leave_one_surgeon_out; 22 pooled test trials)"


class LeaderboardError(ValueError):
    pass


def common_trials(trials_of: Mapping[str, list[str]]) -> list[str]:
    """The test trials every detector was evaluated on.

    >>> common_trials({"a": ["S1A1", "S2A1"], "b": ["S2A1", "S3A1"]})
    ['S2A1']
    """
    if not trials_of:
        raise LeaderboardError("no detectors to rank")
    shared = set.intersection(*(set(t) for t in trials_of.values()))
    if not shared:
        listed = "; ".join(f"{name}: {' '.join(sorted(t)) or 'none'}" for name, t in trials_of.items())
        raise LeaderboardError(f"the detectors share no test trial, so they cannot be compared ({listed})")
    return sorted(shared)


def reference_of(
    names: list[str], wanted: str, baseline: str | None, out_of_fold: Mapping[str, bool] | None = None
) -> str:
    """The detector the others are compared with: `wanted`, or for `auto` the baseline, else the first;
    under leave-one-surgeon-out (`out_of_fold` given) only one out of fold can make claims, so `auto`
    takes the baseline only when it is out of fold, else the first detector out of fold, if any.

    >>> names = ["a", "b", "paper"]
    >>> reference_of(names, "auto", "paper"), reference_of(names, "auto", "paper", {"a": False})
    ('paper', 'paper')
    >>> reference_of(names, "auto", "paper", {"a": False, "paper": False})
    'b'
    """
    if wanted != "auto":
        if wanted not in names:
            raise LeaderboardError(f"leaderboard.reference: {wanted!r} is not a detector of this run; known: {names}")
        return wanted
    if out_of_fold is not None:
        held = [name for name in names if out_of_fold.get(name, True)]
        names = held + [name for name in names if name not in held]
        baseline = baseline if out_of_fold.get(baseline, True) else None
    return baseline if baseline in names else names[0]


def averaged(n_truth: Mapping[str, float]) -> dict[str, list[str]]:
    """What each mean row averages: the classes with truth in the scored trials (`scored_classes`),
    one definition for the point estimate, its interval and the paired test.

    >>> averaged({"needle": 3, "needle driver": 5, "grasper": 0, "nerve hook": 1, "durotomy": 9})["instruments"]
    ['needle driver', 'nerve hook']
    """
    return {"instruments": scored_classes(n_truth, INSTRUMENTS), "all": scored_classes(n_truth, BOX_LABELS)}


def without_truth(n_truth: Mapping[str, float]) -> list[str]:
    """The classes without any truth box in the scored trials: no AP, and left out of every mean."""
    return [label for label in BOX_LABELS if label not in scored_classes(n_truth)]


def with_means(values: pd.DataFrame, means: Mapping[str, list[str]]) -> pd.DataFrame:
    """`values` (a column per class; rows: the point estimates, or bootstrap resamples) with a column
    per mean of `means` over its classes (NaN for a mean of no class).

    >>> aps = pd.DataFrame([[0.5, 0.1, 0.3, np.nan, 0.2]], columns=BOX_LABELS)
    >>> with_means(aps, {"all": ["needle", "grasper", "durotomy"]})["all"].round(6).tolist()
    [0.333333]
    """
    out = values[list(BOX_LABELS)].copy()
    for name, kept in means.items():
        # skipna=False: a resample in which an averaged class has no truth has no mean (it drops out
        # of the interval) rather than a mean over other classes, which would be another quantity
        out[name] = values[kept].mean(axis=1, skipna=False) if kept else np.nan
    return out


def rank(
    truth: pd.DataFrame,
    detections: Mapping[str, pd.DataFrame],
    trials_of: Mapping[str, list[str]],
    *,
    reference: str,
    iou: float = 0.5,
    n_resamples: int = 1000,
    seed: int = 0,
    permutation_samples: int = MONTE_CARLO_SAMPLES,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The leaderboard (one row per detector and label) and the paired comparisons with `reference`.

    `detections` holds each detector's detections (published format), `trials_of` the trials each
    was evaluated on; all are scored on the trials common to them.
    """
    trials = common_trials(trials_of)
    note = interval_note(len(trials), n_resamples)
    weights = resample_weights(len(trials), n_resamples, seed) if note is None else None
    rows, samples, matched, n_truth = [], {}, {}, {}
    for name, table in detections.items():
        scored = score(truth, table, test_trials=trials, iou=iou, bootstrap=0)
        matched[name] = scored["matched"]
        per_class = scored["table"].set_index("label")
        counts = per_class[["n_truth", "n_detections"]]
        n_truth = counts["n_truth"].to_dict()  # the same truth and trials for every detector
        means = averaged(n_truth)
        columns = {
            c: with_means(per_class[[c]].T, means).iloc[0].to_dict()
            for c in ("ap_voc", "ap50_coco", "ap50_95_coco", "ap_paper")
        }
        if weights is not None:
            samples[name] = with_means(bootstrap_samples(scored["matched"], trials, weights), means)
        for label in LABELS:
            group = means.get(label, [label])
            point = columns["ap_voc"][label]
            low, high = t_interval(point, samples[name][label], len(trials)) if weights is not None else (np.nan,) * 2
            rows.append(
                {
                    "detector": name,
                    "label": label,
                    **{c: columns[c][label] for c in columns},
                    "ci95_low": low,
                    "ci95_high": high,
                    "n_truth": int(counts.loc[group, "n_truth"].sum()),
                    "n_detections": int(counts.loc[group, "n_detections"].sum()),
                }
            )
    board = pd.DataFrame(rows)
    board["iou_threshold"] = iou
    board["n_trials"] = len(trials)
    board["test_trials"] = " ".join(trials)
    overall = board[board["label"] == "all"].set_index("detector")["ap_voc"]
    order = list(overall.sort_values(ascending=False, kind="stable").index)
    board["rank"] = board["detector"].map({name: i + 1 for i, name in enumerate(order)})
    board = board.sort_values(["rank"], kind="stable").reset_index(drop=True)
    tests: dict[tuple[str, str], PermutationTest] = {}

    def test(a: str, b: str) -> PermutationTest:  # A - B, each pair tested once
        if (a, b) not in tests:
            tests[(a, b)] = paired_permutation(
                matched[a].detections, matched[b].detections, n_truth, trials, seed=seed, samples=permutation_samples
            )
        return tests[(a, b)]

    steps = step_pairs(order, reference)
    for pair in steps.values():
        test(*pair)
    table = paired(
        board[BOARD_COLUMNS[:-3]],
        samples,
        matched,
        n_truth,
        reference,
        trials,
        note,
        seed=seed,
        permutation_samples=permutation_samples,
        tests=tests,
    )
    if len(table) and (shrunk := coverage_note(trials_of)):  # whose detections left trials out for everyone
        table["note"] = table["note"] + "; " + shrunk
    raw, adjusted = step_p_values(table, {name: test(*pair).p_value("all") for name, pair in steps.items()}, steps)
    board["rank_group"] = board["detector"].map(rank_groups(order, adjusted))
    board["p_vs_above"] = board["detector"].map(raw).astype(float)
    board["p_vs_above_holm"] = board["detector"].map(adjusted).astype(float)
    return board[BOARD_COLUMNS], table


def paired(
    board: pd.DataFrame,
    samples: Mapping[str, pd.DataFrame],
    matched: Mapping,
    n_truth: Mapping[str, float],
    reference: str,
    trials: list[str],
    note: str | None,
    *,
    seed: int = 0,
    permutation_samples: int = MONTE_CARLO_SAMPLES,
    tests: Mapping[tuple[str, str], PermutationTest] | None = None,
) -> pd.DataFrame:
    """Each detector minus the reference, per label: the difference of the point estimates, its
    paired permutation p-value over the test trials (raw and Holm-adjusted across the table) with the
    smallest p-value the trials allow, and its 95% interval from the paired bootstrap (enough trials).
    `tests`: tests already made, by (detector, reference), with the same trials, seed and samples."""
    point = board.set_index(["detector", "label"])["ap_voc"]
    rows, described = [], ""
    for name in board["detector"].unique():
        if name == reference:
            continue
        test = (tests or {}).get((name, reference)) or paired_permutation(
            matched[name].detections,
            matched[reference].detections,
            n_truth,
            trials,
            seed=seed,
            samples=permutation_samples,
        )
        described = test.describe()
        for label in LABELS:
            diff = float(point[(name, label)] - point[(reference, label)])
            if samples:
                differences = (samples[name][label] - samples[reference][label]).to_numpy(float)
                low, high = t_interval(diff, differences, len(trials), bounds=(-1.0, 1.0))
            else:
                low = high = np.nan
            rows.append(
                {
                    "detector": name,
                    "reference": reference,
                    "label": label,
                    "diff": diff,
                    "ci95_low": low,
                    "ci95_high": high,
                    "p_value": test.p_value(label),
                }
            )
    table = pd.DataFrame(rows, columns=PAIRED_COLUMNS[:7])
    table["p_holm"] = holm(table["p_value"].to_numpy(float)) if len(table) else []
    table["p_min"] = smallest_p(len(trials))
    table["n_trials"] = len(trials)
    table["test"] = described
    table["note"] = paired_note(len(trials), len(table), note, without_truth(n_truth))
    return table[PAIRED_COLUMNS]


def add_costs(board: pd.DataFrame, costs: pd.DataFrame) -> pd.DataFrame:
    """The board with each detector's cost (`COST_COLUMNS`, from its costs/<name>.json) on its rows;
    empty where unknown, never guessed.

    >>> board = pd.DataFrame({"detector": ["a", "b"], "label": ["all", "all"]})
    >>> add_costs(board, pd.DataFrame({"detector": ["a"], "params": [10], "infer_ms": [1.5]}))[["detector", "params"]]
      detector  params
    0        a    10.0
    1        b     NaN
    """
    known = costs.reindex(columns=["detector", *COST_COLUMNS])
    return board.drop(columns=[c for c in COST_COLUMNS if c in board]).merge(known, on="detector", how="left")


def means_note(missing: Sequence[str]) -> str | None:
    """Which classes the means leave out, in words; None when every class has truth.

    >>> means_note(["nerve hook"])
    'no truth box of nerve hook in the test trials: it has no AP, and instruments and all average the other classes'
    """
    if not missing:
        return None
    return (
        f"no truth box of {', '.join(missing)} in the test trials: "
        f"{'it has' if len(missing) == 1 else 'they have'} no AP, and instruments and all average the other classes"
    )


def paired_note(n_trials: int, n_rows: int, interval: str | None, missing: Sequence[str] = ()) -> str:
    """What the paired table can and cannot show, in words (and which classes the means leave out)."""
    floor = smallest_p(n_trials)
    parts = []
    if floor > 0.05:
        parts.append(
            f"with {n_trials} test trials no difference can reach p < 0.05: the smallest p-value a paired test over "
            f"{n_trials} trials can give is {floor:g}; {RECOMMENDATION}"
        )
    else:
        parts.append(f"p_holm: Holm-adjusted across the {n_rows} rows of this table (read it, not p_value, for claims)")
    if interval:
        parts.append(interval)
    elif n_trials < MIN_TRIALS_FOR_INTERVAL:  # bootstrap 0 gives its own note
        parts.append(f"no intervals below {MIN_TRIALS_FOR_INTERVAL} test trials")
    if note := means_note(missing):  # last: what the test can show stays the note's first words
        parts.append(note)
    return "; ".join(parts)


def headline(board: pd.DataFrame, paired: pd.DataFrame) -> pd.DataFrame:
    """One row per detector, best first: its place (`rank_group`, with "=" where the group is shared:
    "1=" for each of two detectors no test tells apart), its all-class and instruments AP and, but for
    the reference, its all-class difference from the reference with the paired permutation p-values.
    A board without `rank_group` (written before it existed) gives each its rank."""
    rows = []
    for name in board["detector"].unique():
        mine = board[board["detector"] == name].set_index("label")
        group = mine["rank_group"].iat[0] if "rank_group" in mine else np.nan
        row = {
            "rank": int(mine["rank"].iat[0]),
            "rank_group": int(group) if pd.notna(group) else int(mine["rank"].iat[0]),
            "detector": name,
            "kind": mine["kind"].iat[0] if "kind" in mine else "",
            "ap_all": float(mine.loc["all", "ap_voc"]),
            "ap_instruments": float(mine.loc["instruments", "ap_voc"]),
        }
        versus = paired[(paired["detector"] == name) & (paired["label"] == "all")]
        if len(versus):
            row.update(
                diff_all=float(versus["diff"].iat[0]),
                p_value=float(versus["p_value"].iat[0]),
                p_holm=float(versus["p_holm"].iat[0]) if "p_holm" in versus else np.nan,
            )
        rows.append(row)
    columns = ["place", "rank", "rank_group", "detector", "kind", "ap_all", "ap_instruments", "diff_all", "p_value"]
    table = pd.DataFrame(rows, columns=[*columns, "p_holm"])
    shared = table["rank_group"].map(table["rank_group"].value_counts())
    table["place"] = table["rank_group"].astype(str) + np.where(shared > 1, "=", "")
    return table


def ties_note(table: pd.DataFrame) -> str | None:
    """How the headline's places are read, naming the ties; None for a single detector.

    >>> ties_note(pd.DataFrame({"rank_group": [1, 1, 3], "detector": ["a", "b", "c"]})).split(";")[0]
    'place: tied for 1: a, b'
    """
    if len(table) < 2:
        return None
    ties = [
        f"tied for {group}: {', '.join(rows['detector'])}"
        for group, rows in table.groupby("rank_group", sort=True)
        if len(rows) > 1
    ]
    return (
        f"place: {'; '.join(ties) if ties else 'no ties'}; a detector shares the place of the one above it unless "
        f"the paired permutation test of their all-class APs gives p < {ALPHA:g} after Holm's adjustment across "
        "every test of the board (leaderboard.csv: p_vs_above_holm), or there is no such test; rank is the order "
        "of the APs alone"
    )


def _truth_counts(board: pd.DataFrame) -> dict[str, float]:
    """Truth boxes per class, from the board's class rows (the same for every detector)."""
    rows = board[board["label"].isin(BOX_LABELS)].drop_duplicates("label")
    return rows.set_index("label")["n_truth"].to_dict()


def headline_text(board: pd.DataFrame, paired: pd.DataFrame) -> str:
    """The headline as console text: the table, the reference and what the test can show."""
    table = headline(board, paired)
    shown = table.drop(columns=["rank", "rank_group"]).assign(
        ap_all=table["ap_all"].map("{:.4f}".format),
        ap_instruments=table["ap_instruments"].map("{:.4f}".format),
        diff_all=table["diff_all"].map(lambda v: "" if pd.isna(v) else f"{v:+.4f}"),
        p_value=table["p_value"].map(lambda v: "" if pd.isna(v) else f"{v:.4g}"),
        p_holm=table["p_holm"].map(lambda v: "" if pd.isna(v) else f"{v:.4g}"),
    )
    trials = board["test_trials"].iat[0] if len(board) else ""
    lines = [f"leaderboard on {board['n_trials'].iat[0] if len(board) else 0} test trials ({trials}), VOC AP:"]
    lines.append(shown.to_string(index=False))
    if "rank_group" in board and (note := ties_note(table)):  # a board written before groups: its ranks
        lines.append(note)
    if len(paired):  # its note says which classes the means leave out
        lines.append(f"differences: each detector minus {paired['reference'].iat[0]}; {paired['note'].iat[0]}")
    elif len(board) and (note := means_note(without_truth(_truth_counts(board)))):
        lines.append(note)
    return "\n".join(lines)


#: how the tables are written for reading: APs and their differences to 4 decimals, p-values to 4
#: significant digits (never rounded to 0), costs to what they mean
_DECIMALS = {"ap_voc": 4, "ci95_low": 4, "ci95_high": 4, "ap50_coco": 4, "ap50_95_coco": 4, "ap_paper": 4, "diff": 4}
_DECIMALS.update(train_s=1, infer_ms=2, gflops=3)


def for_reading(table: pd.DataFrame) -> pd.DataFrame:
    """`table` (the board or the paired table) rounded where it is read by people; p-values keep 4
    significant digits, so 1e-5 stays 1e-5.

    >>> for_reading(pd.DataFrame({"ap_voc": [0.123456789], "p_value": [0.0000123456]})).iloc[0].tolist()
    [0.1235, 1.235e-05]
    """
    out = table.copy()
    for column, decimals in _DECIMALS.items():
        if column in out:
            out[column] = pd.to_numeric(out[column], errors="coerce").round(decimals)
    for column in ("p_value", "p_holm", "p_min", "p_vs_above", "p_vs_above_holm"):
        if column in out:
            out[column] = pd.to_numeric(out[column], errors="coerce").map(
                lambda v: float(f"{v:.4g}") if pd.notna(v) else v
            )
    return out
