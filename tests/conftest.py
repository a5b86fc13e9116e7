from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sospine.synth import SynthSpec, generate

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "sospine"


@pytest.fixture(scope="session")
def real_dir() -> Path:
    if not (SHARED / "sospine_bbox.csv").exists():
        pytest.skip(f"real SOSpine files not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory) -> dict[str, Path]:
    """A small synthetic release shared by the tests that only read it."""
    return generate(
        SynthSpec(seed=3, trials=5, frames_per_trial=30, width=320, height=180), tmp_path_factory.mktemp("synth")
    )


def copy_workflow(dest: Path) -> Path:
    """The workflow's files in a fresh folder, so a test's results/ never touch the checkout."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "config", "profiles", "src"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, dest / name)
    return dest
