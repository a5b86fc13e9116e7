"""Deployed the way Snakemake users deploy workflows: as a `module` of another workflow, from another
folder, with that workflow's own config (a local path standing in for `github(...)`)."""

import os
import subprocess

import pandas as pd
import yaml

from .conftest import SNAKEMAKE, copy_workflow

DEPLOYING_SNAKEFILE = """\
configfile: "config/config.yaml"


module sospine:
    snakefile:
        # for real: github("<owner>/sospine", path="Snakefile", tag="v1.0")
        "{checkout}/Snakefile"
    config:
        config["sospine"]


use rule * from sospine as sospine_*


rule all:
    input:
        "{output_dir}/stats/table1.csv",
    default_target: True
"""


def test_the_workflow_runs_as_a_module_of_another_workflow(tmp_path):
    checkout = copy_workflow(tmp_path / "sospine")
    project = tmp_path / "my-analysis"
    (project / "config").mkdir(parents=True)
    settings = {
        "output_dir": "results/sospine",
        "data": {
            "source": "synthetic",
            "synthetic": {"seed": 2, "trials": 6, "frames_per_trial": 8, "width": 128, "height": 72},
        },
        "split": {"test_trials": ["S1A2", "Clip0"], "val_trials": 1},
    }
    (project / "config" / "config.yaml").write_text(yaml.safe_dump({"sospine": settings}))
    (project / "Snakefile").write_text(DEPLOYING_SNAKEFILE.format(checkout=checkout, output_dir="results/sospine"))
    env = dict(os.environ, PYTHONPATH=str(checkout / "src"))
    result = subprocess.run(
        [*SNAKEMAKE, "--cores", "2"], cwd=project, capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    table = pd.read_csv(project / "results" / "sospine" / "stats" / "table1.csv")
    assert list(table.columns)[:4] == ["label", "all", "train", "test"] and table["all"].sum() > 0
    # the deploying folder holds its results; the checkout holds none
    assert not (checkout / "results").exists()
    assert "sospine_split" in result.stderr  # the module's rules, under the deploying workflow's prefix


def test_a_module_keeps_its_local_rules_local_without_a_warning(tmp_path):
    """Snakemake's module import drops a `localrules:` list (and warns); rules marked `localrule: True`
    stay local: on a cluster they never wait in the queue or reach for the internet from a node."""
    checkout = copy_workflow(tmp_path / "sospine")
    project = tmp_path / "my-analysis"
    (project / "config").mkdir(parents=True)
    settings = {"output_dir": "results/sospine", "data": {"source": "synthetic"}}
    (project / "config" / "config.yaml").write_text(yaml.safe_dump({"sospine": settings}))
    snakefile = DEPLOYING_SNAKEFILE.format(checkout=checkout, output_dir="results/sospine")
    (project / "Snakefile").write_text(
        snakefile.replace('"results/sospine/stats/table1.csv"', '"results/sospine/provenance.json"')
    )
    env = dict(os.environ, PYTHONPATH=str(checkout / "src"))
    result = subprocess.run(
        [*SNAKEMAKE, "--cores", "2", "-n"], cwd=project, capture_output=True, text=True, env=env, timeout=600
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "localrules directive specifies rules that are not present" not in output
    assert "rule sospine_data_source:" in output  # the module's rules, planned
    rules = "".join(path.read_text() for path in (checkout / "workflow" / "rules").glob("*.smk"))
    assert "localrules:" not in rules + (checkout / "Snakefile").read_text()  # what a module import drops
    for rule in ("data_source", "validation_gate", "provenance", "front_page", "fetch_weights", "loso_summary"):
        body = rules.split(f"rule {rule}:", 1)[1].split("\nrule ", 1)[0]
        assert "localrule: True" in body, rule
