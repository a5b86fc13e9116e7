"""Snakemake's bookkeeping read and handed over between checkouts (sospine.provenance.records), against records
written by a real Snakemake."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sospine.provenance import records

SNAKEMAKE = [sys.executable, "-m", "snakemake"]

SNAKEFILE = """
OUT = config["out"]

rule all:
    input: f"{OUT}/b.txt"

rule a:
    output: f"{OUT}/a.txt"
    shell: "echo a > {output}"

rule b:
    input: rules.a.output
    output: f"{OUT}/b.txt"
    shell: "cat {input} > {output}; echo b >> {output}"
"""


def checkout(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "Snakefile").write_text(SNAKEFILE)
    return folder


def snakemake(workdir: Path, out: str, *args: str) -> str:
    done = subprocess.run(
        [*SNAKEMAKE, "--cores", "1", "--config", f"out={out}", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout + done.stderr


@pytest.mark.parametrize("key", ["results/a.csv", "/x/~~~/???/b.json", "ü/" + "deep/" * 60 + "c.txt"])
def test_keys_round_trip_also_past_a_name_length(key):
    for name_max in (16, 255):
        encoded = records.encode_key(key, name_max)
        assert all(len(part) <= name_max for part in encoded.parts)
        assert records.decode_key(encoded) == key


def test_foreign_files_are_not_records():
    assert records.decode_key(Path("not base64!")) is None
    assert records.decode_key(Path("nested/without-at")) is None


def test_records_snakemake_wrote_are_read_also_for_long_paths(tmp_path):
    deep = tmp_path / ("a-very-long-folder-name-" * 4) / ("and-another-one-" * 5) / "out"
    assert len(str(deep)) > 190  # its base64 is cut into folder levels
    work = checkout(tmp_path / "work")
    snakemake(work, str(deep))
    found = records.read_records(work)
    assert {f"{deep}/a.txt", f"{deep}/b.txt"} <= set(found)
    assert found[f"{deep}/b.txt"]["rule"] == "b"


@pytest.mark.parametrize("relative", [False, True])
def test_a_checkout_takes_over_what_the_last_writer_made_and_had_stopped(tmp_path, relative):
    one, other = checkout(tmp_path / "one"), checkout(tmp_path / "other")
    shared = tmp_path / "shared"
    out = "../shared" if relative else str(shared)
    snakemake(one, out)
    records.record_writer(shared, one)
    # a job of `one` stopped while writing b.txt: Snakemake's marker says so, the file is there
    marker = one / ".snakemake" / "incomplete" / records.encode_key(f"{out}/b.txt")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text('{"external_jobid": null}')
    (shared / "b.txt").write_text("a\n")  # cut short

    line = records.hand_over(Path(out), other)
    assert line is not None and f"written by the workflow in {one.resolve()}" in line
    taken = records.read_records(other)
    assert taken[f"{out}/a.txt"]["rule"] == "a"
    # Snakemake in `other` knows a.txt and redoes the stopped b.txt (and nothing else)
    plan = snakemake(other, out, "--rerun-incomplete", "--dry-run")
    assert "b.txt" in plan and "rule a:" not in plan
    snakemake(other, out, "--rerun-incomplete")
    assert (shared / "b.txt").read_text() == "a\nb\n"
    records.record_writer(shared, other)
    # back in `one`: what `other` remade is newer than one's own record and marker
    assert records.hand_over(Path(out), one) is not None
    assert not marker.exists()
    assert "Nothing to be done" in snakemake(one, out, "--dry-run")


def test_nothing_is_taken_from_itself_or_from_a_checkout_that_is_gone(tmp_path):
    one = checkout(tmp_path / "one")
    shared = tmp_path / "shared"
    snakemake(one, str(shared))
    records.record_writer(shared, one)
    assert records.hand_over(shared, one) is None
    gone = tmp_path / "gone"
    shutil.copytree(one, gone)
    records.record_writer(shared, gone)
    shutil.rmtree(gone)
    assert records.hand_over(shared, checkout(tmp_path / "fresh")) is None
    assert not (tmp_path / "fresh" / ".snakemake" / "metadata").exists() or not os.listdir(
        tmp_path / "fresh" / ".snakemake" / "metadata"
    )
