"""Pretrained weights as data: downloaded from a stand-in on 127.0.0.1 and verified; offline, one line
naming the URL. (Training from downloaded weights, once, by a local rule, recorded in provenance: the
synthetic end-to-end run in test_workflow.py.)"""

import hashlib
import json
import socket

import pytest

from sospine import weights

from .conftest import run, tiny_config


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_verifies_a_known_name_and_records_it(figshare, tmp_path, monkeypatch):
    figshare.files["known.pt"] = b"weights" * 1000
    monkeypatch.setitem(weights.KNOWN_SHA256, "known.pt", hashlib.sha256(figshare.files["known.pt"]).hexdigest())
    record = weights.fetch_weights("known.pt", f"http://127.0.0.1:{figshare.port}/files", tmp_path / "known.pt")
    assert (tmp_path / "known.pt").read_bytes() == figshare.files["known.pt"]
    assert record["verified"] and json.loads((tmp_path / "known.pt.json").read_text())["sha256"] == record["sha256"]


def test_a_known_name_with_other_bytes_is_refused(figshare, tmp_path, monkeypatch):
    figshare.files["yolo11s.pt"] = b"not the published file"
    with pytest.raises(weights.WeightsError, match="has sha256 .* not the published 85a76fe8"):
        weights.fetch_weights("yolo11s.pt", f"http://127.0.0.1:{figshare.port}/files", tmp_path / "yolo11s.pt")
    assert not (tmp_path / "yolo11s.pt").exists()


def test_an_unknown_name_downloads_with_a_warning(figshare, tmp_path):
    figshare.files["mine.pt"] = b"x" * 10
    said = []
    record = weights.fetch_weights(
        "mine.pt", f"http://127.0.0.1:{figshare.port}/files", tmp_path / "m.pt", log=said.append
    )
    assert not record["verified"] and any("no published checksum known for mine.pt" in s for s in said)


def test_offline_the_error_is_one_line_naming_the_url(workdir):
    url = f"http://127.0.0.1:{closed_port()}/assets"
    config = tiny_config(workdir, train={"model": "absent.pt", "weights_url": url}, data={"figshare": {"retries": 0}})
    result = run(workdir, "--configfile", config, "--until", "fetch_weights", check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert lines and f"{url}/absent.pt" in lines[0] and "train.model: resources/weights/absent.pt" in lines[0]
    assert "localrule fetch_weights:" in result.stderr  # never submitted to a cluster
