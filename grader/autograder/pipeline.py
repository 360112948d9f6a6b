"""The grading flow, per submission and over a batch:

    intake -> extract -> plan (plug-in) -> run (sandbox) -> judge (plug-in) -> score
        -> record (gradebook) ... then every reporter over the finished reports.

A broken submission never stops the batch, and a crash is still a report with a reason.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from . import __version__
from .archives import ArchiveLimits, Budget
from .config import Settings
from .errors import BadNotebook, BadSubmission
from .extract import ExtractedNotebook, read_notebook
from .form import FormRule
from .gradebook import Gradebook, grading_key
from .intake import Candidate, discover, fingerprint, unpack
from .jobcache import JobCache, job_key
from .models import CheckResult, FormVerdict, Isolation, Job, JobOutcome, SubmissionReport
from .plugin import BatchContext, HomeworkPlugin, SubmissionContext, load_plugin, plugin_notes
from .reporters import write_all
from .sandbox.gpu import choose_gpu
from .sandbox.isolation import choose
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
    outputs: dict[str, Path] = field(default_factory=dict)


def sandbox_limits(settings: Settings) -> SandboxLimits:
    return SandboxLimits(memory_mb=settings.memory_mb, max_processes=settings.max_processes,
                         max_file_mb=settings.max_file_mb,
                         output_cap_bytes=settings.output_cap_kb * 1024,
                         threads=settings.threads)


def archive_limits(settings: Settings) -> ArchiveLimits:
    return ArchiveLimits(max_bytes=settings.zip_max_mb << 20, max_files=settings.zip_max_files,
                         max_ratio=settings.zip_max_ratio)


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
    """Grades one submission at a time with a prepared plug-in."""

    plugin: HomeworkPlugin
    batch: BatchContext
    prepared: object  # what the plug-in's ``prepare`` returned
    isolation: Isolation
    staging: Path
    budget_factory: Callable[[], Budget]

    def _report(self, student_id: str, results: Iterable[CheckResult], *,
                unavailable: Mapping[str, str], form: FormVerdict, error: str = "",
                problems: Iterable[str] = (), fingerprint_: str, started: float
                ) -> SubmissionReport:
        rubric = self.plugin.rubric
        return SubmissionReport(
            student_id=student_id, items=score(rubric, results, unavailable), cap=rubric.cap,
            form=form, isolation=self.isolation.value, gpu=self.batch.gpu or "", error=error,
            problems=tuple(problems),
            fingerprint=fingerprint_, plugin=self.plugin.name, kit_version=__version__,
            seconds=round(time.monotonic() - started, 2))

    def _run_job(self, job: Job, work: Path) -> JobOutcome:
        limits = sandbox_limits(self.batch.settings)
        scale = self.batch.settings.timeout_scale  # plug-ins scale the limits they set
        job = dataclasses.replace(job, load_timeout_s=job.load_timeout_s * scale)
        cache = JobCache(self.batch.cache_dir / "jobs") if self.batch.settings.job_cache \
            else None
        libraries = tuple(getattr(self.plugin, "libraries", ()))
        key = job_key(job, self.isolation, limits, libraries) if cache else ""
        cached = cache.get(key, job.job_id) if cache else None
        if cached is not None:
            return cached
        outcome = run_job(job, work / _safe_name(job.job_id), self.isolation, limits)
        if cache:
            cache.put(key, outcome)
        return outcome

    def _run_jobs(self, jobs: list[Job], work: Path) -> dict[str, JobOutcome]:
        """Every job's outcome; `workers` jobs at a time, in the plug-in's order."""
        with ThreadPoolExecutor(max_workers=self.batch.settings.workers) as pool:
            futures = {job.job_id: pool.submit(self._run_job, job, work) for job in jobs}
            return {job_id: future.result() for job_id, future in futures.items()}

    def grade(self, candidate: Candidate, digest: str) -> SubmissionReport:
        """Grade one student (``digest``: the fingerprint of its files); never raises (a
        crash becomes the report's ``error``)."""
        started = time.monotonic()
        rule = FormRule(deduction=self.plugin.rubric.form_deduction)
        try:
            submission = unpack(candidate, self.staging, self.plugin.notebooks, rule,
                                self.budget_factory(), digest)
        except Exception as exc:  # noqa: BLE001 - unsafe or unreadable: a result, not a crash
            why = str(exc) if isinstance(exc, BadSubmission) else f"{type(exc).__name__}: {exc}"
            every_lab = {lab: f"the submission could not be unpacked: {why}"
                         for lab in self.plugin.notebooks}
            return self._report(candidate.student_id, [], unavailable=every_lab,
                                form=FormVerdict(rule.deduction, (why,)), error=why,
                                fingerprint_=digest, started=started)
        work = self.staging / f"{candidate.student_id}.work"
        try:
            notebooks, unavailable, notes = _read_notebooks(submission, self.plugin)
            ctx = SubmissionContext(self.batch, submission, notebooks, work, self.prepared)
            results, error = [], ""
            try:
                outcomes = self._run_jobs(self.plugin.plan(submission, ctx), work)
                results = self.plugin.judge(outcomes, ctx)
                notes = [*plugin_notes(self.plugin, ctx), *notes]
            except Exception as exc:  # noqa: BLE001 - a crash is still a result
                log.exception("grading %s failed", candidate.student_id)
                error = f"the grader failed: {type(exc).__name__}: {exc}"
            return self._report(candidate.student_id, results, unavailable=unavailable,
                                form=submission.form, error=error,
                                problems=[*submission.problems, *notes],
                                fingerprint_=submission.fingerprint, started=started)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(submission.root, ignore_errors=True)


def run_batch(settings: Settings, plugin: HomeworkPlugin | None = None,
              say: Callable[[str], None] = print) -> BatchResult:
    """Grade every submission in ``settings.submissions`` and write every output."""
    plugin = plugin or load_plugin(settings.plugin)
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "settings.json").write_text(json.dumps(settings.to_json(), indent=2),
                                       encoding="utf-8")
    budget = lambda: Budget(archive_limits(settings))  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="autograde-") as tmp, \
            Gradebook(out / "gradebook.sqlite") as book:
        staging = Path(tmp)
        candidates, problems = discover(settings.submissions, plugin.notebooks.values(),
                                        staging, budget())
        for problem in problems:
            say(f"skipped input: {problem}")
        if not candidates:
            raise BadSubmission("no submissions found in "
                                + ", ".join(str(p) for p in settings.submissions))
        isolation = choose(settings.isolation)  # both said in the CLI's closing summary
        gpu = choose_gpu(settings.gpu)
        batch = BatchContext(settings, out / ".cache", gpu)
        batch.cache_dir.mkdir(exist_ok=True)
        prepared = plugin.prepare(batch)
        result = BatchResult(reports=[], isolation=isolation, gpu=gpu, problems=problems)
        grader = Grader(plugin, batch, prepared, isolation, staging, budget)
        context = "\0".join((plugin.rubric.fingerprint, __version__, plugin.name,
                             settings.data, gpu or "cpu"))
        for cand in tqdm(candidates, desc="grading", unit="submission",
                         disable=not settings.progress):
            digest = fingerprint(cand.sources)
            key = grading_key(digest, context)
            if not settings.regrade and book.lookup(cand.student_id, key) is not None:
                result.skipped.append(cand.student_id)
                continue
            book.record(grader.grade(cand, digest), key)
            result.graded.append(cand.student_id)
        result.reports = book.reports([c.student_id for c in candidates])
    result.outputs = write_all(result.reports, out)
    return result
