"""The Slurm profile against a real single-node Slurm started here (munge, slurmctld, slurmd).

Needs root and Debian's slurmctld, slurmd, slurm-client and munge (`.ci/run` installs them).
Every wait is bounded; the daemons are stopped by their pid files at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import assert_leave_one_surgeon_out, copy_workflow, tiny_config

DAEMONS = ("slurmctld", "slurmd", "munged", "sinfo", "sbatch", "squeue")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="starting slurmctld/slurmd/munged needs root"),
    pytest.mark.skipif(
        any(shutil.which(d) is None and not Path(f"/usr/sbin/{d}").exists() for d in DAEMONS),
        reason="Debian packages slurmctld slurmd slurm-client munge are not installed (.ci/run installs them)",
    ),
]


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def _mem_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 4000


SYSTEM_CONF = Path("/etc/slurm")
OURS = "# written by the sospine tests, pid "  # the first line of the files the tests write there


class Cluster:
    """A one-node cluster whose state lives under `root`.

    Its slurm.conf must sit at the system path: the executor plugin's job steps drop every SLURM_*
    variable (SLURM_CONF included) before calling srun, as on a real cluster where the
    configuration is at /etc/slurm. An existing system configuration is never overwritten.
    """

    def __init__(self, root: Path):
        self.root = root
        self.host = socket.gethostname().split(".")[0]
        self.conf = SYSTEM_CONF / "slurm.conf"
        self.written: list[Path] = []
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))
        self.pidfiles = {
            "slurmctld": root / "slurmctld.pid",
            "slurmd": root / "slurmd.pid",
            "munged": root / "munged.pid",
        }

    @staticmethod
    def remove_left_behind() -> None:
        """The files of a test run that was killed before it could remove them (their first line
        names the run's pid, which is gone): otherwise every later run would skip this test."""
        for path in (SYSTEM_CONF / "slurm.conf", SYSTEM_CONF / "gres.conf"):
            first = path.read_text().split("\n", 1)[0] if path.is_file() else ""
            pid = first.removeprefix(OURS) if first.startswith(OURS) else ""
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                path.unlink()

    def write_config(self) -> None:
        # 8 CPUs declared whatever the machine has (config_overrides): a job booked with 8 threads
        # shows that threads, not a profile's cpus_per_task, decide the CPUs
        for sub in ("state", "spool", "munge"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        real_memory = int(_mem_mb() * 0.9)
        self.remove_left_behind()
        if self.conf.exists() or (SYSTEM_CONF / "gres.conf").exists():
            pytest.skip(f"{SYSTEM_CONF} already holds a Slurm configuration; not touching a real cluster's files")
        SYSTEM_CONF.mkdir(parents=True, exist_ok=True)
        self.written = [self.conf, SYSTEM_CONF / "gres.conf"]
        self.conf.write_text(f"""{OURS}{os.getpid()}
ClusterName=sospine-test
SlurmctldHost={self.host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={self.root}/munge/munge.socket.2
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
GresTypes=gpu
MpiDefault=none
ReturnToService=2
MinJobAge=3600
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation={self.root}/state
SlurmdSpoolDir={self.root}/spool
SlurmctldPidFile={self.pidfiles["slurmctld"]}
SlurmdPidFile={self.pidfiles["slurmd"]}
SlurmctldLogFile={self.root}/slurmctld.log
SlurmdLogFile={self.root}/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
NodeName={self.host} NodeAddr=127.0.0.1 CPUs=8 RealMemory={real_memory} Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=ALL MaxTime=INFINITE State=UP
""")
        # a fake GPU: lets the training job's --gpus request be scheduled on a machine without one
        (SYSTEM_CONF / "gres.conf").write_text(f"{OURS}{os.getpid()}\nNodeName={self.host} Name=gpu File=/dev/null\n")

    def start(self) -> None:
        self.write_config()
        key = self.root / "munge" / "munge.key"
        subprocess.run(["dd", "if=/dev/urandom", f"of={key}", "bs=1024", "count=1"], check=True, capture_output=True)
        key.chmod(0o400)
        subprocess.run(
            [
                "/usr/sbin/munged",
                "--force",
                f"--key-file={key}",
                f"--socket={self.root}/munge/munge.socket.2",
                f"--pid-file={self.pidfiles['munged']}",
                f"--log-file={self.root}/munged.log",
                f"--seed-file={self.root}/munge/seed",
            ],
            check=True,
            timeout=30,
        )
        os.environ["MUNGE_SOCKET"] = f"{self.root}/munge/munge.socket.2"
        subprocess.run(["/usr/sbin/slurmctld"], env=self.env, check=True, timeout=30)
        subprocess.run(["/usr/sbin/slurmd"], env=self.env, check=True, timeout=30)
        _wait(lambda: "idle" in self.sinfo(), 90, f"node {self.host} to become idle (see {self.root}/slurmd.log)")

    def sinfo(self) -> str:
        result = subprocess.run(["sinfo", "-h", "-o", "%T"], env=self.env, capture_output=True, text=True, timeout=15)
        return result.stdout

    def stop(self) -> None:
        for name in ("slurmd", "slurmctld", "munged"):
            pidfile = self.pidfiles[name]
            if not pidfile.exists():
                continue
            try:
                pid = int(pidfile.read_text().strip())
                os.kill(pid, signal.SIGTERM)
                _wait(lambda pid=pid: not Path(f"/proc/{pid}").exists(), 30, f"{name} to stop")
            except (ValueError, ProcessLookupError, TimeoutError):
                pass
            pidfile.unlink(missing_ok=True)  # slurmctld leaves a stale pid file behind
        for path in self.written:
            path.unlink(missing_ok=True)


@pytest.fixture
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("slurm")
    # slurm refuses world-writable state folders under /tmp's sticky parent: keep them private
    root.chmod(0o755)
    cluster = Cluster(root)
    try:
        cluster.start()
    except pytest.skip.Exception:
        raise
    except Exception:
        logs = "\n".join(p.read_text()[-2000:] for p in root.glob("*.log"))
        cluster.stop()
        pytest.fail(f"could not start the local Slurm cluster:\n{logs}")
    yield cluster
    cluster.stop()
    os.environ.pop("MUNGE_SOCKET", None)


SITE_PROFILE = """\
# what a site's own profile holds: account and partitions for everyone, the GPU partition and a
# memory cap (this node is small) for training
executor: slurm
default-resources:
  slurm_account: sospine_site
  slurm_partition: cpu
  runtime: 20
set-resources:
  train: {slurm_partition: gpu, mem_mb: 3000}
  train_fold: {slurm_partition: gpu, mem_mb: 3000}
"""


def slurm_jobs(cluster: Cluster) -> list[dict[str, str]]:
    """Every job Slurm still remembers (MinJobAge=3600: the whole run), as scontrol reports it."""
    result = subprocess.run(
        ["scontrol", "show", "job", "-o"], env=cluster.env, capture_output=True, text=True, timeout=30, check=True
    )
    jobs = []
    for line in result.stdout.splitlines():
        fields = dict(re.findall(r"(\w+(?:/\w+)?)=(\S*)", line))
        fields["rule"] = re.sub(r"^rule_|_wildcards_.*$", "", fields.get("Comment", ""))
        fields["line"] = line
        jobs.append(fields)
    return jobs


def test_a_site_profile_and_the_workflow_profile_on_a_real_slurm(cluster, tmp_path):
    """Leave-one-surgeon-out through a site profile (account, partitions) plus `--workflow-profile
    profiles/slurm`: Slurm's own records say what each job got."""
    workdir = copy_workflow(tmp_path / "run")
    config = tiny_config(workdir, "loso")
    site = tmp_path / "site"
    site.mkdir()
    (site / "config.yaml").write_text(SITE_PROFILE)
    env = dict(cluster.env, PYTHONPATH=str(workdir / "src"), PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    command = [
        *(sys.executable, "-m", "snakemake", "--profile", str(site), "--workflow-profile", "profiles/slurm"),
        *("--configfile", config, "--slurm-status-command", "squeue"),
        *("--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "2", "--jobs", "6"),
    ]
    try:
        result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=1200)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"the Slurm run did not finish in 1200 s:\n{(error.stderr or b'')[-4000:]}")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:] + "\n" + (cluster.root / "slurmctld.log").read_text()[-3000:]
    assert "workflow specific profile profiles/slurm" in output
    assert_leave_one_surgeon_out(workdir / "results")
    assert (workdir / "results" / "provenance.json").exists()

    jobs = slurm_jobs(cluster)
    by_rule: dict[str, list[dict]] = {}
    for job in jobs:
        by_rule.setdefault(job["rule"], []).append(job)
    # the site's account reached every job; the workflow profile wiped nothing
    assert {job.get("Account") for job in jobs} == {"sospine_site"}, [j.get("Account") for j in jobs]
    # training: threads as CPUs, the site's memory cap, the GPU partition and one GPU
    for rule in ("train", "train_fold"):
        assert by_rule.get(rule), sorted(by_rule)
        for job in by_rule[rule]:
            assert job["Partition"] == "gpu" and job["NumCPUs"] == "8", job
            # memory as requested (MinMemoryNode; ReqTRES where memory is a consumable), one GPU booked
            assert job.get("MinMemoryNode") == "3000M" or "mem=3000M" in job.get("ReqTRES", ""), job["line"]
            assert re.search(r"gres[/:]gpu[:=]1\b", job["line"]), job["line"]
    assert len(by_rule["train_fold"]) == 3  # one per surgeon
    # a fold's export and prediction: their own threads as CPUs, the site's default partition
    for rule in ("export_yolo_fold", "predict_fold"):
        assert {(j["NumCPUs"], j["Partition"]) for j in by_rule[rule]} == {("4", "cpu")}, by_rule[rule]
    # the command detector: once per fold, with its own threads as CPUs and no GPU (gpus: 0)
    assert len(by_rule["command_detector_fold"]) == 3
    assert {j["NumCPUs"] for j in by_rule["command_detector_fold"]} == {"2"}
    for job in by_rule["command_detector_fold"]:  # its own mem_mb
        assert job.get("MinMemoryNode") == "3000M" or "mem=3000M" in job.get("ReqTRES", ""), job["line"]
    assert not any(re.search(r"gres[/:]gpu", j["line"]) for j in by_rule["command_detector_fold"])
    assert {j["NumCPUs"] for j in by_rule["score"]} == {"1"}
    # downloads and trivial rules never went to Slurm
    assert not set(by_rule) & {"all", "provenance", "validation_gate", "loso_summary", "data_source", "fetch_weights"}
    train_log = (workdir / "results" / "logs" / "train" / "yolo.log").read_text()
    assert re.search(r"SLURM_JOB_ID=\d+", train_log), train_log[:2000]
    assert re.search(r"(SLURM_JOB_GPUS|SLURM_GPUS_ON_NODE|CUDA_VISIBLE_DEVICES)=\S+", train_log), train_log[:2000]
    assert list((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
