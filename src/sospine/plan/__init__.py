"""What a run is made of, answered once from the checked configuration: which published files the
data source provides, the detectors and their kinds, which detections each is scored from, the
leave-one-surgeon-out folds' files, new recordings, the final targets and the report's figures.

The workflow builds one `Plan` at start (workflow/rules/common.smk) and its rules ask it through
small `get_*` functions; everything here is plain Python, tested without Snakemake
(tests/test_plan.py). Paths are strings under the output folder, as Snakemake names files.
"""

from sospine.plan.core import DATA_FILES, VALIDATED_KINDS, Plan
from sospine.plan.errors import PlanError
from sospine.plan.folds import FOLD

__all__ = ["DATA_FILES", "FOLD", "VALIDATED_KINDS", "Plan", "PlanError"]
