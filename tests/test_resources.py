"""The scoring jobs' memory booking: above what was measured, growing with the input, more on a retry."""

import subprocess
import sys
import textwrap

import pytest

from sospine.scoring.resources import FLOOR_MB, interval_resamples, scoring_mem_mb

from .conftest import ROOT, run

# (input MB, resamples, peak MiB) measured with /usr/bin/time -v (see sospine.scoring.resources)
MEASURED = [
    (2.2, 0, 248),
    (70.3, 0, 1550),
    (173.5, 0, 3514),
    (345.3, 0, 5048),
    (348.4, 0, 3567),
    (139.0, 0, 2245),
    (345.0, 0, 3892),
    (18.8, 1000, 5591),
    (36.0, 1000, 10999),
    (36.0, 1000, 5674),
]


@pytest.mark.parametrize("input_mb, resamples, peak_mib", MEASURED)
def test_the_booking_covers_every_measured_peak_with_headroom(input_mb, resamples, peak_mib):
    assert scoring_mem_mb(input_mb, resamples=resamples) >= 1.2 * peak_mib * 1.048576  # MiB -> MB


def test_the_floor_stays_and_the_booking_grows_with_the_input_and_the_attempt():
    assert scoring_mem_mb(0) == scoring_mem_mb(50) == FLOOR_MB == 2000
    sizes = [0, 100, 200, 400, 800]
    assert [scoring_mem_mb(s) for s in sizes] == sorted(scoring_mem_mb(s) for s in sizes)
    assert scoring_mem_mb(800) > scoring_mem_mb(400) > FLOOR_MB
    assert scoring_mem_mb(400, attempt=2) == 2 * scoring_mem_mb(400)
    assert scoring_mem_mb(0, attempt=3) == 3 * FLOOR_MB  # a retry of a small job books more too
    assert scoring_mem_mb(100, resamples=1000) > 10 * scoring_mem_mb(100)


def test_intervals_are_expected_where_the_split_tests_ten_trials_or_more():
    assert interval_resamples({"method": "paper", "test_trials": ["S4A1", "Clip0", "S8A2", "S6A3"]}, 1000) == 0
    assert interval_resamples({"method": "paper", "test_trials": [f"S{i}A2" for i in range(1, 11)]}, 1000) == 1000
    assert interval_resamples({"method": "leave_one_surgeon_out"}, 1000) == 1000
    assert interval_resamples({"method": "leave_one_surgeon_out"}, 0) == 0  # scoring.bootstrap: 0
    assert interval_resamples({"method": "random", "test_fraction": 0.2}, 1000) == 0  # 5 of 24 trials
    assert interval_resamples({"method": "random", "test_fraction": 0.5}, 1000) == 1000


def test_snakemake_books_by_the_input_size_and_more_on_a_retry(tmp_path):
    """The rules' own expression in a real Snakemake run: a job that fails once and is retried."""
    (tmp_path / "Snakefile").write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(ROOT / "src")!r})
            from sospine.scoring.resources import scoring_mem_mb

            rule all:
                input: "booked.txt"

            rule detections:
                output: "detections.csv"
                run:
                    open(output[0], "wb").write(b"x" * 100 * 2**20)

            rule score:
                input: "detections.csv"
                output: "booked.txt"
                resources:
                    mem_mb=lambda wildcards, input, attempt: scoring_mem_mb(input.size_mb, attempt, 0)
                run:
                    with open("attempts.txt", "a") as handle:
                        handle.write(f"{{resources.mem_mb}}\\n")
                    if len(open("attempts.txt").read().split()) == 1:
                        raise RuntimeError("killed for memory")
                    open(output[0], "w").write(str(resources.mem_mb))
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--retries", "1", "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    booked = [int(line) for line in (tmp_path / "attempts.txt").read_text().split()]
    assert booked == [scoring_mem_mb(100), scoring_mem_mb(100, attempt=2)] and booked[0] > FLOOR_MB


def test_the_scoring_rules_book_by_their_input(workdir):
    """A dry run cannot know the booking of a job whose input is not there yet: Snakemake shows it
    as <TBD> (a fixed booking would show its number)."""
    plan = run(workdir, "-n", "--configfile", "config/demo.yaml").stdout
    blocks = {block.split(":", 1)[0]: block for block in plan.split("\nrule ")[1:]}
    for rule in ("score", "leaderboard"):
        assert "mem_mb=<TBD>" in blocks[rule], blocks[rule]
