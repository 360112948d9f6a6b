"""The grading flow, per submission and over a batch:

    intake -> extract -> plan (plug-in) -> run (sandbox) -> judge (plug-in) -> score
        -> record (gradebook) ... then every reporter over the finished reports.

A broken submission never stops the batch. Each submission ends graded (a report),
refused (a report whose ``error`` gives the reason: an unsafe or unreadable archive) or
with an internal error (failures.py): a fault of the grader is never stored as a grade.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from . import __version__
from .archives import ArchiveLimits, Budget
from .config import Settings
from .dispatch import Task, dispatch
from .errors import BadNotebook, BadSubmission
from .extract import ExtractedNotebook, read_notebook
from .failures import InternalFailure, write_staff_report
from .form import FormRule
from .gradebook import Gradebook
from .intake import Candidate, discover, fingerprint, unpack
from .jobcache import JobCache, job_key
from .keys import code_digest, derive_key, engine_digest, plugin_modules
from .models import (
    OUTBOX_INPUT,
    CheckResult,
    FormVerdict,
    Isolation,
    Job,
    JobOutcome,
    Premark,
    SubmissionReport,
)
from .plugin import (
    BatchContext,
    HomeworkPlugin,
    SubmissionContext,
    load_plugin,
    plugin_notes,
)
from .premarks import suggest
from .regrade import write_regrade
from .reporters import write_all
from .sandbox.gpu import choose_gpu
from .sandbox.isolation import check_workers, choose
from .sandbox.runner import SandboxLimits, run_job
from .scoring import score

log = logging.getLogger("autograder")


@dataclass
class BatchResult:
    """What a batch run produced."""

    reports: list[SubmissionReport]
    isolation: Isolation
    gpu: str | None = None  # the GPU the training items ran on; None: the CPU
    graded: list[str] = field(default_factory=list)  # student ids graded in this run
    skipped: list[str] = field(default_factory=list)  # already in the gradebook
    problems: list[str] = field(default_factory=list)  # inputs that were not submissions
    failures: list[InternalFailure] = field(default_factory=list)  # not graded: grader faults
    outputs: dict[str, Path] = field(default_factory=dict)


def sandbox_limits(settings: Settings) -> SandboxLimits:
    return SandboxLimits(memory_mb=settings.memory_mb, max_processes=settings.max_processes,
                         max_file_mb=settings.max_file_mb,
                         output_cap_bytes=settings.output_cap_kb * 1024,
                         disk_mb=settings.disk_mb,
                         threads=settings.threads)


def archive_limits(settings: Settings) -> ArchiveLimits:
    return ArchiveLimits(max_bytes=settings.zip_max_mb << 20, max_files=settings.zip_max_files,
                         max_ratio=settings.zip_max_ratio)


def _readable(folder: Path) -> None:
    """Let any sandbox user read ``folder`` (a finished job's outbox, links already removed),
    whichever user wrote it."""
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def _read_notebooks(submission, plugin: HomeworkPlugin
                    ) -> tuple[dict[str, ExtractedNotebook], dict[str, str], list[str]]:
    """(readable notebooks, lab -> why a lab cannot be graded, notes on the cells)."""
    notebooks: dict[str, ExtractedNotebook] = {}
    unavailable: dict[str, str] = {}
    notes: list[str] = []
    for lab, path in submission.notebooks.items():
        name = plugin.notebooks[lab]
        if path is None:
            unavailable[lab] = f"{name} was not found in the submission, so this item scores 0"
            continue
        try:
            notebooks[lab] = read_notebook(path, plugin.path_redirects)
        except BadNotebook as exc:  # said without the grader's own (temporary) folders
            why = str(exc).replace(str(path), path.name)
            unavailable[lab] = f"{name} could not be read ({why}), so this item scores 0"
            continue
        notes.extend(f"{name}, {problem}" for problem in notebooks[lab].problems)
    return notebooks, unavailable, notes


@dataclass(frozen=True)
class Grader:
    """Grades submissions with a prepared plug-in; several at once on ``workers`` threads.

    Only the sandbox jobs run in parallel: the plug-in's ``plan`` and ``judge`` (its code in
    the grader's process, which may load models with libraries that are not thread-safe,
    such as transformers' weight initialisation) run one submission at a time, under
    ``plugin_lock``."""

    plugin: HomeworkPlugin
    batch: BatchContext
    prepared: object  # what the plug-in's ``prepare`` returned
    isolation: Isolation
    staging: Path
    budget_factory: Callable[[], Budget]
    plugin_lock: threading.Lock = field(default_factory=threading.Lock)

    def _report(self, student_id: str, results: Iterable[CheckResult], *,
                unavailable: Mapping[str, str], form: FormVerdict, error: str = "",
                problems: Iterable[str] = (), fingerprint_: str, started: float,
                premarks: tuple[Premark, ...] = ()) -> SubmissionReport:
        rubric = self.plugin.rubric
        return SubmissionReport(
            student_id=student_id, items=score(rubric, results, unavailable), cap=rubric.cap,
            form=form, isolation=self.isolation.value, gpu=self.batch.gpu or "", error=error,
            problems=tuple(problems),
            fingerprint=fingerprint_, plugin=self.plugin.name, kit_version=__version__,
            seconds=round(time.monotonic() - started, 2), premarks=premarks)

    def _cache(self) -> JobCache | None:
        settings = self.batch.settings
        return JobCache(self.batch.cache_dir / "jobs", int(settings.cache_max_gb * 1e9)) \
            if settings.job_cache else None

    def _prepared(self, job: Job) -> Job:
        scale = self.batch.settings.timeout_scale  # plug-ins scale the limits they set
        return dataclasses.replace(job, load_timeout_s=job.load_timeout_s * scale)

    def _run_chain(self, first: Job, followers: list[Job], work: Path) -> dict[str, JobOutcome]:
        """Run ``first``, then each job that reads its outbox (in a fresh sandbox, the
        outbox bound read-only). Outcomes come from the cache only when every job of the
        chain is there: the outbox itself is never cached."""
        limits = sandbox_limits(self.batch.settings)
        cache = self._cache()
        jobs = [self._prepared(first), *(self._prepared(j) for j in followers)]
        libraries = tuple(getattr(self.plugin, "libraries", ()))
        keys = [job_key(job, self.isolation, limits, libraries) for job in jobs] \
            if cache else []
        if len(keys) > 1:  # a follower's result depends on what the first job left
            keys[1:] = [derive_key(job=k, after=keys[0]) for k in keys[1:]]
        if cache:
            cached = [cache.get(key, job.job_id) for key, job in zip(keys, jobs)]
            if all(o is not None for o in cached):
                return {job.job_id: o for job, o in zip(jobs, cached)}
        outcomes = {first.job_id: self._timed(jobs[0], work, limits)}
        outbox = outcomes[first.job_id].outbox
        for job in jobs[1:]:
            if outbox is not None:
                _readable(outbox)
                job = dataclasses.replace(job, files={**job.files, OUTBOX_INPUT: outbox})
            outcomes[job.job_id] = self._timed(job, work, limits)
        if cache:
            for key, job in zip(keys, jobs):
                cache.put(key, outcomes[job.job_id])
        return outcomes

    def _timed(self, job: Job, work: Path, limits: SandboxLimits) -> JobOutcome:
        """Run one job in the sandbox and log its seconds (bench_grade reads them)."""
        outcome = run_job(job, work / _safe_name(job.job_id), self.isolation, limits)
        log.info("job %s of %s: %.1f s (%s)", job.job_id, work.name.removesuffix(".work"),
                 outcome.seconds, "GPU" if job.gpu and self.batch.gpu else "CPU")
        return outcome

    def _run_jobs(self, jobs: list[Job], work: Path) -> dict[str, JobOutcome]:
        """Every job's outcome; `job_workers` chains at a time, in the plug-in's order (a job
        that reads another's outbox runs right after it, in the same worker)."""
        firsts_ids = {job.job_id for job in jobs if not job.reads_outbox_of}
        for job in jobs:  # one level: a follower reads the outbox of a job that reads none
            if job.reads_outbox_of and job.reads_outbox_of not in firsts_ids:
                raise ValueError(f"job {job.job_id!r} reads the outbox of "
                                 f"{job.reads_outbox_of!r}, which is not planned or reads "
                                 "another job's outbox itself")
        firsts = [job for job in jobs if not job.reads_outbox_of]
        with ThreadPoolExecutor(max_workers=self.batch.settings.job_workers) as pool:
            futures = [pool.submit(self._run_chain, job,
                                   [j for j in jobs if j.reads_outbox_of == job.job_id], work)
                       for job in firsts]
            done: dict[str, JobOutcome] = {}
            for future in futures:
                done.update(future.result())
        return {job.job_id: done[job.job_id] for job in jobs}

    def grade(self, candidate: Candidate, digest: str) -> SubmissionReport | InternalFailure:
        """Grade one student (``digest``: the fingerprint of its files). A bad submission
        is a report (refused: ``error`` says why); a fault of the grader, the plug-in or the
        sandbox set-up is an InternalFailure, never a grade. Never raises an Exception."""
        started = time.monotonic()
        rule = FormRule(deduction=self.plugin.rubric.form_deduction)
        try:
            submission = unpack(candidate, self.staging, self.plugin.notebooks, rule,
                                self.budget_factory(), digest)
        except BadSubmission as exc:  # unsafe or unreadable: refused, with the reason
            why = str(exc)
            every_lab = {lab: f"the submission could not be unpacked: {why}"
                         for lab in self.plugin.notebooks}
            return self._report(candidate.student_id, [], unavailable=every_lab,
                                form=FormVerdict(rule.deduction, (why,)), error=why,
                                fingerprint_=digest, started=started)
        except Exception as exc:  # noqa: BLE001 - the grader's fault, reported to staff
            log.exception("unpacking %s failed", candidate.student_id)
            shutil.rmtree(self.staging / candidate.student_id, ignore_errors=True)
            return InternalFailure.from_exception(candidate.student_id, "unpacking", exc)
        work = self.staging / f"{candidate.student_id}.work"
        stage = "reading the notebooks"
        try:
            notebooks, unavailable, notes = _read_notebooks(submission, self.plugin)
            ctx = SubmissionContext(self.batch, submission, notebooks, work, self.prepared)
            stage = "planning (plug-in)"
            with self.plugin_lock:
                jobs = self.plugin.plan(submission, ctx)
            stage = "running the sandbox jobs"
            outcomes = self._run_jobs(jobs, work)
            stage = "judging (plug-in checks)"
            with self.plugin_lock:
                results = self.plugin.judge(outcomes, ctx)
                notes = [*plugin_notes(self.plugin, ctx), *notes]
            stage = "scoring"
            return self._report(candidate.student_id, results, unavailable=unavailable,
                                form=submission.form,
                                problems=[*submission.problems, *notes],
                                fingerprint_=submission.fingerprint, started=started,
                                premarks=suggest(getattr(self.plugin, "answer_keys", {}),
                                                 submission.reports))
        except Exception as exc:  # noqa: BLE001 - the grader's fault, reported to staff
            log.exception("grading %s failed while %s", candidate.student_id, stage)
            return InternalFailure.from_exception(candidate.student_id, stage, exc)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(submission.root, ignore_errors=True)


def run_batch(settings: Settings, plugin: HomeworkPlugin | None = None,
              say: Callable[[str], None] = print) -> BatchResult:
    """Grade every submission in ``settings.submissions`` and write every output."""
    plugin = plugin or load_plugin(settings.plugin)
    isolation = choose(settings.isolation, allow_unsafe=settings.allow_unsafe_isolation,
                       real_data=settings.data != "fixtures")  # refused before any output
    check_workers(settings.job_workers, isolation)
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "settings.json").write_text(json.dumps(settings.to_json(), indent=2),
                                       encoding="utf-8")
    budget = lambda: Budget(archive_limits(settings))  # noqa: E731
    cluster = settings.executor != "local"  # nodes read the staged files: keep them in out
    with tempfile.TemporaryDirectory(prefix="autograde-", dir=out if cluster else None) as tmp, \
            Gradebook(out / "gradebook.sqlite") as book:
        staging = Path(tmp)
        candidates, problems = discover(settings.submissions, plugin.notebooks.values(),
                                        staging, budget())
        for problem in problems:
            say(f"skipped input: {problem}")
        if not candidates:
            raise BadSubmission("no submissions found in "
                                + ", ".join(str(p) for p in settings.submissions))
        gpu, with_gpu = _batch_gpu(settings)
        batch = BatchContext(settings, out / ".cache", gpu)
        batch.cache_dir.mkdir(exist_ok=True)
        prepared = plugin.prepare(batch)
        result = BatchResult(reports=[], isolation=isolation, gpu=gpu, problems=problems)
        grader = Grader(plugin, batch, prepared, isolation, staging, budget)
        before = book.reports()
        context = dict(rubric=plugin.rubric.fingerprint, plugin=plugin.name,
                       plugin_code=code_digest(*plugin_modules(plugin)),
                       engine=engine_digest(), data=settings.data, gpu=gpu or "cpu",
                       fast_training=settings.fast_training)
        tasks = []
        for cand in candidates:
            digest = fingerprint(cand.sources) if not cand.refused else \
                derive_key(refused=cand.refused)
            key = derive_key(submission=digest, **context)
            if not settings.regrade and book.lookup(cand.student_id, key) is not None:
                result.skipped.append(cand.student_id)
            else:
                tasks.append(Task(cand, digest, key))
        graded: set[str] = set()
        with tqdm(total=len(tasks), desc="grading", unit="submission",
                  disable=not settings.progress) as bar:
            for done in dispatch(grader, tasks, book, with_gpu):  # as each one finishes
                student = done.task.candidate.student_id
                if isinstance(done.outcome, InternalFailure):  # not stored: graded next run
                    result.failures.append(done.outcome)
                    say(f"internal error grading {student} ({done.outcome.stage}): "
                        f"{done.outcome.summary}")
                else:
                    book.record(done.outcome, done.task.key)
                    graded.add(student)
                bar.update()
        order = {c.student_id: i for i, c in enumerate(candidates)}
        result.failures.sort(key=lambda f: order[f.student_id])  # independent of the workers
        result.graded = [c.student_id for c in candidates if c.student_id in graded]
        failed = {f.student_id for f in result.failures}
        result.reports = book.reports([c.student_id for c in candidates
                                       if c.student_id not in failed])
        after = book.reports()
    result.outputs = write_all(result.reports, out)
    moved = write_regrade([r for r in before if r.student_id in result.graded],
                          [r for r in after if r.student_id in result.graded],
                          out / "regrades", "regrade")
    if moved:
        result.outputs["regrade"] = moved[1]
    staff = write_staff_report(result.failures, out)
    if staff is not None:
        result.outputs["internal errors (staff only)"] = staff
        say(f"{len(result.failures)} submission(s) not graded because of internal errors; "
            f"tracebacks in {staff}; the next run grades them again")
    return result


def _batch_gpu(settings: Settings) -> tuple[str | None, bool]:
    """(the GPU the batch's GPU jobs run on, as reports and the gradebook key name it;
    whether each submission's job asks its executor for one). Locally it is this machine's
    GPU; on Slurm, where the grader's own machine may have none, it is the gres every job
    asks for: with ``gpu on``, or ``auto`` on real data (full size)."""
    if settings.executor != "slurm":
        gpu = choose_gpu(settings.gpu)
        return gpu, gpu is not None
    wanted = settings.gpu == "on" or (settings.gpu == "auto" and settings.data != "fixtures")
    return (f"a Slurm GPU ({settings.slurm_gres})", True) if wanted else (None, False)
