import subprocess
import sys

import pytest

from sospine.cli import main
from sospine.constants import BBOX_CSV, PAPER_DETECTIONS_CSV

from .conftest import ROOT


@pytest.mark.parametrize("command", ["synth", "fetch", "validate", "score", "install-profiles", "board"])
def test_every_subcommand_has_help(command):
    result = subprocess.run([sys.executable, "-m", "sospine", command, "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "usage:" in result.stdout


@pytest.mark.parametrize("command", ["synth", "fetch", "validate", "score", "install-profiles", "board"])
def test_every_option_says_what_it_is(command):
    from sospine.cli import build_parser

    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    for action in subparsers.choices[command]._actions:
        assert action.help, f"sospine {command} {action.option_strings or action.dest} has no help text"


@pytest.mark.parametrize("command", ["synth", "fetch", "validate", "score", "install-profiles", "board"])
def test_every_default_is_in_the_help(command):
    import argparse

    from sospine.cli import build_parser

    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    for action in subparsers.choices[command]._actions:
        if isinstance(action, argparse._HelpAction) or action.default in (None, False, argparse.SUPPRESS):
            continue
        assert "default" in action.help, f"sospine {command} {action.option_strings or action.dest}: {action.help}"


def test_missing_input_is_bad_usage_named_and_nothing_is_created(tmp_path, capsys):
    out = tmp_path / "scores"
    assert main(["score", "--truth", str(tmp_path / "missing.csv"), "--detections", __file__, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"--truth {tmp_path / 'missing.csv'}: no such file" in err and "[]" not in err
    assert not out.exists()
    assert main(["validate", "--bbox", str(tmp_path / "nope.csv"), "--report", str(tmp_path / "r" / "x.csv")]) == 2
    assert "--bbox" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_bad_usage_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["synth"])
    assert exit_info.value.code == 2
    assert main(["validate", "--report", "/tmp/x.csv"]) == 2


def test_bad_data_exits_1_without_traceback(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path), "--trials", "99"]) == 1
    err = capsys.readouterr().err
    assert "trials must be between 1 and 24" in err and "Traceback" not in err


def test_unwritable_output_is_named(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["synth", "--out", str(blocker / "sub")]) == 1
    assert str(blocker / "sub") in capsys.readouterr().err


def test_profiles_install_for_a_bare_profile_name(tmp_path):
    target = tmp_path / "snakemake-config"
    assert main(["install-profiles", "--dest", str(target)]) == 0
    assert (target / "slurm" / "config.yaml").read_text() == (ROOT / "profiles" / "slurm" / "config.yaml").read_text()
    assert (target / "aws-batch" / "config.yaml").exists()


def test_profiles_already_installed_are_never_overwritten(tmp_path, capsys):
    target = tmp_path / "snakemake-config"
    (target / "slurm").mkdir(parents=True)
    (target / "slurm" / "config.yaml").write_text("executor: slurm\ndefault-resources: {slurm_account: site}\n")
    assert main(["install-profiles", "--dest", str(target)]) == 2  # bad usage: the profile is there
    assert "already exists and is left as it is" in capsys.readouterr().err
    assert "slurm_account: site" in (target / "slurm" / "config.yaml").read_text()
    assert not (target / "aws-batch").exists()  # nothing half-installed
    assert main(["install-profiles", "--dest", str(target), "--force"]) == 0
    backups = list(target.glob("slurm.bak-*"))
    assert len(backups) == 1 and "slurm_account: site" in (backups[0] / "config.yaml").read_text()
    assert (target / "slurm" / "config.yaml").read_text() == (ROOT / "profiles" / "slurm" / "config.yaml").read_text()


def test_score_leaves_only_this_runs_files_in_its_folder(synthetic, tmp_path, capsys):
    """Scores, then a file that cannot be scored, then scores again, into one folder: each run's files
    alone, never an earlier run's scores beside a new validation report or the reverse."""
    out = tmp_path / "scores"
    truth, detections = synthetic[BBOX_CSV], synthetic[PAPER_DETECTIONS_CSV]
    good = ["score", "--truth", str(truth), "--detections", str(detections)]
    scored = {"ap_per_class.csv", "per_trial_ap.csv", "pr_curves.csv", "pr_curves.png", "summary.json"}
    assert main([*good, "--out", str(out), "--bootstrap", "0"]) == 0
    assert {p.name for p in out.iterdir()} == scored
    bad = tmp_path / "bad.csv"
    bad.write_text(detections.read_text().replace(",", ";", 1))  # the header is not the published one
    assert main(["score", "--truth", str(truth), "--detections", str(bad), "--out", str(out)]) == 1
    assert {p.name for p in out.iterdir()} == {"validation_report.csv"}
    assert main([*good, "--out", str(out), "--bootstrap", "0"]) == 0
    assert {p.name for p in out.iterdir()} == scored
    capsys.readouterr()
