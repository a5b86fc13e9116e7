"""Upgrading a checkout must not retrain: Snakemake reruns a job whose script is newer than its
outputs (a `git pull` rewrites exactly the changed files), and a rerun export, split or training
script means training again. The library moved into stage packages; the old module names stay
importable (sospine._moved), so the scripts upstream of training and prediction keep their bytes."""

import ast
import hashlib
import importlib

import pytest

from sospine._moved import MOVED

from .conftest import ROOT

#: the shipped scripts a trained model depends on, as released: changing one retrains every finished
#: output folder on upgrade. Change one only on purpose (a change that must retrain), then here too.
UPSTREAM_OF_TRAINING = {
    "fetch.py": "9d5b37cfcb7350dc208a07becdd64d5b2f2be8be438b092f76180130c4321e3b",
    "mirror.py": "fb8f7d4c802a01bfc8eaed4fbe7b1373b7d9304906414780d87875fbc8133345",
    "synthesize.py": "08cdbf8be15ecd788bf4e64f3495a93ff060aee2e7639b76a4e82834ee2bc890",
    "validate.py": "aa695f1254f21ebaaee5566997521bf79e76cf1a363f6814dc0224ce554e16b9",
    "boxes.py": "b5e7ff5138c2f4545384c04fb7afe0e884e79fbeedfadaef1f6fa88e380d3b70",
    "split.py": "a02121ddff61ef6d5e7d5629960b0a4be80a79aace9c3278bd80cc5ef0444f85",
    "fold_frames.py": "149d6030ae1e9d06aa4771262d4f8e64ff8ced9bea1d327f44d91ff860380a49",
    "export_yolo.py": "51b5eee4e48c6971a5d356a2ea89856fdbbc66c4df336de5eb2fcd1314ece78e",
    "fetch_weights.py": "7ff620293bcb9acb9e9c067200220b3aeab3e5f1cd5f3dd64b75bf97e3163059",
    "command_detector.py": "61743b9e9616391441a35c5f493d97e42fdd491ab047a142ad9df79c9d616eed",
    "train.py": "0f8c88da37deced7a5e9e97167c4431a7321381532196e2164db7466106f0485",
    "predict.py": "16698d5195fac0144b0e2bf57192af5ae021fa09ebbdb628e25ec35bc9982a27",
    "predict_weights.py": "bc406f20b081f53efa778ef14b5faeb230edd9962c9ac28cfbbe67fa0db69bb9",
}


@pytest.mark.parametrize("script", sorted(UPSTREAM_OF_TRAINING))
def test_the_scripts_upstream_of_training_keep_their_bytes(script):
    digest = hashlib.sha256((ROOT / "workflow" / "scripts" / script).read_bytes()).hexdigest()
    assert digest == UPSTREAM_OF_TRAINING[script], (
        f"workflow/scripts/{script} changed: every finished output folder reruns it on upgrade and trains again; "
        "put the change in the sospine library instead (the script only adapts snakemake's objects)"
    )


@pytest.mark.parametrize("script", sorted(UPSTREAM_OF_TRAINING))
def test_what_they_import_exists(script):
    tree = ast.parse((ROOT / "workflow" / "scripts" / script).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sospine"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}"), (
                    f"{script}: {node.module}.{alias.name}"
                )


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_module_name_is_the_moved_module_itself(old, new):
    assert importlib.import_module(old) is importlib.import_module(new)


def test_no_moved_name_is_still_a_file_of_its_own():
    for old in MOVED:
        relative = old.replace(".", "/")
        assert not (ROOT / "src" / f"{relative}.py").exists(), f"{old} is both a file and a moved name"
