import subprocess
import sys

import pytest

from sospine.cli import main

from .conftest import ROOT


@pytest.mark.parametrize("command", ["synth", "fetch", "validate", "score", "install-profiles"])
def test_every_subcommand_has_help(command):
    result = subprocess.run([sys.executable, "-m", "sospine", command, "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "usage:" in result.stdout


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
