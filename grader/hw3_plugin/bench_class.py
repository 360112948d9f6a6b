"""Grading a class: seconds per submission and scaling efficiency over worker counts, on
this machine and through a single-node Slurm on localhost, with an extrapolation.

    python -m hw3_plugin.bench_grade --class 8 --workers 1,2 [--executors local,slurm]

The class is made of copies of the bundled samples (``--class N`` students, the samples
in turn: the reference, the starter, each known bug, the valid variants), graded from
scratch (no job cache, ``--regrade``) once per worker count and executor (on Slurm, w
workers are jobs that each ask for 1/w of this machine's CPUs, so the node runs w at a
time). Scaling
efficiency at w workers is (T_1 / T_w) / w. The extrapolations assume what the figures
show holds further: the cost of one submission stays the same and the efficiency measured
at the largest worker count holds on a bigger node.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from autograder.config import Settings
from autograder.pipeline import run_batch

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "submissions"


def build_class(size: int, target: Path) -> list[str]:
    """``size`` student folders under ``target``, copies of the samples in turn."""
    samples = sorted(p for p in SAMPLES.iterdir() if p.is_dir())
    ids = []
    for i in range(size):
        sample = samples[i % len(samples)]
        student = f"s{i:03d}-{sample.name}"
        shutil.copytree(sample, target / student)
        ids.append(student)
    return ids


def grade_class(folder: Path, out: Path, workers: int, executor: str) -> dict:
    """Grade the class once; wall seconds and each student's points."""
    cpus = os.cpu_count() or 1  # on Slurm, w workers: jobs of cpus/w CPUs, w at a time
    settings = Settings(submissions=(folder,), out=out, regrade=True, job_cache=False,
                        progress=False, workers=workers, executor=executor,
                        slurm_cpus=max(1, cpus // workers), slurm_mem_gb=4)
    started = time.perf_counter()
    result = run_batch(settings, say=lambda _: None)
    seconds = time.perf_counter() - started
    return {"executor": executor, "workers": workers, "seconds": round(seconds, 1),
            "seconds_per_submission": round(seconds / len(result.reports), 2),
            "internal_errors": [f.student_id for f in result.failures],
            "points": {r.student_id: r.auto_points for r in result.reports}}


def efficiency(rows: Sequence[dict]) -> None:
    """Add each row's scaling efficiency against the one-worker row of its executor."""
    for row in rows:
        base = next((r for r in rows if r["executor"] == row["executor"]
                     and r["workers"] == 1), None)
        if base is not None:
            row["efficiency"] = round(base["seconds"] / row["seconds"] / row["workers"], 2)


def extrapolate(rows: Sequence[dict], students: int = 200, node_cores: int = 16,
                gpu_nodes: int = 8, gpu_seconds: float | None = None) -> dict:
    """200 students on a 16-core node (from the local figures) and on GPU nodes (from the
    seconds one full-size submission takes on one GPU, when given), in minutes."""
    local = [r for r in rows if r["executor"] == "local"]
    if not any(r["workers"] == 1 for r in local):
        return {"assumes": "nothing: the extrapolation needs the local executor at 1 worker"}
    best = max(local, key=lambda r: r["workers"])
    cores = os.cpu_count() or 1
    one = next(r for r in local if r["workers"] == 1)["seconds_per_submission"]
    # one worker keeps about `job_workers` (2) cores busy: cores per worker-slot
    per_core = one * min(2, cores)  # core-seconds of one submission
    eff = best.get("efficiency", 1.0)
    out = {"assumes": f"a submission costs {per_core:.0f} core-seconds (one worker here: "
                      f"{one} s on {min(2, cores)} cores) and the efficiency measured at "
                      f"{best['workers']} workers ({eff}) holds",
           f"minutes_{students}_students_{node_cores}_core_node":
               round(students * per_core / (node_cores * eff) / 60, 1)}
    if gpu_seconds:
        out[f"minutes_{students}_students_{gpu_nodes}_gpu_nodes"] = round(
            students * gpu_seconds / gpu_nodes / 60, 1)
        out["gpu_seconds_per_submission"] = gpu_seconds
    return out


def run(size: int, workers: Sequence[int], executors: Sequence[str],
        gpu_seconds: float | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="hw3-bench-class-") as tmp:
        folder = Path(tmp) / "class"
        build_class(size, folder)
        rows = []
        cluster = None
        try:
            for executor in executors:
                if executor == "slurm" and "SLURM_CONF" not in os.environ:
                    from autograder.localslurm import LocalSlurm

                    cluster = LocalSlurm(Path(tmp) / "slurm").__enter__()
                for w in workers:
                    rows.append(grade_class(folder, Path(tmp) / f"out-{executor}-{w}", w,
                                            executor))
                    print(f"  {executor}, {w} worker(s): {rows[-1]['seconds']} s, "
                          f"{rows[-1]['seconds_per_submission']} s a submission", flush=True)
        finally:
            if cluster is not None:
                cluster.__exit__(None, None, None)
    efficiency(rows)
    same = len({json.dumps(r["points"], sort_keys=True) for r in rows}) == 1
    return {"class": size, "cpus": os.cpu_count(), "machine": platform.platform(),
            "rows": rows, "same_points_everywhere": same,
            "extrapolation": extrapolate(rows, gpu_seconds=gpu_seconds)}
