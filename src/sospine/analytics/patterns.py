"""Tool-combination patterns over a trial, as the SOSpine authors' analysis script computes them
(`find_tool_patterns` and `calculate_tool_patterns` in their `sospine_tool_patterns_figshare.py`).

Every frame is in one **state**: `empty` (no tool) or the set of tools present, their names sorted
and joined by `+` (31 sets of the five tools, 32 states in all, listed in `STATES` in the authors'
order: empty, then the sets by size). Per trial: the frames and share of time in each state, and the
Shannon entropy (natural log) of the states' shares, normalized twice: by log 32 (`entropy`, the
most the 32 states allow: 0 for one state throughout, 1 for all 32 equally often) and by the log of
the trial's frame count (`entropy_authors`, the authors' normalization). The **tool profile**: per
trial and tool, the share of the tool's frames in each tenth of the trial (tenth =
ceil(10 x frame / N), N the trial's last frame), then its mean and standard deviation over the
trials where the tool appears (`np.nanmean` and `np.nanstd`, ddof 0, as the script takes them).
The script assigns tenths by their order of appearance, so a tenth without the tool shifts the later
ones into its place; here a tenth is a tenth of the trial.

All of it from presence before smoothing: the annotations as they are, detections at their presence
thresholds.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sospine.analytics.presence import GROUND_TRUTH
from sospine.constants import BOX_LABELS

#: the five tools in sorted order (a state names them in this order)
TOOLS: tuple[str, ...] = tuple(sorted(BOX_LABELS))
EMPTY = "empty"
#: every state, in the authors' order: empty, the single tools, the pairs ... all five
STATES: tuple[str, ...] = (
    EMPTY,
    *("+".join(combo) for size in range(1, len(TOOLS) + 1) for combo in itertools.combinations(TOOLS, size)),
)
_BIT = {tool: 1 << i for i, tool in enumerate(TOOLS)}
_STATE_OF_MASK = {sum(_BIT[t] for t in state.split("+")) if state != EMPTY else 0: state for state in STATES}
#: a state is common, and its share a per-trial metric, when it holds this share of all annotated frames
COMMON_STATE_SHARE = 0.05
TEN = 10

PATTERN_COLUMNS = ["trial", "source", "state", "frames", "share"]
ENTROPY_COLUMNS = ["trial", "source", "entropy", "entropy_authors", "n_states"]
PROFILE_COLUMNS = ["source", "tool", "tenth", "share_mean", "share_sd", "n_trials"]


def state_name(tools: Sequence[str]) -> str:
    """A frame's state from the tools present in it.

    >>> state_name(["needle driver", "durotomy"]), state_name([])
    ('durotomy+needle driver', 'empty')
    """
    return "+".join(sorted(set(tools))) or EMPTY


def _sources_first_truth(sources: Sequence[str]) -> list[str]:
    return sorted(set(sources), key=lambda s: (s != GROUND_TRUTH, s))


def frame_states(presence_table: pd.DataFrame) -> pd.DataFrame:
    """`trial, source, frame, state`: every frame's tool-combination state, from a long presence
    table (`trial, frame, tool, source, present`)."""
    bits = presence_table["tool"].map(_BIT).fillna(0).astype(int)
    masked = presence_table[["source", "trial", "frame"]].assign(
        bit=np.where(presence_table["present"].astype(bool), bits, 0)
    )
    masks = masked.groupby(["source", "trial", "frame"], sort=True)["bit"].sum().reset_index()
    masks["state"] = masks["bit"].map(_STATE_OF_MASK)
    order = pd.Categorical(masks["source"], _sources_first_truth(masks["source"]))
    masks = masks.assign(_order=order).sort_values(["_order", "trial", "frame"])
    return masks[["trial", "source", "frame", "state"]].reset_index(drop=True)


def tool_patterns(states: pd.DataFrame) -> pd.DataFrame:
    """Per trial and source, every one of the 32 states (in `STATES` order, unvisited ones with 0):
    its frames and its share of the trial's frames."""
    counts = states.groupby(["source", "trial", "state"], sort=False).size()
    trials = states[["source", "trial"]].drop_duplicates()
    full = pd.MultiIndex.from_tuples(
        [(s, t, state) for s, t in trials.itertuples(index=False) for state in STATES],
        names=["source", "trial", "state"],
    )
    out = counts.reindex(full, fill_value=0).rename("frames").reset_index()
    totals = out.groupby(["source", "trial"], sort=False)["frames"].transform("sum")
    out["share"] = out["frames"] / totals
    return out[PATTERN_COLUMNS]


def _entropy(counts: np.ndarray) -> float:
    shares = counts[counts > 0] / counts.sum()
    return float(-np.sum(shares * np.log(shares)))


def pattern_entropy(states: pd.DataFrame) -> pd.DataFrame:
    """Per trial and source: the entropy of the states' shares over log 32 (`entropy`) and over
    the log of the trial's frame count (`entropy_authors`, NaN for a one-frame trial), and the
    number of states visited."""
    rows = []
    for (source, trial), group in states.groupby(["source", "trial"], sort=False):
        counts = group["state"].value_counts().to_numpy(float)
        h, n = _entropy(counts), len(group)
        rows.append(
            {
                "trial": trial,
                "source": source,
                "entropy": h / np.log(len(STATES)),
                "entropy_authors": h / np.log(n) if n > 1 else np.nan,
                "n_states": len(counts),
            }
        )
    return pd.DataFrame(rows, columns=ENTROPY_COLUMNS)


def tenth_of(frame: np.ndarray, last_frame: np.ndarray) -> np.ndarray:
    """The tenth of the trial a frame falls in, 1..10: ceil(10 x frame / N), exactly (integers).

    >>> tenth_of(np.array([1, 10, 11, 100]), np.array([100, 100, 100, 100])).tolist()
    [1, 1, 2, 10]
    """
    frame, last = np.asarray(frame, dtype=np.int64), np.asarray(last_frame, dtype=np.int64)
    return np.clip(-((-TEN * frame) // last), 1, TEN)


def tool_profile(presence_table: pd.DataFrame) -> pd.DataFrame:
    """Per source, tool and tenth of the trial: the mean and standard deviation (ddof 0) over trials
    of the share of the tool's frames in that tenth, over the `n_trials` trials where the tool is
    present at all (NaN where it never is)."""
    table = presence_table[["source", "trial", "frame", "tool", "present"]]
    last = table.groupby(["source", "trial"])["frame"].transform("max").to_numpy()
    on = table["present"].astype(bool).to_numpy()
    present = table[on].assign(tenth=tenth_of(table["frame"].to_numpy()[on], last[on]))
    rows = []
    for source in _sources_first_truth(table["source"]):
        mine = present[present["source"] == source]
        for tool in TOOLS:
            shares = _tenth_shares(mine[mine["tool"] == tool])
            for tenth in range(1, TEN + 1):
                values = shares[:, tenth - 1]
                rows.append(
                    {
                        "source": source,
                        "tool": tool,
                        "tenth": tenth,
                        "share_mean": float(values.mean()) if len(values) else np.nan,
                        "share_sd": float(values.std()) if len(values) else np.nan,
                        "n_trials": len(values),
                    }
                )
    return pd.DataFrame(rows, columns=PROFILE_COLUMNS)


def _tenth_shares(present: pd.DataFrame) -> np.ndarray:
    """Rows: the trials where the tool is present; columns: the share of its frames in each tenth."""
    if present.empty:
        return np.empty((0, TEN))
    counts = present.groupby(["trial", "tenth"]).size().unstack("tenth", fill_value=0)
    counts = counts.reindex(columns=range(1, TEN + 1), fill_value=0).to_numpy(float)
    return counts / counts.sum(axis=1, keepdims=True)


def common_states(patterns: pd.DataFrame, min_share: float = COMMON_STATE_SHARE) -> list[str]:
    """The states holding at least `min_share` of all annotated frames (pooled over trials), in
    `STATES` order: those whose shares join the per-trial metrics."""
    truth = patterns[patterns["source"] == GROUND_TRUTH]
    frames = truth.groupby("state")["frames"].sum()
    if frames.sum() == 0:
        return []
    share = frames / frames.sum()
    return [state for state in STATES if share.get(state, 0.0) >= min_share]


def share_metric(state: str) -> str:
    """The per-trial metric of a state's share.

    >>> share_metric("durotomy+needle driver")
    'state_share_durotomy+needle driver'
    """
    return f"state_share_{state}"


def pattern_metrics(patterns: pd.DataFrame, entropy: pd.DataFrame, source: str, states: Sequence[str]) -> pd.DataFrame:
    """One row per trial of `source`: `pattern_entropy`, `pattern_entropy_authors` and the share of
    each of `states` (the common ones): the pattern metrics that join the per-trial metrics."""
    mine = entropy[entropy["source"] == source].set_index("trial")
    out = pd.DataFrame(
        {"pattern_entropy": mine["entropy"], "pattern_entropy_authors": mine["entropy_authors"]},
        index=pd.Index(sorted(mine.index), name="trial"),
    )
    shares = patterns[(patterns["source"] == source) & patterns["state"].isin(list(states))]
    wide = shares.pivot_table(index="trial", columns="state", values="share", aggfunc="first")
    for state in states:
        values = wide[state] if state in wide else pd.Series(dtype=float)
        out[share_metric(state)] = values.reindex(out.index).fillna(0.0)
    return out.astype(float)
