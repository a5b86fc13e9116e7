"""The HTML report opened in a real headless Chromium: every figure decodes, every category is there."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SHARED, copy_workflow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)"),
    pytest.mark.skipif(
        not (SHARED / "sospine_bbox.csv").exists(), reason="real SOSpine files not at ../shared/sospine"
    ),
]


def test_report_figures_load_in_a_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    workdir = copy_workflow(tmp_path / "run")
    env = dict(os.environ, PYTHONPATH=str(workdir / "src"))
    config = ["--config", f"data={{source: mirror, mirror_dir: {SHARED}}}", "scoring={bootstrap: 20}"]
    early = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *config, "--report", "results/report.html"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert early.returncode == 1 and "the report needs a finished run" in early.stderr, early.stderr[-2000:]
    assert "finish the run first" in early.stderr and "Traceback" not in early.stderr
    for extra in ([], ["--report", "results/report.html"]):
        result = subprocess.run(
            [sys.executable, "-m", "snakemake", "--cores", "2", *config, *extra],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert result.returncode == 0, result.stderr[-4000:]
    report = workdir / "results" / "report.html"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(report.as_uri(), wait_until="load", timeout=60_000)
        page.wait_for_function(
            "document.querySelector('#app') && document.querySelector('#app').innerText.length > 0", timeout=30_000
        )
        categories = page.evaluate("Object.keys(window.categories)")
        figures = page.evaluate("""async () => {
            const out = {};
            for (const [path, item] of Object.entries(window.results)) {
                if (!item.mime_type.startsWith('image/')) continue;
                const image = new Image();
                const loaded = new Promise(resolve => {
                    image.onload = () => resolve(true);
                    image.onerror = () => resolve(false);
                });
                image.src = item.data_uri;
                out[path] = (await loaded) ? [image.naturalWidth, image.naturalHeight] : null;
            }
            return out;
        }""")
        front = page.inner_text("#app")
        page.screenshot(path=str(tmp_path / "report.png"))
        browser.close()
    assert not errors, errors
    # the front page is this run's: its data, its folder and the board's headline
    assert "SOSpine benchmark: this run" in front and "published SOSpine files from the folder" in front, front[:2000]
    board = (workdir / "results" / "leaderboard" / "leaderboard.csv").read_text().splitlines()
    headline = next(line.split(",") for line in board if line.startswith("1,yolov4_paper,all,"))
    ap_all = headline[board[0].split(",").index("ap_voc")]
    assert ap_all == "0.4687"  # the paper's detections, VOC all-point (docs/reproducing.md: 0.469)
    assert "yolov4_paper" in front and f"\t{ap_all}\t" in front and "Steps run" in front, front[:3000]
    assert {"Dataset", "Validation", "Scores", "Timelines", "Phases", "Outcomes"} <= set(categories), categories
    expected = {
        "results/stats/box_sizes.png",
        "results/scores/yolov4_paper/pr_curves.png",
        "results/timelines/test_trials.png",
        "results/outcomes/learning_curve.png",
    }
    assert expected <= set(figures), sorted(figures)
    assert all(size and size[0] > 100 and size[1] > 100 for size in figures.values()), figures
