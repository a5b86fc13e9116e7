"""Pretrained weights as data: downloaded from a stand-in on 127.0.0.1 and verified; offline, one line
naming the URL. (Training from downloaded weights, once, by a local rule, recorded in provenance: the
synthetic end-to-end run in test_workflow.py.)"""

import hashlib
import json
import socket

import pytest

from sospine.detectors import weights

from .conftest import run, tiny_config


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_verifies_a_known_name_and_records_it(figshare, tmp_path, monkeypatch, tiny_pt):
    figshare.files["known.pt"] = tiny_pt
    monkeypatch.setitem(weights.KNOWN_SHA256, "known.pt", hashlib.sha256(figshare.files["known.pt"]).hexdigest())
    record = weights.fetch_weights("known.pt", f"http://127.0.0.1:{figshare.port}/files", tmp_path / "known.pt")
    assert (tmp_path / "known.pt").read_bytes() == figshare.files["known.pt"]
    assert (
        record["verified"] == "published checksum"
        and json.loads((tmp_path / "known.pt.json").read_text())["sha256"] == record["sha256"]
    )


def test_a_known_name_with_other_bytes_is_refused(figshare, tmp_path, monkeypatch):
    figshare.files["yolo11s.pt"] = b"not the published file"
    with pytest.raises(weights.WeightsError, match="has sha256 .* not the published 85a76fe8"):
        weights.fetch_weights("yolo11s.pt", f"http://127.0.0.1:{figshare.port}/files", tmp_path / "yolo11s.pt")
    assert not (tmp_path / "yolo11s.pt").exists()


def test_an_unknown_name_is_refused_without_a_configured_checksum_and_verified_with_one(figshare, tmp_path, tiny_pt):
    figshare.files["mine.pt"] = tiny_pt
    url = f"http://127.0.0.1:{figshare.port}/files"
    with pytest.raises(weights.WeightsError, match="a Python pickle that can run code"):
        weights.fetch_weights("mine.pt", url, tmp_path / "m.pt")
    assert figshare.downloads("mine.pt") == 0  # refused before anything is downloaded
    digest = hashlib.sha256(tiny_pt).hexdigest()
    record = weights.fetch_weights("mine.pt", url, tmp_path / "m.pt", sha256=digest)
    assert record["verified"] == "configuration" and record["sha256"] == digest
    with pytest.raises(weights.WeightsError, match="not the sha256 given in the configuration"):
        weights.fetch_weights("mine.pt", url, tmp_path / "n.pt", sha256="0" * 64)
    assert not (tmp_path / "n.pt").exists()


@pytest.mark.parametrize("body", [b"<html><body>Not Found</body></html>", b"cut"])
def test_an_html_page_or_a_cut_body_is_not_accepted_as_weights(figshare, tmp_path, tiny_pt, body):
    served = body if body.startswith(b"<") else tiny_pt[:1000]
    figshare.files["page.pt"] = served
    url = f"http://127.0.0.1:{figshare.port}/files"
    with pytest.raises(weights.WeightsError, match="HTML page|cut short"):
        weights.fetch_weights("page.pt", url, tmp_path / "p.pt", sha256=hashlib.sha256(served).hexdigest())
    assert not (tmp_path / "p.pt").exists()


def test_offline_the_error_is_one_line_naming_the_url(workdir):
    url = f"http://127.0.0.1:{closed_port()}/assets"
    train = {"model": "absent.pt", "weights_url": url, "sha256": "0" * 64}
    config = tiny_config(workdir, train=train, data={"figshare": {"retries": 0}})
    result = run(workdir, "--configfile", config, "--until", "fetch_weights", check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert lines and f"{url}/absent.pt" in lines[0] and "train.model: resources/weights/absent.pt" in lines[0]
    assert "localrule fetch_weights:" in result.stderr  # never submitted to a cluster
