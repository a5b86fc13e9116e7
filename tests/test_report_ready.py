"""`snakemake --report` on a folder without a finished run: it names the folder it looked in and,
where a finished run lies beside it, the command with that run's --config (what the README's
"Running on the real data" lines need: the report line repeats the run's --config)."""

import json
import shlex

from .test_plan import plan


def finished(folder, config):
    """A finished run in `folder` made with `config` (its front page and provenance record)."""
    (folder / "report").mkdir(parents=True)
    (folder / "report" / "front_page.rst").write_text("done\n")
    (folder / "provenance.json").write_text(json.dumps({"config": config}, default=str))


def mirror_folder(folder):
    folder.mkdir()
    (folder / "sospine_bbox.csv").write_text("x\n")
    return str(folder)


def test_the_report_of_an_unfinished_folder_names_the_finished_run_and_its_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = plan(tmp_path, output_dir="results")
    mirror = {"source": "mirror", "mirror_dir": mirror_folder(tmp_path / "sospine")}
    finished(tmp_path / "results" / "mirror", {**found.config, "data": {**found.config["data"], **mirror}})
    problem = found.report_not_ready(["--cores", "8", "--report", "results/report.html"])
    assert "is missing (and " in problem and "in the output folder results;" in problem, problem
    command = (
        f"snakemake --cores 8 --config data='{{source: mirror, mirror_dir: {mirror['mirror_dir']}}}' "
        "output_dir=results/mirror --report results/report.html"
    )
    assert f"a finished run is in results/mirror: repeat its --config to report on it ({command})" in problem
    assert "finish the run first (snakemake" not in problem  # no FigShare download proposed
    words = shlex.split(command)  # as a shell reads it: the values the run was made with
    assert words[words.index("--config") + 1 : words.index("--report")] == [
        f"data={{source: mirror, mirror_dir: {mirror['mirror_dir']}}}",
        "output_dir=results/mirror",
    ]
    # a --config of this command line is kept, what differs merged into it
    other = mirror_folder(tmp_path / "other")
    given = plan(
        tmp_path, output_dir="results", scoring={"bootstrap": 20}, data={"source": "mirror", "mirror_dir": other}
    )
    argv = ["--cores", "2", "--config", f"data={{source: mirror, mirror_dir: {other}}}", "scoring={bootstrap: 20}"]
    problem = given.report_not_ready([*argv, "--report", "r.html"])
    bootstrap = found.config["scoring"]["bootstrap"]
    assert (
        f"(snakemake --cores 2 --config data='{{source: mirror, mirror_dir: {mirror['mirror_dir']}}}' "
        f"scoring='{{bootstrap: {bootstrap}}}' output_dir=results/mirror --report r.html)"
    ) in problem, problem


def test_without_a_finished_run_elsewhere_the_report_says_to_finish_this_one(tmp_path):
    found = plan(tmp_path)
    problem = found.report_not_ready(["--cores", "2", "--report", "r.html"])
    assert f"in the output folder {tmp_path / 'out'}; finish the run first (snakemake --cores 2)" in problem
