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
