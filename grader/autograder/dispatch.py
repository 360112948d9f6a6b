"""Where a batch's submissions are graded: threads of this process, or one job per
submission through submitit (its local executor, or a Slurm cluster).

Every executor yields a finished submission as soon as it finishes, as ``Done``: the
report, or an ``InternalFailure`` (failures.py: the grader's fault, also a lost node or a
cancelled or timed-out job), never a grade: the pipeline keeps it out of the gradebook, so
the next run grades that student again.

A submitit job runs `grade_on_node`, which rebuilds the batch where it runs (isolation and
GPU chosen there, the plug-in prepared there under a file lock) and grades with the same
`Grader` as the local executor, so a submission gets the same report on either. Submitted
job ids are recorded in the gradebook as they are submitted: a grader killed mid-batch and
run again waits for its jobs instead of submitting them again.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Settings
from .failures import InternalFailure
from .gradebook import Gradebook
from .intake import Candidate
from .models import SubmissionReport
from .sandbox.isolation import USERS_PER_GRADER, drops_privileges

if TYPE_CHECKING:
    from .pipeline import Grader
    from .plugin import BatchContext, HomeworkPlugin

log = logging.getLogger("autograder")

POLL_S = 2.0  # how often submitit jobs are looked at


@dataclass(frozen=True)
class Task:
    """One submission to grade: the student, the fingerprint of its files, its gradebook key."""

    candidate: Candidate
    digest: str
    key: str


@dataclass(frozen=True)
class Done:
    """A finished task: its report, or the grader's fault that stopped it."""

    task: Task
    outcome: SubmissionReport | InternalFailure


def grade_locally(grader: Grader, tasks: Sequence[Task], workers: int) -> Iterator[Done]:
    """Grade ``tasks`` on ``workers`` threads of this process (the sandboxes are processes;
    the threads wait on them), yielding each as it finishes."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grade") as pool:
        futures = {pool.submit(grader.grade, t.candidate, t.digest): t for t in tasks}
        for future in as_completed(futures):
            task = futures[future]
            try:
                yield Done(task, future.result())
            except Exception as exc:  # noqa: BLE001 - Grader.grade returns its faults
                yield Done(task, InternalFailure.from_exception(
                    task.candidate.student_id, "grading thread", exc))


# ---------------------------------------------------------------------------- submitit


def grade_on_node(plugin: HomeworkPlugin, settings: Settings, cache_dir: Path,
                  candidate: Candidate, digest: str, with_gpu: bool
                  ) -> SubmissionReport | InternalFailure:
    """Grade one submission where a submitit job runs (a Slurm node, or a local process).

    Raises (the job then fails, which the grader reports as an internal error) when the
    node cannot grade: no isolation, no GPU although one was asked for, a plug-in that
    cannot prepare.
    """
    from .archives import Budget
    from .pipeline import Grader, archive_limits
    from .plugin import BatchContext
    from .sandbox.gpu import choose_gpu
    from .sandbox.isolation import choose

    isolation = choose(settings.isolation, allow_unsafe=settings.allow_unsafe_isolation,
                       real_data=settings.data != "fixtures")
    gpu = choose_gpu("on") if with_gpu else None
    batch = BatchContext(settings, cache_dir, gpu)
    with open(cache_dir / ".prepare.lock", "w") as lock:  # one node stages data at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        prepared = plugin.prepare(batch)
    with tempfile.TemporaryDirectory(prefix="autograde-node-") as tmp:
        grader = Grader(plugin, batch, prepared, isolation, Path(tmp),
                        lambda: Budget(archive_limits(settings)))
        return grader.grade(candidate, digest)


def _executor(settings: Settings, folder: Path, with_gpu: bool) -> Any:
    import submitit

    cluster = "slurm" if settings.executor == "slurm" else "local"
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    executor.update_parameters(timeout_min=settings.slurm_time_min,
                               cpus_per_task=settings.slurm_cpus, mem_gb=settings.slurm_mem_gb,
                               name="autograde")
    if cluster == "slurm":
        extra: dict[str, Any] = {"slurm_gres": settings.slurm_gres} if with_gpu else {}
        if settings.slurm_partition:
            extra["slurm_partition"] = settings.slurm_partition
        executor.update_parameters(**extra)
    return executor


def _reattach(settings: Settings, folder: Path, job_id: str) -> Any:
    import submitit

    if settings.executor == "slurm":
        return submitit.SlurmJob(folder, job_id)
    return submitit.LocalJob(folder, job_id)


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError):
        return False
    return True


def _slurm_queue(job_ids: Sequence[str]) -> set[str] | None:
    """The ids among ``job_ids`` that Slurm still lists (pending, running, completing);
    None when the queue cannot be read (then nothing is concluded)."""
    if not job_ids:
        return set()
    done = subprocess.run(["squeue", "-h", "-o", "%i", "-j", ",".join(job_ids)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:  # every id unknown, or the controller unreachable
        return set() if "Invalid job id" in done.stderr else None
    return set(done.stdout.split())


def _ended(settings: Settings, jobs: Sequence[Any]) -> list[Any]:
    """The jobs that have ended, well or not: a result is there, or (Slurm) the job left the
    queue without one (read from ``squeue``: ``sacct``, which submitit asks, is off on small
    clusters without accounting), or (a re-attached local job) its process is gone."""
    if settings.executor == "slurm":
        queued = _slurm_queue([str(job.job_id) for job in jobs])
        return [job for job in jobs if job.paths.result_pickle.exists()
                or (queued is not None and str(job.job_id) not in queued)]
    ended = []
    for job in jobs:
        process = getattr(job, "_process", None)
        gone = process.poll() is not None if process is not None else not _alive(job.job_id)
        if gone or job.paths.result_pickle.exists():
            ended.append(job)
    return ended


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def _outcome(task: Task, job: Any) -> Done:
    """The outcome of an ended job: what ``grade_on_node`` returned, or the job's failure.
    A job that left no result (killed, cancelled, its node lost) is not waited for
    (submitit would wait on ``sacct``)."""
    student, stage = task.candidate.student_id, f"cluster job {job.job_id}"
    if not job.paths.result_pickle.exists():
        log_tail = _tail(job.paths.stderr, 20)
        return Done(task, InternalFailure(
            student, stage, "the job ended without a result (cancelled, killed, out of time "
            "or its node lost)", log_tail or "no log"))
    try:
        outcome = job.result()
    except Exception as exc:  # noqa: BLE001 - a failed job is the grader's fault
        return Done(task, InternalFailure.from_exception(student, stage, exc))
    if not isinstance(outcome, SubmissionReport | InternalFailure):
        return Done(task, InternalFailure(student, stage, "the job returned "
                                          f"{type(outcome).__name__}", ""))
    return Done(task, outcome)


def grade_with_submitit(plugin: HomeworkPlugin, batch: BatchContext, tasks: Sequence[Task],
                        book: Gradebook, with_gpu: bool,
                        poll_s: float = POLL_S) -> Iterator[Done]:
    """One submitit job per task (the local executor runs ``settings.workers`` at a time;
    Slurm gets every job at once and queues them), yielding each as it ends.

    A task whose job id the gradebook holds under the same key is waited for, not submitted
    again. A job's id is forgotten once its end is yielded.
    """
    settings = batch.settings
    folder = Path(settings.out).resolve() / ".submitit"
    executor = _executor(settings, folder, with_gpu)
    limit = settings.workers if settings.executor == "submitit-local" else len(tasks)
    running: dict[str, tuple[Task, Any]] = {}
    waiting = list(tasks)
    for task in tasks:  # jobs of an earlier, killed run of this batch
        job_id = book.submitted_job(task.candidate.student_id, task.key)
        if job_id is not None:
            running[task.candidate.student_id] = (task, _reattach(settings, folder, job_id))
            waiting.remove(task)
    cache_dir = Path(batch.cache_dir).resolve()
    while waiting or running:
        while waiting and len(running) < limit:
            task = waiting.pop(0)
            try:
                job = executor.submit(grade_on_node, plugin, settings, cache_dir,
                                      task.candidate, task.digest, with_gpu)
            except Exception as exc:  # noqa: BLE001 - sbatch refused it (gres, partition...)
                yield Done(task, InternalFailure.from_exception(
                    task.candidate.student_id, "submitting the cluster job", exc))
                continue
            book.record_submitted(task.candidate.student_id, task.key, str(job.job_id))
            running[task.candidate.student_id] = (task, job)
        ended = {id(job) for job in _ended(settings, [job for _, job in running.values()])}
        for sid in [sid for sid, (_, job) in running.items() if id(job) in ended]:
            task, job = running.pop(sid)
            yield _outcome(task, job)
            book.forget_submitted(sid)
        if not ended:
            time.sleep(poll_s)


def dispatch(grader: Grader, tasks: Sequence[Task], book: Gradebook, with_gpu: bool
             ) -> Iterator[Done]:
    """The finished tasks, in the order they finish, from the executor the settings name."""
    settings = grader.batch.settings
    if settings.executor == "local":
        workers = settings.workers
        if drops_privileges(grader.isolation):  # every sandbox of this grader needs a user
            workers = min(workers, max(1, USERS_PER_GRADER // settings.job_workers))
        return grade_locally(grader, tasks, workers)
    return grade_with_submitit(grader.plugin, grader.batch, tasks, book, with_gpu)

