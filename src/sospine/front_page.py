"""The report's front page, written for the run it reports on: what data, where, which steps ran,
the leaderboard's headline and what its paired tests can show, and links to the figures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from .leaderboard import headline, ties_note


def _table(frame: pd.DataFrame) -> str:
    """An RST list-table of `frame` (strings as given)."""
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [list(frame.columns), *frame.astype(str).to_numpy().tolist()]:
        lines.append("   * - " + str(row[0]))
        lines += [f"     - {value}" for value in row[1:]]
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


def front_page(
    config: Mapping,
    output_dir: str,
    steps: Sequence[str],
    board: pd.DataFrame | None,
    paired: pd.DataFrame | None,
    figures: Sequence[str],
) -> str:
    """The front page as reStructuredText (Snakemake's report renders it and links `name`_ to the
    report's item of that file name)."""
    parts = [
        "SOSpine benchmark: this run",
        "",
        f"**Data**: {describe_source(config)}.",
        "",
        f"**Output folder**: ``{output_dir}`` (every result, its log under ``{output_dir}/logs``, the provenance of "
        f"every file in ``{output_dir}/provenance.json``).",
        "",
        f"**Steps run**: {', '.join(steps)}.",
        "",
    ]
    if board is not None and len(board):
        trials = board["test_trials"].iat[0]
        iou = board["iou_threshold"].iat[0]
        parts += [
            f"**Leaderboard**: VOC AP at IoU {iou:g} on {board['n_trials'].iat[0]} test trials ({trials}); each "
            "detector's all-class AP minus the reference's, with the exact paired permutation test over the test "
            "trials (raw and Holm-adjusted p-value):",
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
    else:
        parts += ["**Leaderboard**: no detector was scored in this run.", ""]
    if figures:
        parts += ["**Figures**: " + ", ".join(f"`{Path(f).name}`_" for f in figures) + ".", ""]
    return "\n".join(parts)
