"""The README a newcomer reads: short, pointing at pages that exist, its figures those the code gives,
its version the package's, and no notes of ours in it."""

import re
import tomllib

import pandas as pd
import pytest

from sospine import __version__

from .conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_the_readme_is_short_and_its_links_exist():
    assert len(README.splitlines()) <= 250
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README):
        assert (ROOT / target).exists(), target


def test_one_version_everywhere():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    citation = re.search(r"^version: (\S+)$", (ROOT / "CITATION.cff").read_text(), re.M).group(1)
    assert project == citation == __version__
    clusters = (ROOT / "docs" / "clusters.md").read_text()
    assert f'tag="v{project}"' in clusters and f"@v{project}" in clusters and f"--tag v{project}" in clusters


def test_no_notes_of_ours_in_user_text():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text()
        for phrase in ("our CI", "our machines", "was lent", "our development machines", "<owner>"):
            assert phrase not in text, (page.name, phrase)


def test_the_headline_table_is_what_scoring_gives(real_dir, tmp_path):
    from sospine.scoring import score_files

    score_files(real_dir / "sospine_bbox.csv", real_dir / "sospine_detections_3.6_0.05.csv", tmp_path, bootstrap=0)
    table = pd.read_csv(tmp_path / "ap_per_class.csv").set_index("label")
    rows = re.findall(
        r"^\| (needle driver|grasper|nerve hook|needle|durotomy) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", README, re.M
    )
    assert len(rows) == 5
    for label, _paper, paper_rules, voc in rows:
        assert f"{table.loc[label, 'ap_paper']:.3f}" == paper_rules, label
        assert f"{table.loc[label, 'ap_voc']:.3f}" == voc, label


def test_the_table1_figures_are_the_data(real_dir):
    from sospine.dataset.split import split_dataset
    from sospine.dataset.stats import table1
    from sospine.tables import read_annotations, with_frame_columns

    boxes = with_frame_columns(read_annotations(real_dir / "sospine_bbox.csv"))
    settings = {
        "method": "paper",
        "test_trials": ["S4A1", "Clip0", "S8A2", "S6A3"],
        "val_trials": 0,
        "val_frames": 0,
        "test_fraction": 0.2,
        "seed": 0,
        "validation": "trials",
    }
    _, _, frames = split_dataset(boxes.drop_duplicates("trial_frame"), settings)
    counts = frames["split"].value_counts()
    assert "21,371 boxes" in README and int(boxes["label"].notna().sum()) == 21371
    assert "12,866 training and 2,828 test frames" in README
    assert counts["test"] == 2828 and counts.drop("test").sum() == 12866
    assert table1(boxes, frames) is not None


@pytest.mark.parametrize("line", [text for text in README.splitlines() if text.startswith(("snakemake ", "make "))])
def test_every_command_shown_is_one_snakemake_or_make_accepts(line):
    words = line.split("#")[0].split()
    assert words[0] in ("snakemake", "make")
    if words[0] == "make":
        assert words[1] in re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.M)


def real_data_commands() -> list[str]:
    """The command lines of the README's "Running on the real data" block, in order."""
    section = README[README.index("## Running on the real data") :]
    block = section[section.index("```bash") + len("```bash") : section.index("```", section.index("```bash") + 7)]
    return [line for line in block.splitlines() if line.startswith("snakemake ")]


@pytest.mark.slow
def test_the_real_data_lines_run_as_written_in_order(real_dir, tmp_path):
    """The mirror's run and then its report, as the README writes them (the real files as the mirror;
    without frames.zip nothing is trained), and the FigShare run's report line asked of that checkout,
    which names the finished mirror run and a command that reports on it."""
    import os
    import shlex
    import subprocess
    import sys

    from .conftest import copy_workflow

    workdir = copy_workflow(tmp_path / "checkout")
    env = dict(os.environ, PYTHONPATH=str(workdir / "src"))

    def run(words: list[str]) -> subprocess.CompletedProcess:
        assert words[0] == "snakemake"
        words[words.index("--cores") + 1] = "2"  # this machine's cores, not the README's 8
        return subprocess.run(
            [sys.executable, "-m", "snakemake", *words[1:]],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=900,
        )  # fmt: skip

    lines = real_data_commands()
    mirror = [line for line in lines if "source: mirror" in line]
    assert len(mirror) == 2 and "--report" in mirror[1] and "--report" not in mirror[0], lines
    for line in mirror:
        result = run(shlex.split(line.replace("/data/sospine", str(real_dir)), comments=True))
        assert result.returncode == 0, (line, result.stderr[-3000:])
        assert "Traceback" not in result.stderr
    report = workdir / "results" / "mirror" / "report.html"
    assert report.stat().st_size > 100_000
    page = (workdir / "results" / "mirror" / "report" / "front_page.rst").read_text()
    assert f"the published SOSpine files from the folder {real_dir}" in page
    assert "detector yolo (yolo11s.pt) was not trained" in page  # no frames: nothing to train
    assert not (workdir / "results" / "mirror" / "train").exists()
    # the FigShare run's report line, asked where only the mirror run has finished
    figshare_report = next(line for line in lines if "--report" in line and "--config" not in line)
    result = run(shlex.split(figshare_report, comments=True))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    message = result.stderr.strip().splitlines()[-1]
    assert "in the output folder results;" in message and "a finished run is in results/mirror" in message, message
    assert "finish the run first" not in message  # it would start a FigShare download
    proposed = message[message.index("(snakemake ") + 1 : message.rindex("), or finish")]
    assert f"--config data='{{source: mirror, mirror_dir: {real_dir}}}' output_dir=results/mirror" in proposed
    result = run(shlex.split(proposed))
    assert result.returncode == 0 and (workdir / "results" / "report.html").is_file(), result.stderr[-3000:]
