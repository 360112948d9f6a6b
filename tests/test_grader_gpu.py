"""GPU mode of the grader, on a machine without one: which GPU a run takes, and that a
GPU job's sandbox lets the GPU in (device files, CUDA_VISIBLE_DEVICES, a data-segment
limit instead of the address-space limit that CUDA cannot start under) while every other
job stays shut out."""

from __future__ import annotations

import tomllib
import zipfile
from pathlib import Path

import pytest
from autograder.config import Settings, resolve
from autograder.errors import ConfigError, SandboxError
from autograder.extract import read_notebook
from autograder.models import Isolation, Job, Step
from autograder.plugin import BatchContext, SubmissionContext
from autograder.sandbox import runner
from autograder.sandbox.gpu import choose_gpu, device_files
from autograder.sandbox.isolation import works
from autograder.sandbox.runner import SandboxLimits, run_job
from hw3_plugin.plugin import FIXTURE_LIMITS, RANGES_FILE, Hw3Plugin, time_limits

LEVELS = [level for level in Isolation if works(level)]
MEMORY_MB = 900
REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "submissions" / "reference"

STUDENT = '''
import os, resource
def inside(device):
    return {"cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "as": resource.getrlimit(resource.RLIMIT_AS)[0],
            "data": resource.getrlimit(resource.RLIMIT_DATA)[0],
            "device": os.path.exists(device)}
'''


def test_choose_gpu_auto_on_off():
    found, none = (lambda: "NVIDIA H200"), (lambda: None)
    assert choose_gpu("auto", found) == "NVIDIA H200"
    assert choose_gpu("auto", none) is None
    assert choose_gpu("on", found) == "NVIDIA H200"
    assert choose_gpu("off", found) is None
    with pytest.raises(SandboxError, match="--gpu on: no CUDA GPU is usable here"):
        choose_gpu("on", none)


def test_gpu_setting_from_the_command_line_and_environment():
    assert Settings().gpu == "auto"
    assert resolve({"gpu": "off"}, env={}).gpu == "off"
    assert resolve({}, env={"AUTOGRADE_GPU": "on"}).gpu == "on"
    with pytest.raises(ConfigError, match="AUTOGRADE_GPU"):
        resolve({}, env={"AUTOGRADE_GPU": "maybe"})


def test_device_files_are_the_nvidia_ones(tmp_path: Path):
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "null", "sda"):
        (tmp_path / name).touch()
    (tmp_path / "nvidia-caps").mkdir()
    assert [p.name for p in device_files(tmp_path)] == [
        "nvidia-caps", "nvidia-uvm", "nvidia0", "nvidia1", "nvidiactl"]


@pytest.mark.parametrize("level", LEVELS, ids=lambda level: level.value)
def test_only_a_gpu_job_reaches_the_gpu(level, tmp_path, monkeypatch):
    fake = tmp_path / "nvidia0"  # a stand-in device file, bound like a real one
    fake.write_text("")
    monkeypatch.setattr(runner, "device_files", lambda: [fake])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    limits = SandboxLimits(memory_mb=MEMORY_MB)
    seen = {}
    for gpu in (True, False):
        job = Job("j", module_source=STUDENT, steps=(Step("s", "student:inside", (str(fake),)),),
                  gpu=gpu)
        outcome = run_job(job, tmp_path / f"box-{gpu}", level, limits)
        assert outcome["s"].ok, outcome["s"].message
        seen[gpu] = outcome["s"].value
    cap = MEMORY_MB << 20
    assert seen[True]["cuda"] == "3" and seen[True]["data"] == cap and seen[True]["as"] != cap
    assert seen[False]["cuda"] == "" and seen[False]["as"] == cap
    if level is Isolation.BWRAP:  # the other levels see the host's /dev anyway
        assert seen[True]["device"] and not seen[False]["device"]


def test_training_jobs_take_the_gpu_and_probes_do_not(tmp_path):
    plugin = Hw3Plugin()
    batch = BatchContext(Settings(data="fixtures"), tmp_path / "cache", gpu="NVIDIA H200")
    batch.cache_dir.mkdir()
    prepared = plugin.prepare(batch)
    with zipfile.ZipFile(REFERENCE / "code.zip") as archive:
        archive.extractall(tmp_path / "submission")
    notebooks = {lab: read_notebook(next((tmp_path / "submission").rglob(name)),
                                    plugin.path_redirects)
                 for lab, name in plugin.notebooks.items()}
    ctx = SubmissionContext(batch, None, notebooks, prepared=prepared)
    jobs = {job.job_id: job for job in plugin.plan(None, ctx)}
    assert {job_id: job.gpu for job_id, job in jobs.items()} == {
        "lab2.notebook": True, "lab2.measure": True, "lab1.training": True,
        "lab1.probes": False, "lab2.probes": False}  # the measurement job measures on the GPU
    assert jobs["lab1.training"].steps[0].timeout_s == FIXTURE_LIMITS["lab1_training"]
    assert jobs["lab2.notebook"].timeout_s == FIXTURE_LIMITS["lab2_notebook"]


def test_full_size_time_limits_come_from_the_ranges_file():
    ranges = tomllib.loads(RANGES_FILE.read_text(encoding="utf-8"))
    assert time_limits(False, ranges) == FIXTURE_LIMITS
    full = time_limits(True, ranges)
    assert full == {**FIXTURE_LIMITS, **ranges["time_limits"]}
    assert all(full[name] > FIXTURE_LIMITS[name] for name in FIXTURE_LIMITS)
