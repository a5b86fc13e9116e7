"""Memory the scoring jobs (`score`, `leaderboard`) book, from the size of their input.

Their peak memory grows with the detections they read, and much faster when they draw bootstrap
intervals (a weight per detection and resample). Measured peaks (/usr/bin/time -v, the rules' own
code on detections files of repeated, jittered rows; input MB as Snakemake's `input.size_mb`, truth
included):

- score without intervals: 1,550 MiB for 70 MB (1M rows on 14,400 frames of 24 trials), 3,514 MiB
  for 174 MB, 5,048 MiB for 345 MB (5M rows); on the published detections' 2,828 frames of 4 trials
  999 MiB for 70 MB and 3,567 MiB for 348 MB; 248 MiB for a 2 MB file;
- leaderboard (two detectors) without intervals: 2,245 MiB for 139 MB, 3,892 MiB for 345 MB;
- with 1,000 resamples over 24 trials: score 5,591 MiB for 19 MB and 10,999 MiB for 36 MB,
  leaderboard 5,674 MiB for 36 MB.

That is at most about 19 MB per MB of input without intervals, and 0.3 MB more per MB and
resample with them; the booking adds about a third to both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from sospine.statistics import MIN_TRIALS_FOR_INTERVAL

#: what a scoring job books at least, in MB (a small run's peak is about 250 MB)
FLOOR_MB = 2000
#: MB for the interpreter and its imports, then MB per MB of input, without intervals
BASE_MB = 500
PER_INPUT_MB = 25.0
#: MB per MB of input and per bootstrap resample, when intervals are drawn
PER_INPUT_MB_AND_RESAMPLE = 0.4
#: the trials of the SOSpine release (the synthetic source has at most as many)
RELEASE_TRIALS = 24


def scoring_mem_mb(input_mb: float, attempt: int = 1, resamples: int = 0) -> int:
    """MB to book for a score or leaderboard job whose input weighs `input_mb` (Snakemake's
    `input.size_mb`) and that draws `resamples` bootstrap resamples (0: no intervals). A retry books
    `attempt` times as much: a job killed for memory would be killed again at the same booking.

    >>> scoring_mem_mb(2), scoring_mem_mb(345), scoring_mem_mb(345, attempt=2), scoring_mem_mb(36, resamples=1000)
    (2000, 9125, 18250, 15800)
    """
    need = BASE_MB + input_mb * (PER_INPUT_MB + PER_INPUT_MB_AND_RESAMPLE * resamples)
    return math.ceil(max(FLOOR_MB, need) * max(attempt, 1))


def interval_resamples(split: Mapping, bootstrap: int, trials: int = RELEASE_TRIALS) -> int:
    """The bootstrap resamples the scoring jobs may draw under the configured `split` (config's
    `split`): `bootstrap` when it can test enough trials for intervals (see
    `statistics.interval_note`), else 0. Decided from the configuration, not the split file, so that
    it is known before the split exists and where the files live in remote storage; `trials` (all
    there are) bounds what a random or leave-one-surgeon-out split tests.

    >>> interval_resamples({"method": "paper", "test_trials": ["S4A1", "Clip0", "S8A2", "S6A3"]}, 1000)
    0
    >>> interval_resamples({"method": "leave_one_surgeon_out"}, 1000), interval_resamples({"method": "random",
    ...     "test_fraction": 0.5}, 1000), interval_resamples({"method": "random", "test_fraction": 0.2}, 1000)
    (1000, 1000, 0)
    """
    method = split.get("method")
    if method == "paper":
        tested = len(split.get("test_trials") or [])
    elif method == "random":
        tested = max(1, round(float(split.get("test_fraction", 0)) * trials))  # as sospine.dataset.split draws it
    else:  # leave-one-surgeon-out pools every trial with a surgeon
        tested = trials
    return bootstrap if tested >= MIN_TRIALS_FOR_INTERVAL else 0
