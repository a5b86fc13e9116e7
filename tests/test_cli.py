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


@pytest.fixture(scope="module")
def finished_board(synthetic, tmp_path_factory):
    """A run's leaderboard folder as the leaderboard job writes it: two detectors ranked on the
    synthetic release, and the same for one detector alone (whose paired.csv is a header)."""
    import pandas as pd

    from sospine.scoring.leaderboard import for_reading, rank
    from sospine.tables import read_annotations, split_frame_names

    truth = read_annotations(synthetic[BBOX_CSV])
    dets = pd.read_csv(synthetic[PAPER_DETECTIONS_CSV])
    trials = sorted(split_frame_names(dets["trial_frame"])["trial"].unique())
    folders = {}
    for case, detections in {
        "two": {"paper": dets, "fewer": dets[dets["score"] > 0.5]},
        "one": {"paper": dets},
    }.items():
        board, paired = rank(truth, detections, {name: trials for name in detections}, reference="paper", n_resamples=0)
        folder = tmp_path_factory.mktemp(case) / "leaderboard"
        folder.mkdir()
        for_reading(board).to_csv(folder / "leaderboard.csv", index=False)
        for_reading(paired).to_csv(folder / "paired.csv", index=False)
        folders[case] = folder
    return folders


def _board_copy(source, tmp_path):
    import shutil

    shutil.copytree(source, tmp_path / "leaderboard")
    return tmp_path / "leaderboard"


def test_board_prints_the_headline_of_a_finished_run(finished_board, capsys):
    assert main(["board", str(finished_board["two"].parent)]) == 0
    out = capsys.readouterr().out
    assert "fewer" in out and "differences: each detector minus paper" in out
    assert main(["board", str(finished_board["one"].parent)]) == 0  # nothing to compare: paired.csv is a header
    assert "paper" in capsys.readouterr().out


def _cut_mid_row(data: bytes) -> bytes:
    return data[: data.index(b"\n", len(data) // 2) - 3]


def _without_last_row(data: bytes) -> bytes:
    return data[: data.rstrip(b"\n").rindex(b"\n") + 1]  # whole rows: the last detector's `all` row is gone


def _first_detector_only(data: bytes) -> bytes:
    return b"".join(data.splitlines(keepends=True)[:8])  # the header and the first detector's seven rows


def _without(column: str):
    def drop(data: bytes) -> bytes:
        import io

        import pandas as pd

        return pd.read_csv(io.BytesIO(data)).drop(columns=column).to_csv(index=False).encode()

    return drop


@pytest.mark.parametrize(
    "name, damage, says",
    [
        ("paired.csv", None, "no such file"),
        ("leaderboard.csv", lambda data: b"", "is empty (0 bytes)"),
        ("paired.csv", lambda data: b"", "is empty (0 bytes)"),
        ("leaderboard.csv", lambda data: data.split(b"\n")[0] + b"\n", "has a header but no rows"),
        ("paired.csv", lambda data: data.split(b"\n")[0] + b"\n", "has a header but no rows"),
        ("leaderboard.csv", _without("ap_voc"), "has no column ap_voc"),
        ("paired.csv", _without("p_value"), "has no column p_value"),
        ("leaderboard.csv", _cut_mid_row, "cut off"),
        ("paired.csv", _cut_mid_row, "cut off"),
        ("leaderboard.csv", _without_last_row, "has no all row"),
        ("leaderboard.csv", _first_detector_only, "has no rows of fewer, which paired.csv compares"),
        ("leaderboard.csv", lambda data: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "is not a CSV table"),
        ("paired.csv", lambda data: b"<html><body>502 Bad Gateway</body></html>\n", "has no column detector"),
        ("leaderboard.csv", lambda data: data.replace(b"\n1,", b'\n1,"', 1), "a quote left open"),
        ("leaderboard.csv", lambda data: data.replace(b"0.", b"zero.", 1), "not a number"),
    ],
)
def test_board_on_a_half_written_folder_names_the_file_and_exits_1(
    finished_board, tmp_path, capsys, name, damage, says
):
    folder = _board_copy(finished_board["two"], tmp_path)
    if damage is None:
        (folder / name).unlink()
    else:
        (folder / name).write_bytes(damage((folder / name).read_bytes()))
    assert main(["board", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err and not captured.out, captured.err
    assert lines[0].startswith(f"sospine board: {folder / name}: ") and says in lines[0], lines[0]


def test_score_prints_its_per_class_table_and_its_help_an_example_and_exit_codes(tmp_path, capsys):
    import subprocess
    import sys

    from sospine.cli import main
    from sospine.data.synth import SynthSpec, plan, write_tables

    paths = write_tables(plan(SynthSpec(seed=5, trials=4, frames_per_trial=10, width=160, height=96)), tmp_path)
    assert main(["score", "--truth", str(paths["sospine_bbox.csv"]), "--detections",
                 str(paths["sospine_detections_3.6_0.05.csv"]), "--out", str(tmp_path / "s")]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["label", "n_truth", "n_detections", "ap_voc", "ap_paper", "ap50_coco", "best_f1"]
    assert [line.split()[0] for line in lines[2:4]] == ["needle", "needle"]  # "needle driver" next
    help_text = " ".join(
        subprocess.run(
            [sys.executable, "-m", "sospine", "score", "--help"], capture_output=True, text=True
        ).stdout.split()
    )
    assert "Example: sospine score --truth" in help_text and "Exit 0: scored; 1:" in help_text
