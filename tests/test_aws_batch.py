"""AWS Batch cannot be reached from here: test what can be, for real.

The aws-batch profile loads and dry-runs the DAG, and the workflow runs end to end with S3 as its
default storage against a local S3-compatible server (moto) on 127.0.0.1, so storage paths are real.
"""

import os
import socket
import subprocess
import sys

import pytest

from .conftest import copy_workflow, tiny_config

BUCKET = "sospine-test"


@pytest.fixture
def s3():
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    credentials = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=BUCKET)
    yield endpoint, credentials, client
    server.stop()


def storage_args(endpoint):
    return [
        "--default-storage-provider",
        "s3",
        "--default-storage-prefix",
        f"s3://{BUCKET}/run",
        "--storage-s3-endpoint-url",
        endpoint,
        "--storage-s3-access-key",
        "testing",
        "--storage-s3-secret-key",
        "testing",
        "--storage-s3-region",
        "us-east-1",
    ]


def snakemake(workdir, env, *args, timeout=900):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_aws_batch_profile_dry_runs(tmp_path, s3):
    endpoint, credentials, _ = s3
    workdir = copy_workflow(tmp_path / "run")
    env = dict(
        os.environ,
        PYTHONPATH=str(workdir / "src"),
        **credentials,
        SNAKEMAKE_AWS_BATCH_REGION="us-east-1",
        SNAKEMAKE_AWS_BATCH_JOB_QUEUE="arn:aws:batch:us-east-1:000000000000:job-queue/test",
        SNAKEMAKE_AWS_BATCH_JOB_ROLE="arn:aws:iam::000000000000:role/test",
    )
    result = snakemake(
        workdir,
        env,
        "--profile",
        "profiles/aws-batch",
        "--configfile",
        tiny_config(workdir),
        *storage_args(endpoint),
        "-n",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = result.stdout + result.stderr
    assert "train" in text and "score" in text
    assert f"s3://{BUCKET}/run/results/train/yolo/best.pt" in text


@pytest.mark.slow
def test_end_to_end_with_s3_default_storage(tmp_path, s3):
    endpoint, credentials, client = s3
    workdir = copy_workflow(tmp_path / "run")
    env = dict(os.environ, PYTHONPATH=str(workdir / "src"), **credentials)
    result = snakemake(workdir, env, "--cores", "2", "--configfile", tiny_config(workdir), *storage_args(endpoint))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    keys = {
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        for item in page.get("Contents", [])
    }
    for key in (
        "run/results/validation/report.csv",
        "run/results/stats/table1.csv",
        "run/results/train/yolo/best.pt",
        "run/results/detections/yolo.csv",
        "run/results/scores/yolo/summary.json",
        "run/results/provenance.json",
    ):
        assert key in keys, sorted(keys)[:50]
    assert any(k.startswith("run/results/yolo/images/test/") for k in keys)
