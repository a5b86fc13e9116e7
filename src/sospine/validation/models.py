"""The validation rules (`rules`) as pandera schemas, for whoever validates with pandera itself:

    from sospine.validation.models import schema, Boxes
    schema(Boxes).validate(frame, lazy=True)

The rules' built-in checks become pandera's built-ins (`str_matches`, `isin`, `ge`, `le`), their
named checks pandera checks of the same name, so pandera reports what `sospine validate` reports;
tests/test_validation.py holds the two to the same failures on bad and on real files. Importing
this module imports pandera; validation itself does not (see `rules`).
"""

from __future__ import annotations

from functools import cache

import pandera.pandas as pa

from .rules import (  # noqa: F401 - the models by name, as they were when they were pandera classes
    KINDS,
    MAX_PIXEL,
    SPECS,
    Boxes,
    BoxWarnings,
    Check,
    Detections,
    DetectionWarnings,
    EmptyFrames,
    FileSpec,
    Model,
    Outcomes,
    ToolTips,
    ToolTipWarnings,
)


def _pandera_check(check: Check) -> pa.Check:
    if check.builtin is not None:
        kind, argument = check.builtin
        return getattr(pa.Check, kind)(argument)
    return pa.Check(check.test, name=check.name)


@cache
def schema(model: Model) -> pa.DataFrameSchema:
    """`model` as a pandera DataFrameSchema (strict as the model is, no coercion: the frames are
    typed already)."""
    columns = {
        name: pa.Column(
            column.dtype,
            checks=[_pandera_check(check) for check in column.checks],
            nullable=column.nullable,
            unique=column.unique,
            name=name,
        )
        for name, column in model.columns.items()
    }
    return pa.DataFrameSchema(
        columns, checks=[_pandera_check(check) for check in model.checks], strict=model.strict, name=model.name
    )
