from sospine.provenance import stale_artifacts


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
