"""A real single-node Slurm cluster on localhost, for the tests and the benchmark of
``--executor slurm`` (not needed to grade on a real cluster).

Debian's ``slurm-wlm`` and ``munge`` (installed with apt-get when missing and we are root):
a munge key and daemon of its own, a ``slurm.conf`` in a temporary folder (one node with
this machine's cores and memory, one partition, free ports, no accounting, no cgroups), and
``slurmctld`` and ``slurmd`` started from it. Anything that stops it raises
``ClusterError`` with the reason (the tests fail with it: nothing is skipped). Usable as
``with LocalSlurm(folder) as cluster:`` (it sets ``SLURM_CONF`` for this process meanwhile).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")
PARTITION = "grading"


class ClusterError(RuntimeError):
    """The local Slurm could not be installed, configured or started."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 - 512
    raise ClusterError("cannot read MemTotal from /proc/meminfo")


def install() -> None:
    """Install slurm-wlm and munge with apt-get when a daemon is missing."""
    if all(shutil.which(tool) for tool in ("slurmctld", "slurmd", "munged", "sbatch")):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ClusterError("slurm-wlm and munge are not installed, and cannot be here "
                           "(apt-get as root is needed): apt-get install slurm-wlm munge")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ClusterError(f"{' '.join(command)} failed: {done.stderr[-2000:]}")


def _start(command: list[str], what: str, log: Path) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = log.read_text()[-2000:] if log.exists() else ""
        raise ClusterError(f"{what} did not start: {done.stderr.strip()} {tail}")


class LocalSlurm:
    """One node (``localhost``) and one partition (``PARTITION``), configured in ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.conf = self.root / "slurm.conf"
        self._saved: str | None = None
        self.pid_files = [self.root / "run" / n for n in ("slurmd.pid", "slurmctld.pid",
                                                           "munged.pid")]

    def start(self, timeout_s: float = 60) -> None:
        install()
        run, log = self.root / "run", self.root / "log"
        for folder in (run, log, self.root / "state", self.root / "spool"):
            folder.mkdir(parents=True, exist_ok=True)
        key, sock = self.root / "munge.key", run / "munge.sock"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        _start(["munged", "--force", f"--key-file={key}", f"--socket={sock}",
                f"--pid-file={run / 'munged.pid'}", f"--log-file={log / 'munged.log'}",
                f"--seed-file={run / 'munge.seed'}"], "munged", log / "munged.log")
        self.conf.write_text(self.config(sock), encoding="utf-8")
        _start(["slurmctld", "-f", str(self.conf)], "slurmctld", log / "slurmctld.log")
        _start(["slurmd", "-f", str(self.conf)], "slurmd", log / "slurmd.log")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True,
                                   text=True, env=self.env(), check=False).stdout.strip()
            if state in ("idle", "mixed", "allocated"):
                return
            time.sleep(0.5)
        raise ClusterError(f"the node never came up (sinfo: {state!r}); "
                           f"{(log / 'slurmctld.log').read_text()[-1500:]}")

    def config(self, munge_socket: Path) -> str:
        r = self.root
        return "\n".join([
            "ClusterName=autogradetest", "SlurmctldHost=localhost",
            "SlurmUser=root", "SlurmdUser=root",
            "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={munge_socket}",
            f"StateSaveLocation={r / 'state'}", f"SlurmdSpoolDir={r / 'spool'}",
            f"SlurmctldPidFile={r / 'run' / 'slurmctld.pid'}",
            f"SlurmdPidFile={r / 'run' / 'slurmd.pid'}",
            f"SlurmctldPort={_free_port()}", f"SlurmdPort={_free_port()}",
            f"SlurmctldLogFile={r / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={r / 'log' / 'slurmd.log'}",
            # no cgroups, no accounting database: what a container can run
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "SchedulerType=sched/backfill", "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory", "ReturnToService=2", "MpiDefault=none",
            f"NodeName=localhost CPUs={os.cpu_count()} RealMemory={_memory_mb()} State=UNKNOWN",
            f"PartitionName={PARTITION} Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
            "",
        ])

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def __enter__(self) -> LocalSlurm:
        self._saved = os.environ.get("SLURM_CONF")
        self.start()
        os.environ["SLURM_CONF"] = str(self.conf)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = self._saved
        self.stop()

    def stop(self) -> None:
        """Cancel the jobs still there, then end the daemons this cluster started (by their
        pid files), node first (a job left running would keep its srun waiting)."""
        if self.conf.exists():
            subprocess.run(["scancel", "--partition", PARTITION], env=self.env(),
                           capture_output=True, check=False)
            time.sleep(1)
        for pid_file in self.pid_files:
            try:
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
            except (OSError, ValueError, IndexError):
                continue
            time.sleep(0.5)
