"""Each conda env's package set runs its own rules, without the other envs' packages.

conda cannot be installed here, so each env is rebuilt as a venv holding exactly the packages its
file pins (and what they depend on), linked from the test interpreter's site-packages, plus
Snakemake as the runner. The synthetic tiny case then runs stage by stage, each stage allowed only
the rules that use that env: a data rule that imported torch, or a scoring rule that needed
ultralytics, fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from .conftest import ROOT, tiny_config

ENVS = ROOT / "workflow" / "envs"
SITE = Path(sysconfig.get_paths()["purelib"])


def pinned(env: str) -> dict[str, str]:
    """name -> version, from the env file's pip section."""
    spec = yaml.safe_load((ENVS / f"{env}.yaml").read_text())
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
    return dict(item.split("==") for item in pip)


def closure(names: list[str]) -> set[str]:
    """The distributions `names` need, transitively (extras and other platforms' markers left out)."""
    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = metadata.distribution(pending.pop()).metadata["Name"]
        if name.lower() in seen:
            continue
        seen.add(name.lower())
        for text in metadata.distribution(name).requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return seen


def linked_venv(folder: Path, distributions: set[str]) -> Path:
    """A venv whose site-packages hold only `distributions` (symbolic links to the installed files)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    site = folder / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    for name in distributions:
        for top in {Path(str(f)).parts[0] for f in metadata.distribution(name).files or []}:
            if top not in ("..", "__pycache__") and not (site / top).exists() and (SITE / top).exists():
                (site / top).symlink_to(SITE / top)
    return folder / "bin" / "python"


def rules_by_env() -> dict[str, set[str]]:
    """Which rules use which env, read from the rule files' `conda:` lines (`use rule` inherits)."""
    env_of: dict[str, str] = {}
    for path in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        current = None
        for line in path.read_text().splitlines():
            if match := re.match(r"^(?:checkpoint|rule) (\w+):", line):
                current = match[1]
            elif match := re.match(r"^use rule (\w+) as (\w+)", line):
                env_of[match[2]] = env_of.get(match[1], "")
                current = None
            elif current and (match := re.search(r"envs/(\w+)\.yaml", line)):
                env_of[current] = match[1]
    by_env: dict[str, set[str]] = {}
    for rule, env in env_of.items():
        by_env.setdefault(env, set()).add(rule)
    return by_env


@pytest.mark.slow
def test_each_env_runs_its_rules_with_only_its_packages(workdir, tmp_path):
    by_env = rules_by_env()
    assert {"validate", "boxes", "export_yolo", "presence"} <= by_env["data"]
    assert {"train", "predict", "train_fold"} <= by_env["detector"] and {"score", "leaderboard"} <= by_env["scoring"]
    runner = closure(["snakemake"])
    pythons = {}
    for env in ("data", "scoring", "detector"):
        versions = pinned(env)
        for name, version in versions.items():
            assert metadata.version(name) == version, f"{env}.yaml pins {name}=={version}"
        packages = closure(list(versions))
        pythons[env] = linked_venv(tmp_path / env, packages | runner)
        pythons[env, "packages"] = packages
    assert not {"torch", "ultralytics", "torchmetrics"} & pythons["data", "packages"]
    assert "ultralytics" not in pythons["scoring", "packages"] and "torchmetrics" not in pythons["detector", "packages"]

    config = tiny_config(workdir)
    env = dict(os.environ, PYTHONPATH=str(workdir / "src"))
    stages = [  # (env, targets): the DAG in the order its envs are needed
        (
            "data",
            ["results/stats/table1.csv", "results/yolo/dataset.yaml", "results/annotations/bbox_vs_published.csv"],
        ),
        ("detector", ["results/predictions/yolo.csv"]),
        ("data", ["results/detections/yolo.csv", "results/detections/synthetic_reference.csv"]),  # validated
        (
            "scoring",
            [
                "results/scores/yolo/summary.json",
                "results/scores/synthetic_reference/summary.json",
                "results/leaderboard/leaderboard.csv",
            ],
        ),
        ("data", []),  # the rest: timelines, phases, outcomes, provenance
    ]
    always = {"all", "data_source"}  # run: blocks, executed by Snakemake itself
    for name, targets in stages:
        allowed = sorted(by_env[name] | always)
        result = subprocess.run(
            [
                str(pythons[name]),
                "-m",
                "snakemake",
                "--cores",
                "2",
                "--configfile",
                config,
                "--allowed-rules",
                *allowed,
                "--",
                *targets,
            ],
            cwd=workdir,
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
        )
        if result.returncode != 0:
            newest = max((workdir / "results" / "logs").rglob("*.log"), key=lambda p: p.stat().st_mtime)
            pytest.fail(f"{name} env:\n{result.stderr[-4000:]}\n{newest}:\n{newest.read_text()[-3000:]}")
    assert (workdir / "results" / "provenance.json").exists()
    assert (workdir / "results" / "outcomes" / "by_attempt.csv").exists()
