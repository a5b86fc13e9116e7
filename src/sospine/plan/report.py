"""Whether `snakemake --report` can report on an output folder, and if not the command to run: a
finished run elsewhere (beside or under it) is named with its --config."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


def finished_runs(results: Path) -> list[Path]:
    """Output folders with a finished run (its report/front_page.rst) inside `results` or beside it,
    other than `results` itself, the most recently finished first."""
    here = results.resolve()
    found = {}
    for parent in (results, results.parent):
        for page in parent.glob("*/report/front_page.rst") if parent.is_dir() else []:
            folder = page.parent.parent
            if folder.resolve() != here:
                found[folder.resolve()] = (page.stat().st_mtime, folder)
    return [folder for _, folder in sorted(found.values(), key=lambda item: -item[0])]


def config_of_run(folder: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """What the finished run in `folder` was configured with beyond `config`: the nested keys whose
    values differ (from its provenance.json, else its data source), the output folder being `folder`."""
    try:
        recorded = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))["config"]
    except (OSError, ValueError, KeyError, TypeError):
        try:
            recorded = {"data": json.loads((folder / "data_source.json").read_text(encoding="utf-8"))}
        except (OSError, ValueError):
            recorded = {}
        recorded["data"] = {k: v for k, v in recorded.get("data", {}).items() if v}
    recorded["output_dir"] = str(folder)  # where it is now (a folder moved keeps its results)
    return _differences(json.loads(json.dumps(dict(config), default=str)), recorded)


def _differences(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of `theirs` whose values differ from `mine`'s, nested mappings compared key by key.

    >>> _differences({"a": {"x": 1, "y": 2}, "b": 3}, {"a": {"x": 1, "y": 5}, "b": 3})
    {'a': {'y': 5}}
    """
    found = {}
    for key, value in theirs.items():
        if isinstance(value, Mapping) and value and isinstance(mine.get(key), Mapping):
            if inner := _differences(mine[key], value):
                found[key] = inner
        elif mine.get(key) != value:
            found[key] = value
    return found


def with_config(argv: list[str], changes: Mapping[str, Any]) -> list[str]:
    """`argv` with `changes` merged into its --config values (a changed key given on the command line
    keeps the rest of what was given for it), every --config value in one --config at the end."""
    from sospine.config import deep_merge

    rest, given, taking = [], {}, False
    for arg in argv:
        if arg in ("--config", "-C") or arg.startswith("--config="):
            taking = True
            arg = arg.partition("=")[2] if arg.startswith("--config=") else ""
            if not arg:
                continue
        elif arg.startswith("-"):
            taking = False
        if taking:
            key, _, text = arg.partition("=")
            try:
                given[key] = yaml.safe_load(text)
            except yaml.YAMLError:
                given[key] = text
        else:
            rest.append(arg)
    for key, value in changes.items():
        mine = given.get(key)
        given[key] = deep_merge(mine, value) if isinstance(mine, Mapping) and isinstance(value, Mapping) else value
    if "output_dir" in given:  # last, as the README writes it
        given["output_dir"] = given.pop("output_dir")
    values = [f"{key}={shlex.quote(_flow(value))}" for key, value in given.items()]
    report = [i for i, arg in enumerate(rest) if arg.startswith("--report")]
    at = report[0] if report else len(rest)
    return [*rest[:at], *(["--config", *values] if values else []), *rest[at:]]


def _flow(value: Any) -> str:
    """A --config value as one would type it: a mapping or list in YAML's flow style, a scalar as is."""
    if isinstance(value, Mapping | list):
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()
    return "" if value is None else str(value)
