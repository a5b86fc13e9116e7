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


#: Where the front page's blocks, the workflow graph, the menu and the scrolling area lie on screen
#: ([left, top, right, bottom] in CSS pixels)
LAYOUT = """() => {
    const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
    const page = document.querySelector('.prose > .document');
    return {
        document: box(page),
        graph: box(document.querySelector('#rulegraph')),
        nav: box(document.querySelector('#app nav')),
        scroller: box(page.closest('.overflow-auto')),
        blocks: Array.from(page.children).filter(e => e.tagName !== 'STYLE').map(e => [e.tagName, ...box(e)]),
    };
}"""


def overlap(a, b) -> bool:
    """Whether two [left, top, right, bottom] boxes overlap."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


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
        # the front page beside the workflow graph, in a wide and a narrow window: nothing overlaps
        layouts = {}
        for width, height in ((1280, 800), (900, 700)):
            view = browser.new_page(viewport={"width": width, "height": height})
            view.goto(report.as_uri(), wait_until="load", timeout=60_000)
            view.wait_for_selector("#rulegraph canvas", timeout=30_000)
            layouts[width] = view.evaluate(LAYOUT)
            view.screenshot(path=str(tmp_path / f"front_page_{width}.png"))
            view.close()
        browser.close()
    assert not errors, errors
    for width, layout in layouts.items():  # screenshots: tmp_path / front_page_<width>.png
        graph, scroller = layout["graph"], layout["scroller"]
        for name, *block in layout["blocks"]:  # the page's title, paragraphs, lists and tables
            assert not overlap(block, graph), (width, name, block, graph)
            assert not overlap(block, layout["nav"]), (width, name, block, layout["nav"])
        # the page starts where scrolling reaches (Snakemake centres it, cutting off a tall page's top)
        assert layout["document"][0] >= scroller[0] and layout["document"][1] >= scroller[1], (width, layout)
    # the front page is this run's: its data, its folder and the board's headline
    assert "SOSpine benchmark: this run" in front and "published SOSpine files from the folder" in front, front[:2000]
    board = (workdir / "results" / "leaderboard" / "leaderboard.csv").read_text().splitlines()
    headline = next(line.split(",") for line in board if line.startswith("1,yolov4_paper,all,"))
    ap_all = headline[board[0].split(",").index("ap_voc")]
    assert ap_all == "0.4687"  # the paper's detections, VOC all-point (docs/reproducing.md: 0.469)
    assert "yolov4_paper" in front and f"\t{ap_all}\t" in front and "Steps run" in front, front[:3000]
    # it leads with each class's AP beside the paper's printed one, then the data, the split, the trials,
    # what was skipped, Table 1 and the board, as tables
    assert front.index("AP per class") < front.index("Data:") < front.index("Table 1") < front.index("Leaderboard:")
    assert "Balu et al. 2024, YOLOv4\tas printed\t0.018\t0.939\t0.768\t0.600\t0.011\t0.77" in front, front[:3000]
    assert "yolov4_paper\tpaper's rules\t0.0183\t0.9387\t0.7680\t0.5998\t0.0108" in front, front[:3000]
    assert "Not comparable" not in front and "(data.source: mirror)" in front
    assert "Trials: test (4): Clip0 S4A1 S6A3 S8A2" in front
    assert "detector yolo (yolo11s.pt) was not trained: data source 'mirror' provides no frames.zip" in front
    assert "durotomy\t12,141\t9,917\t2,224" in front  # Table 1
    assert "accuracy_cost.png" not in front.split("Figures:")[1]  # no detector here has a cost
    assert {"Dataset", "Validation", "Scores", "Timelines", "Phases", "Outcomes"} <= set(categories), categories
    expected = {
        "results/stats/box_sizes.png",
        "results/scores/yolov4_paper/pr_curves.png",
        "results/timelines/test_trials.png",
        "results/outcomes/learning_curve.png",
    }
    assert expected <= set(figures), sorted(figures)
    assert all(size and size[0] > 100 and size[1] > 100 for size in figures.values()), figures
