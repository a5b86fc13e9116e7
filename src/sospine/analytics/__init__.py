"""Tool presence over time, phases read from tool co-occurrence, and outcome analyses.

`presence` builds the timelines, `phases` reads phases from them, `patterns` the tool-combination
states, their entropy and the tool profile over a trial, `outcomes` relates per-trial metrics to the
surgical outcomes. Everything is importable from `sospine.analytics` directly.
"""

from sospine.analytics.outcomes import (
    NO_ANNOTATIONS,
    by_attempt,
    by_outcome,
    outcomes_table,
    per_trial_metrics,
    tool_metrics,
)
from sospine.analytics.patterns import (
    STATES,
    common_states,
    frame_states,
    pattern_entropy,
    pattern_metrics,
    tool_patterns,
    tool_profile,
)
from sospine.analytics.phases import (
    PHASE_AGREEMENT_COLUMNS,
    expand_segments,
    phase_activity,
    phase_agreement,
    phase_table,
    segment_overlap,
    segments,
)
from sospine.analytics.presence import (
    GROUND_TRUTH,
    PRESENCE_METRIC_COLUMNS,
    THRESHOLD_COLUMNS,
    agreement,
    cross_fitted_thresholds,
    detector_presence,
    for_new_recordings,
    frame_index,
    presence,
    presence_at,
    presence_from,
    presence_metrics,
    presence_thresholds,
    smooth,
    smooth_signal,
    thresholded,
)
from sospine.statistics import permutation_test

__all__ = [
    "GROUND_TRUTH",
    "NO_ANNOTATIONS",
    "PHASE_AGREEMENT_COLUMNS",
    "PRESENCE_METRIC_COLUMNS",
    "THRESHOLD_COLUMNS",
    "STATES",
    "agreement",
    "by_attempt",
    "by_outcome",
    "common_states",
    "cross_fitted_thresholds",
    "detector_presence",
    "for_new_recordings",
    "expand_segments",
    "frame_index",
    "frame_states",
    "outcomes_table",
    "pattern_entropy",
    "pattern_metrics",
    "per_trial_metrics",
    "permutation_test",
    "phase_activity",
    "phase_agreement",
    "phase_table",
    "presence",
    "presence_at",
    "presence_from",
    "presence_metrics",
    "presence_thresholds",
    "segment_overlap",
    "segments",
    "smooth",
    "smooth_signal",
    "thresholded",
    "tool_metrics",
    "tool_patterns",
    "tool_profile",
]
