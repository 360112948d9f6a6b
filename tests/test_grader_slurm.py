"""``--executor slurm`` against a real single-node Slurm started on localhost
(tests/slurm_cluster.py): the toy class gets the local reports, a killed grader waits for
its Slurm jobs instead of submitting them again, a job that dies or is cancelled is an
internal error and never a grade, and two bundled samples get their expected scores.

Nothing here is skipped: a machine where Slurm cannot be installed or started fails the
fixture with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from autograder.config import Settings
from autograder.localslurm import PARTITION, LocalSlurm
from autograder.pipeline import run_batch
from engine_scenarios.dispatch_helpers import (
    DyingPlugin,
    assert_killed_grader_resumes,
    class_folder,
    comparable,
    python_path,
    settings,
    submitted,
)
from engine_scenarios.toy_plugin import ToyPlugin
from hw3_fixtures.samples import expected_scores

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "submissions"
ON_SLURM = {"executor": "slurm", "slurm_partition": PARTITION, "slurm_cpus": 1,
            "slurm_mem_gb": 1, "slurm_time_min": 20}


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def on_slurm(slurm, monkeypatch):
    """sbatch and squeue of this process reach the test cluster; its jobs import the toy
    plug-in."""
    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    monkeypatch.setenv("PYTHONPATH", python_path())
    return slurm


def test_slurm_gives_the_local_reports(tmp_path: Path, on_slurm) -> None:
    folder = class_folder(tmp_path, {"ann": "perfect", "ben": "wrong_answers",
                                     "cat": "messy_notebook"})
    local = run_batch(settings(folder, tmp_path / "local"), ToyPlugin(), say=lambda _: None)
    jobs = run_batch(settings(folder, tmp_path / "slurm", **ON_SLURM), ToyPlugin(),
                     say=lambda _: None)
    assert jobs.graded == ["ann", "ben", "cat"] and not jobs.failures
    assert comparable(jobs.reports) == comparable(local.reports)


def test_a_dead_or_cancelled_job_is_an_internal_error(tmp_path: Path, on_slurm) -> None:
    folder = class_folder(tmp_path, {"ann": "perfect", "dan": "missing_lab2",
                                     "eve": "perfect"})
    out = tmp_path / "out"

    def cancel_eve() -> None:  # a node lost under a running job, as the grader sees it
        deadline = time.monotonic() + 60
        while "eve" not in submitted(out) and time.monotonic() < deadline:
            time.sleep(0.05)
        subprocess.run(["scancel", submitted(out)["eve"]], check=False)

    canceller = threading.Thread(target=cancel_eve)
    canceller.start()
    result = run_batch(settings(folder, out, **ON_SLURM), DyingPlugin(), say=lambda _: None)
    canceller.join()
    assert result.graded == ["ann"]
    assert [f.student_id for f in result.failures] == ["dan", "eve"]
    assert [r.student_id for r in result.reports] == ["ann"]
    grades = (out / "grades.csv").read_text()
    assert "dan" not in grades and "eve" not in grades


def test_a_gpu_request_the_cluster_refuses_is_an_internal_error(tmp_path: Path,
                                                               on_slurm) -> None:
    """--gpu on asks each job for the GPU gres; this node has none, so sbatch refuses the
    jobs: internal errors, nothing graded (the CPU side of the GPU request)."""
    folder = class_folder(tmp_path, {"ann": "perfect", "ben": "wrong_answers"})
    result = run_batch(settings(folder, tmp_path / "out", gpu="on", **ON_SLURM), ToyPlugin(),
                       say=lambda _: None)
    assert result.graded == [] and [f.student_id for f in result.failures] == ["ann", "ben"]
    assert all(f.stage == "submitting the cluster job" for f in result.failures)
    assert "gres" in result.failures[0].summary.lower() or "gres" in \
        result.failures[0].traceback.lower()


def test_killed_grader_waits_for_its_slurm_jobs(tmp_path: Path, on_slurm) -> None:
    env = {**os.environ, "AUTOGRADE_SLURM_CPUS": "1", "AUTOGRADE_SLURM_MEM_GB": "1"}
    assert_killed_grader_resumes(tmp_path, "--executor", "slurm", "--slurm-partition",
                                 PARTITION, env=env)


@pytest.mark.slow
def test_samples_on_slurm_keep_their_expected_scores(tmp_path: Path, on_slurm) -> None:
    names = ["bug-perplexity-padding", "reference"]  # the order intake finds them in
    folder = tmp_path / "class"
    folder.mkdir()
    for name in names:
        shutil.copytree(SAMPLES / name, folder / name)  # intake follows no links
    result = run_batch(Settings(submissions=(folder,), out=tmp_path / "out", progress=False,
                                **{**ON_SLURM, "slurm_cpus": 2, "slurm_mem_gb": 4}),
                       say=lambda _: None)
    assert result.graded == names and not result.failures
    expected = expected_scores()
    for report in result.reports:
        assert not report.error, report.error
        lost = sorted(c.check_id for item in report.items if not item.manual
                      for c in item.checks if not c.passed)
        assert lost == expected[report.student_id]["lost_checks"]
