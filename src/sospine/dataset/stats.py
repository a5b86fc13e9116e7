"""Dataset statistics: the paper's Table 1 and the counts behind it."""

from __future__ import annotations

import pandas as pd

from sospine.constants import BOX_LABELS, SINGLE_POINT_HALF_SIZE, TIP_LABELS
from sospine.tables import split_frame_names


def table1(boxes: pd.DataFrame, frames: pd.DataFrame) -> pd.DataFrame:
    """Boxes per label: all, train (every non-test frame, as the paper counts), test, and val."""
    labelled = boxes.dropna(subset=["label"]).merge(frames[["trial_frame", "split"]], on="trial_frame", how="left")
    counts = pd.crosstab(labelled["label"], labelled["split"]).reindex(index=list(BOX_LABELS), fill_value=0)
    counts = counts.reindex(columns=["train", "val", "test"], fill_value=0)
    return pd.DataFrame(
        {
            "label": list(BOX_LABELS),
            "all": counts.sum(axis=1).to_numpy(),
            "train": (counts["train"] + counts["val"]).to_numpy(),
            "test": counts["test"].to_numpy(),
            "val": counts["val"].to_numpy(),
        }
    )


def table1_by_fold(boxes: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """Table 1 under leave-one-surgeon-out, where every surgeon's trials are tested in their own
    fold: `train` the boxes of the trials no fold tests (the Clip trials, trained on in every fold),
    `test` those of the trials some fold tests (pooled out of fold), and per fold `fold_S<n>` the
    boxes that fold tests (`trials`: `trial,split`, split the surgeon's number or `train`).

    >>> boxes = pd.DataFrame({"trial_frame": [f"{t}_frame_00000001.jpeg" for t in ("S1A1", "S2A1", "Clip0")],
    ...                       "label": ["needle", "needle", "grasper"]})
    >>> trials = pd.DataFrame({"trial": ["S1A1", "S2A1", "Clip0"], "split": ["1", "2", "train"]})
    >>> table1_by_fold(boxes, trials).iloc[:3].to_dict("list")["fold_S2"]
    [1, 0, 0]
    """
    trial = split_frame_names(boxes["trial_frame"])["trial"]
    split = trial.map(dict(zip(trials["trial"].astype(str), trials["split"].astype(str), strict=True)))
    labelled = pd.DataFrame({"label": boxes["label"], "split": split.fillna("train")}).dropna(subset=["label"])
    counts = pd.crosstab(labelled["label"], labelled["split"]).reindex(index=list(BOX_LABELS), fill_value=0)
    folds = sorted({s for s in trials["split"].astype(str) if s.isdigit()}, key=int)
    counts = counts.reindex(columns=["train", *folds], fill_value=0)
    table = pd.DataFrame(
        {
            "label": list(BOX_LABELS),
            "all": counts.sum(axis=1).to_numpy(),
            "train": counts["train"].to_numpy(),
            "test": counts[folds].sum(axis=1).to_numpy(),
        }
    )
    for fold in folds:
        table[f"fold_S{fold}"] = counts[fold].to_numpy()
    return table


def frames_per_split(frames: pd.DataFrame) -> pd.DataFrame:
    counts = frames["split"].value_counts()
    return pd.DataFrame(
        {
            "split": ["all", "train", "test", "val"],
            "frames": [
                len(frames),
                int(len(frames) - counts.get("test", 0)),
                int(counts.get("test", 0)),
                int(counts.get("val", 0)),
            ],
        }
    )


def frames_per_trial(frames: pd.DataFrame, outcomes: pd.DataFrame | None) -> pd.DataFrame:
    """Annotated frames per trial beside the outcomes file's `Total Frames at 1 FPS`."""
    out = frames.groupby("trial").size().rename("annotated_frames").reset_index()
    if outcomes is not None:
        declared = outcomes[["Trial ID", "Total Frames at 1 FPS"]].rename(
            columns={"Trial ID": "trial", "Total Frames at 1 FPS": "declared_frames"}
        )
        out = out.merge(declared, on="trial", how="outer")
        out["declared_frames"] = pd.to_numeric(out["declared_frames"]).astype("Int64")
        out["difference"] = out["annotated_frames"].astype("Int64") - out["declared_frames"]
    # counts stay integers where the outer join leaves a trial without annotations (not 1242.0)
    return out.astype({"annotated_frames": "Int64"})


def boxes_per_trial(boxes: pd.DataFrame) -> pd.DataFrame:
    labelled = boxes.dropna(subset=["label"])
    return (
        pd.crosstab(labelled["trial"], labelled["label"]).reindex(columns=list(BOX_LABELS), fill_value=0).reset_index()
    )


#: what tips_per_label says when the run has no tool-tips file
NO_TIPS_NOTE = (
    "no tool-tips file in this run's data (sospine_tool_tips.csv, published on FigShare only): "
    "tip counts unknown, not zero"
)


def tips_per_label(tips: pd.DataFrame | None) -> pd.DataFrame:
    """Tool-tip points per tip label (`label,tips,note`); without a tool-tips file (`None`) the
    counts are empty, not 0, and `note` says the file is absent.

    >>> tips_per_label(None).iloc[0].tolist()[:2], tips_per_label(None)["note"].iat[0][:20]
    (['needle tip', <NA>], 'no tool-tips file in')
    """
    if tips is None:
        return pd.DataFrame(
            {"label": list(TIP_LABELS), "tips": pd.array([None] * len(TIP_LABELS), dtype="Int64"), "note": NO_TIPS_NOTE}
        )
    counts = tips["label"].value_counts().reindex(list(TIP_LABELS), fill_value=0)
    return counts.rename_axis("label").rename("tips").reset_index().assign(note="")


def box_sizes(boxes: pd.DataFrame) -> pd.DataFrame:
    labelled = boxes.dropna(subset=["label"])
    return labelled.assign(width=labelled["x2"] - labelled["x1"], height=labelled["y2"] - labelled["y1"])[
        ["label", "width", "height"]
    ]


def single_point_squares(sizes: pd.DataFrame) -> pd.DataFrame:
    """Per label (`box_sizes`' rows): how many boxes are the square a single annotated point becomes
    (2 x SINGLE_POINT_HALF_SIZE px on both sides, 100 x 100 in the published file), and their share.

    >>> sizes = pd.DataFrame({"label": ["needle"] * 4, "width": [100, 100, 100, 40], "height": [100, 100, 100, 12]})
    >>> print(single_point_squares(sizes).to_string(index=False))
     label  n_boxes  n_squares  share
    needle        4          3   0.75
    """
    side = 2 * SINGLE_POINT_HALF_SIZE
    square = (sizes["width"] == side) & (sizes["height"] == side)
    grouped = square.groupby(sizes["label"])
    table = pd.DataFrame({"n_boxes": grouped.size(), "n_squares": grouped.sum().astype(int)})
    table = table.reindex([label for label in BOX_LABELS if label in table.index]).rename_axis("label").reset_index()
    table["share"] = table["n_squares"] / table["n_boxes"]
    return table


#: a label's box sizes are mostly the single-point convention's once this share of its boxes are squares
SINGLE_POINT_NOTE_SHARE = 0.1


def single_point_note(sizes: pd.DataFrame) -> str | None:
    """What the box sizes of a label show when many of its boxes are single-point squares (the share
    from the data), or None when no label has at least SINGLE_POINT_NOTE_SHARE of them.

    >>> sizes = pd.DataFrame({"label": ["needle"] * 4, "width": [100, 100, 100, 40], "height": [100, 100, 100, 12]})
    >>> single_point_note(sizes).split(":")[0]
    '75% of needle boxes (3 of 4) are 100x100 px squares'
    """
    table = single_point_squares(sizes)
    many = table[table["share"] >= SINGLE_POINT_NOTE_SHARE]
    if many.empty:
        return None
    side = 2 * SINGLE_POINT_HALF_SIZE
    parts = [
        f"{row.share:.0%} of {row.label} boxes ({row.n_squares:,} of {row.n_boxes:,})" for row in many.itertuples()
    ]
    return (
        f"{'; '.join(parts)} are {side}x{side} px squares: a tool annotated with a single point becomes a square "
        f"of ±{SINGLE_POINT_HALF_SIZE} px around it, so these sizes are the convention's, not the tool's"
    )
