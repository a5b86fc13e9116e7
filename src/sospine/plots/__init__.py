"""Figures: one function per figure, each writes a PNG, drawn by matplotlib (Agg backend, no
pyplot) with seaborn's colour-blind palette, both imported when a figure is drawn. One module per
stage (dataset, scoring, analytics) and the style they share."""

from sospine.plots.analytics import (
    bland_altman,
    learning_curve,
    metric_title,
    prediction,
    presence_ap,
    timeline,
    timeline_grid,
    tool_profile,
    tool_states,
)
from sospine.plots.dataset import box_sizes
from sospine.plots.scoring import (
    accuracy_cost,
    has_cost,
    known_costs,
    leaderboard,
    no_cost_text,
    pr_curves,
    pr_title,
    training_curves,
)
from sospine.plots.style import count, detector_palette, note_in_place, one_line, p_text, palette, save, subplots

__all__ = [
    "accuracy_cost",
    "bland_altman",
    "box_sizes",
    "count",
    "detector_palette",
    "has_cost",
    "known_costs",
    "leaderboard",
    "learning_curve",
    "metric_title",
    "no_cost_text",
    "note_in_place",
    "one_line",
    "p_text",
    "palette",
    "pr_curves",
    "pr_title",
    "prediction",
    "presence_ap",
    "save",
    "subplots",
    "timeline",
    "timeline_grid",
    "tool_profile",
    "tool_states",
    "training_curves",
]
