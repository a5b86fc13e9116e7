import hashlib

from sospine.provenance.artifacts import stale_artifacts


def _artifact(inputs):
    return {"md5": "x", "inputs": inputs}


def test_an_artifact_older_than_its_remade_input_is_stale():
    records = {
        "out/best.pt": {"rule": "train", "input": [], "starttime": 100.0, "endtime": 200.0},
        "out/detections.csv": {"rule": "predict", "input": ["out/best.pt"], "starttime": 50.0, "endtime": 60.0},
    }
    artifacts = {"out/best.pt": _artifact({}), "out/detections.csv": _artifact({"out/best.pt": "md5"})}
    (problem,) = stale_artifacts(artifacts, records, "out")
    assert "out/detections.csv (rule predict) is older than its input out/best.pt" in problem
    assert "--forcerun predict" in problem
    records["out/detections.csv"].update(starttime=300.0, endtime=310.0)
    assert stale_artifacts(artifacts, records, "out") == []


def test_a_missing_input_or_record_is_stale_a_published_file_is_not():
    records = {"out/scores.json": {"rule": "score", "input": ["out/gone.csv", "raw/bbox.csv"], "starttime": 9.0}}
    artifacts = {
        "out/scores.json": _artifact({"out/gone.csv": None, "raw/bbox.csv": "md5"}),
        "out/gone.csv": _artifact({}),
        "raw/bbox.csv": {"md5": "md5", "source": {"doi": "10.6084/m9.figshare.20171129.v1"}},
    }
    producers = {"predict": [r"out/(?P<name>[^/]+)\.csv$"]}
    problems = stale_artifacts(artifacts, records, "out", producers)
    assert problems == [
        "out/gone.csv has no record of how it was made (its job was stopped); remake it: snakemake --forcerun "
        "predict (with your usual options)",
        "out/scores.json (rule score) was made from out/gone.csv, which no longer exists; remake it: snakemake "
        "--forcerun predict (with your usual options)",
    ]
    assert "rerun the rule that makes it" in stale_artifacts(artifacts, records, "out")[0]  # no pattern known


def test_an_input_remade_with_the_same_content_is_no_change(tmp_path):
    """Snakemake does not rerun a job whose input was remade with the content it recorded (its
    input_checksums); provenance agrees instead of calling the job's outputs stale."""
    (tmp_path / "out").mkdir()
    detections = tmp_path / "out" / "detections.csv"
    detections.write_text("trial_frame,x1,y1,x2,y2,score,label\n")  # a detector that found nothing, twice
    digest = hashlib.sha256(detections.read_bytes()).hexdigest()
    records = {
        "out/detections.csv": {"rule": "predict", "input": [], "starttime": 300.0, "endtime": 310.0},
        "out/ap.csv": {
            "rule": "presence_ap",
            "input": ["out/detections.csv"],
            "starttime": 100.0,
            "endtime": 110.0,
            "input_checksums": {"out/detections.csv": f"sha256:{digest}"},
        },
    }
    artifacts = {"out/detections.csv": _artifact({}), "out/ap.csv": _artifact({"out/detections.csv": "md5"})}
    assert stale_artifacts(artifacts, records, "out", workdir=tmp_path) == []
    records["out/ap.csv"]["input_checksums"] = {"out/detections.csv": digest}  # older records: no algorithm
    assert stale_artifacts(artifacts, records, "out", workdir=tmp_path) == []
    detections.write_text("trial_frame,x1,y1,x2,y2,score,label\nClip0_frame_00000001.jpeg,1,1,5,5,0.9,needle\n")
    (problem,) = stale_artifacts(artifacts, records, "out", workdir=tmp_path)
    assert "out/ap.csv (rule presence_ap) is older than its input out/detections.csv" in problem
    assert (
        len(
            stale_artifacts(
                artifacts,
                {**records, "out/ap.csv": {**records["out/ap.csv"], "input_checksums": {}}},
                "out",
                workdir=tmp_path,
            )
        )
        == 1
    )
