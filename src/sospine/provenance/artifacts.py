"""Provenance of the workflow's outputs: for each artifact its rule, parameters, inputs with md5,
the code version and package versions, rooted in the fetch manifest's DOIs and md5s.

Snakemake already records, for every file it made, the rule, inputs and parameters in
`.snakemake/metadata/` (one JSON per output, named by the base64 of its path). We read those
records instead of keeping a second bookkeeping.
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from sospine.data.files import md5sum, sha256sum
from sospine.provenance.records import read_records

PACKAGES = (
    "sospine",
    "snakemake",
    "pandas",
    "numpy",
    "pillow",
    "pandera",
    "ultralytics",
    "torch",
    "torchvision",
    "torchmetrics",
    "seaborn",
)


def code_version(repo: Path) -> dict:
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(
                ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=20
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "dirty": bool(status) if status is not None else None}


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _made_by_workflow(path: str, made_under: str | None) -> bool:
    """Whether `path` lies in the workflow's output folder (so a rule made it)."""
    return bool(made_under) and path.startswith(made_under.rstrip("/") + "/")


class StaleResultsError(RuntimeError):
    """An artifact made from inputs that are gone or were remade after it: not to be reported."""


def producer_of(path: str, producers: dict[str, list[str]] | None) -> str | None:
    """The rule whose output patterns (regular expressions) match `path`, if any.

    >>> producer_of("results/scores/yolo/summary.json", {"score": [r"results/scores/(?P<d>[^/]+)/summary\\.json$"]})
    'score'
    """
    for rule, patterns in (producers or {}).items():
        if any(re.match(pattern, path) for pattern in patterns):
            return rule
    return None


def _same_content_as_used(record: dict, item: str, workdir: Path | None) -> bool:
    """Whether input `item` still holds the content the job recorded (Snakemake's `input_checksums`,
    kept for small files): an input remade with the same content does not make the job rerun, so it
    does not make its outputs stale either."""
    recorded = (record.get("input_checksums") or {}).get(item)
    if not recorded or workdir is None:
        return False
    algorithm, _, digest = recorded.rpartition(":")
    path = Path(item) if Path(item).is_absolute() else workdir / item
    return algorithm in ("", "sha256") and path.is_file() and sha256sum(path) == digest


def stale_artifacts(
    artifacts: dict[str, dict],
    records: dict[str, dict],
    made_under: str | None = None,
    producers: dict[str, list[str]] | None = None,
    workdir: Path | None = None,
) -> list[str]:
    """Why artifacts cannot be trusted: an input recorded for it no longer exists, was remade after
    it with other content (an interrupted or failed rerun upstream left it behind), or is a file the
    workflow makes (under `made_under`, not a published file) of which Snakemake has no record. Each
    reason names the rule to rerun and the command. Contents are compared where Snakemake recorded
    an input's checksum and `workdir` is given; elsewhere a later remake counts as a change."""

    def remake(path: str, rule: str | None) -> str:
        rule = rule or producer_of(path, producers)
        return (
            f"remake it: snakemake --forcerun {rule} (with your usual options)"
            if rule
            else "rerun the rule that makes it"
        )

    problems = []
    for path, entry in sorted(artifacts.items()):
        record = records.get(path)
        if record is None:
            if _made_by_workflow(path, made_under) and "source" not in entry:
                problems.append(f"{path} has no record of how it was made (its job was stopped); {remake(path, None)}")
            continue
        for item in record.get("input", []):
            if entry["inputs"].get(item) is None:
                problems.append(
                    f"{path} (rule {record.get('rule')}) was made from {item}, which no longer exists; "
                    f"{remake(item, (records.get(item) or {}).get('rule'))}"
                )
                continue
            made = (records.get(item) or {}).get("endtime")
            remade = made and record.get("starttime") and made > record["starttime"]
            if remade and not _same_content_as_used(record, item, workdir):
                problems.append(
                    f"{path} (rule {record.get('rule')}) is older than its input {item}, remade "
                    f"{_time(made)}; rerun it: snakemake --forcerun {record.get('rule')} (with your usual options)"
                )
    return problems


def build(
    targets: list[str],
    workdir: Path,
    repo: Path,
    manifest_path: Path,
    config: dict,
    made_under: str | None = None,
    producers: dict[str, list[str]] | None = None,
    stamps_dir: str | None = None,
) -> dict:
    """Provenance of `targets` and, transitively, of everything they were made from; refused
    (StaleResultsError) when any of it is stale, see `stale_artifacts`."""
    records = read_records(workdir)  # Snakemake's record of every file it made here
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else []
    by_file = {str(Path(manifest_path.parent) / e["file"]): e for e in manifest}
    artifacts: dict[str, dict] = {}
    pending = list(targets)
    md5_cache: dict[str, str | None] = {}

    def md5_of(path: str) -> str | None:
        if path not in md5_cache:
            on_disk = workdir / path if not Path(path).is_absolute() else Path(path)
            md5_cache[path] = md5sum(on_disk) if on_disk.exists() else None
        return md5_cache[path]

    while pending:
        path = pending.pop()
        if path in artifacts:
            continue
        record = records.get(path)
        entry: dict = {"md5": md5_of(path)}
        if record is not None:
            entry.update(
                {
                    "rule": record.get("rule"),
                    "params": record.get("params"),
                    "log": record.get("log"),
                    "inputs": {i: md5_of(i) for i in record.get("input", [])},
                    "started": _time(record.get("starttime")),
                    "finished": _time(record.get("endtime")),
                }
            )
            pending.extend(i for i in record.get("input", []) if i not in artifacts)
        weights_record = workdir / f"{path}.json"  # downloaded weights: url and sha256 (sospine.detectors.weights)
        if stamps_dir and path.startswith(stamps_dir.rstrip("/") + "/") and record is None:
            entry["source"] = _stamp_source(workdir / path)  # the content stamp of an external file
        elif path.endswith(".pt") and weights_record.is_file():
            entry["source"] = json.loads(weights_record.read_text())
        elif path in by_file:
            entry["source"] = {
                k: by_file[path][k] for k in ("record", "doi", "article_id", "version", "url", "md5", "fetched_at")
            }
        elif record is None and not _made_by_workflow(path, made_under):
            entry["source"] = "outside the workflow (configured path)"
        artifacts[path] = entry
    problems = stale_artifacts(artifacts, records, made_under, producers, workdir)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise StaleResultsError("stale results: " + "; ".join(problems[:3]) + more)
    for path, entry in artifacts.items():
        entry["data_sources"] = sorted(_roots(path, artifacts))
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": code_version(repo),
        "packages": package_versions(),
        "fetch_manifest": manifest,
        "config": config,
        "targets": targets,
        "artifacts": dict(sorted(artifacts.items())),
    }


def _stamp_source(stamp: Path) -> dict:
    """What a content stamp (sospine.provenance.inputs) says: which external file, with which md5."""
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        recorded = {}
    return {"content_stamp_of": recorded.get("path"), "md5": recorded.get("md5")}


def _roots(path: str, artifacts: dict[str, dict], seen: set[str] | None = None) -> set[str]:
    """The raw files (no rule made them) that `path` depends on."""
    seen = set() if seen is None else seen
    if path in seen:
        return set()
    seen.add(path)
    inputs = artifacts.get(path, {}).get("inputs")
    if not inputs:
        return (
            {f"{path} (md5 {artifacts.get(path, {}).get('md5')})"}
            if artifacts.get(path, {}).get("rule") is None
            else set()
        )
    roots: set[str] = set()
    for item in inputs:
        if isinstance(artifacts.get(item, {}).get("source"), dict):  # a published file, in the manifest
            roots.add(f"{item} (md5 {artifacts[item]['md5']})")
        else:
            roots |= _roots(item, artifacts, seen)
    return roots


def _time(value: float | None) -> str | None:
    return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds") if value else None


def rule_producers(rules) -> dict[str, list[str]]:  # noqa: ANN001 - Snakemake's rules
    """Rule name -> the patterns (regular expressions) of the files it makes, for the provenance
    record to name the rule that remakes a file."""
    from snakemake.io import regex_from_filepattern

    return {r.name: [regex_from_filepattern(str(o)) for o in r.products()] for r in rules if r.products()}


def static_rule_params(rules) -> dict[str, dict]:  # noqa: ANN001 - Snakemake's rules
    """Each rule's named params known at parse time (not functions of a job), for the record."""
    named = {}
    for rule in rules:
        params = {k: v for k, v in rule.params.items() if not callable(v)}
        if params:
            named[rule.name] = params
    return named
