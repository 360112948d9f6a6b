"""Grading speed: seconds to grade one whole submission on the fixtures, on this machine.

    python -m hw3_plugin.bench_grade [--runs 3] [--sample reference] [--json bench-grade.json]
    python -m hw3_plugin.bench_grade --data ../shared/data --gpu on --fast-training off,on
    python -m hw3_plugin.bench_grade --class 8 --workers 1,2 [--executors local,slurm]
        [--gpu-seconds S] [--json bench-class.json]

Grades the bundled sample `--runs` times from scratch (no job cache, `--regrade`) and prints
the median seconds per submission and each sandbox job's time. Goal: under 60 s on a
2-core CPU, stretch 30 s. With `--class N`, grades a class of N copies of the samples once
per worker count and executor (`slurm`: a single-node Slurm started on localhost unless
SLURM_CONF names one) and prints seconds per submission, scaling efficiency and an
extrapolation to 200 students (`--gpu-seconds`: one full-size submission's seconds on one
GPU, for the GPU-node figure); see bench_class.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from autograder.config import Settings
from autograder.pipeline import run_batch

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "submissions"


class _JobTimes(logging.Handler):
    """Collects the engine's "job J of S: X s (where)" records: seconds per job."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds: dict[str, list] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("job %s of %s"):
            job, _, secs, where = record.args
            self.seconds.setdefault(job, []).append([round(secs, 1), where])


def measure(sample: Path, runs: int, out_root: Path, data: str = "fixtures",
            gpu: str = "auto", memory_mb: int | None = None, fast_training: str = "auto",
            job_workers: int | None = None, threads: int | None = None) -> dict:
    """Grade `sample` `runs` times; the wall seconds of each run, each job's seconds and the
    report's checks (`fast_training`: the setting of that name)."""
    seconds = []
    times = _JobTimes()
    engine = logging.getLogger("autograder")
    engine.addHandler(times)
    engine.setLevel(logging.INFO)
    extra = {**({"memory_mb": memory_mb} if memory_mb else {}),
             **({"job_workers": job_workers} if job_workers else {}),
             **({"threads": threads} if threads else {})}
    try:
        for run in range(runs):
            out = out_root / f"run{run}"
            started = time.perf_counter()
            result = run_batch(Settings(submissions=(sample,), out=out, regrade=True,
                                        job_cache=False, progress=False, data=data, gpu=gpu,
                                        fast_training=fast_training, **extra),
                               say=lambda _: None)
            seconds.append(time.perf_counter() - started)
            if result.failures:  # a fault of the grader: its traceback, not a figure
                failure = result.failures[0]
                raise RuntimeError(f"grading {sample.name} met an internal error at "
                                   f"{failure.stage}:\n{failure.traceback}")
            report = result.reports[0]
            if report.error:
                raise RuntimeError(f"grading {sample.name} failed: {report.error}")
    finally:
        engine.removeHandler(times)
    return {
        "sample": sample.name, "runs": runs, "seconds": [round(s, 1) for s in seconds],
        "median_seconds": round(statistics.median(seconds), 1),
        "score": f"{report.auto_points}/{report.auto_max}", "isolation": report.isolation,
        "data": data, "gpu": report.gpu or "", "fast_training": fast_training,
        "job_workers": job_workers, "threads": threads,
        "job_seconds": times.seconds,
        "checks": {c.check_id: [c.passed, c.detail or c.seen or c.message]
                   for item in report.items for c in item.checks},
        "cpus": os.cpu_count(), "machine": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sample", default="reference", help="a folder of fixtures/submissions")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--data", default="fixtures",
                        help="'fixtures' or a folder of real data (full size)")
    parser.add_argument("--gpu", default="auto", choices=("auto", "on", "off"))
    parser.add_argument("--memory-mb", type=int, default=None,
                        help="memory limit of a sandboxed process, MiB")
    parser.add_argument("--job-workers", type=int, default=None,
                        help="sandbox jobs of the submission run at once (default: the kit's)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads of each sandboxed job (default: the kit's)")
    parser.add_argument("--fast-training", default="auto",
                        help="the fast_training setting, or several (e.g. 'off,on': graded "
                        "once each, side by side: each job's seconds and every check)")
    parser.add_argument("--class", type=int, dest="class_size", default=0,
                        help="grade a class of this many copies of the samples")
    parser.add_argument("--workers", default="1,2", help="worker counts for --class")
    parser.add_argument("--executors", default="local,slurm",
                        help="executors for --class: local, submitit-local, slurm")
    parser.add_argument("--gpu-seconds", type=float, default=None,
                        help="one full-size submission's seconds on one GPU (extrapolation)")
    args = parser.parse_args(argv)
    if args.class_size:
        return _class(args)
    sample = SAMPLES / args.sample
    if not sample.is_dir():
        parser.error(f"no sample {sample}")
    choices = args.fast_training.split(",")
    if len(choices) > 1:
        return _side_by_side(sample, args, choices)
    with tempfile.TemporaryDirectory(prefix="hw3-bench-") as tmp:
        figures = measure(sample, args.runs, Path(tmp), args.data, args.gpu, args.memory_mb,
                          choices[0], args.job_workers, args.threads)
    print(f"grading one submission ({figures['sample']}, {figures['score']}, isolation "
          f"{figures['isolation']}, {figures['cpus']} CPUs): median {figures['median_seconds']} s"
          f" over {figures['runs']} runs {figures['seconds']} (goal < 60 s, stretch < 30 s)")
    print(f"data {figures['data']}, training items on {figures['gpu'] or 'the CPU'}; seconds "
          f"per job: {json.dumps(figures['job_seconds'])}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


def _side_by_side(sample: Path, args: argparse.Namespace, choices: list[str]) -> int:
    """Grade `sample` once per fast_training choice; print each job's seconds and every
    check's value in a table, column by column (the JSON is written after each choice)."""
    runs = {}
    for choice in choices:
        with tempfile.TemporaryDirectory(prefix="hw3-bench-") as tmp:
            runs[choice] = measure(sample, args.runs, Path(tmp), args.data, args.gpu,
                                   args.memory_mb, choice, args.job_workers, args.threads)
        if args.json:
            args.json.write_text(json.dumps(runs, indent=2) + "\n", encoding="utf-8")
    print("| | " + " | ".join(f"fast_training={c}" for c in choices) + " |")
    print("|---" * (len(choices) + 1) + "|")
    print("| seconds (median) | " + " | ".join(
        f"{runs[c]['median_seconds']} ({runs[c]['score']})" for c in choices) + " |")
    for job in sorted({j for c in choices for j in runs[c]["job_seconds"]}):
        print(f"| {job} s | " + " | ".join(
            str(runs[c]["job_seconds"].get(job, "-")) for c in choices) + " |")
    for check in sorted({k for c in choices for k in runs[c]["checks"]}):
        print(f"| {check} | " + " | ".join(
            "{} {}".format(*runs[c]["checks"].get(check, ["-", ""])).replace("|", "/")
            for c in choices) + " |")
    return 0


def _class(args: argparse.Namespace) -> int:
    from .bench_class import run

    figures = run(args.class_size, [int(w) for w in args.workers.split(",")],
                  args.executors.split(","), gpu_seconds=args.gpu_seconds)
    print(f"a class of {figures['class']} on {figures['cpus']} CPUs (shared with other work: "
          f"the figures are of this machine at this time)")
    print("| executor | workers | seconds | s / submission | efficiency |")
    print("| --- | --- | --- | --- | --- |")
    for row in figures["rows"]:
        print(f"| {row['executor']} | {row['workers']} | {row['seconds']} | "
              f"{row['seconds_per_submission']} | {row.get('efficiency', '-')} |")
    print(f"same points on every executor and worker count: "
          f"{figures['same_points_everywhere']}")
    print("extrapolation (not a measurement):", json.dumps(figures["extrapolation"]))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0 if figures["same_points_everywhere"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
