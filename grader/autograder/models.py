"""The records that flow through grading: submissions, jobs, outcomes, results, reports.

Totals are properties computed from the parts, never stored fields.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


class Status(enum.StrEnum):
    """How one call into student code ended."""

    OK = "ok"
    ERROR = "error"  # the student code raised
    TIMEOUT = "timeout"  # ran past its wall-clock limit and was killed
    DIED = "died"  # the sandboxed process ended without answering
    MISSING = "missing"  # the function, class or notebook was not found
    LIMIT = "limit"  # a resource cap (memory, output size, file size) was hit


class Isolation(enum.StrEnum):
    """How strongly the sandbox shuts student code in, strongest first."""

    BWRAP = "bwrap"
    UNSHARE = "unshare"
    RLIMITS = "rlimits"


# ---------------------------------------------------------------------------- intake


@dataclass(frozen=True)
class FormVerdict:
    """The submission-form rule: a fractional deduction and every reason for it."""

    deduction: float = 0.0
    reasons: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.reasons


@dataclass(frozen=True)
class Submission:
    """One student's unpacked submission, as intake found it."""

    student_id: str
    sources: tuple[Path, ...]  # the files or folders given for this student
    root: Path  # the unpacked copy the grader works on
    notebooks: Mapping[str, Path | None]  # lab id -> notebook path (None: not found)
    reports: tuple[Path, ...] = ()  # PDF files found
    form: FormVerdict = FormVerdict()
    problems: tuple[str, ...] = ()  # notes for the feedback (nothing is deducted for them)
    fingerprint: str = ""  # sha256 over the submitted files' names and bytes


# ------------------------------------------------------------------------- execution


@dataclass(frozen=True)
class Step:
    """One call in the sandbox: ``call`` is ``"student:NAME"`` (a student function,
    called with ``args``/``kwargs``) or ``"MODULE:NAME"`` (a probe function from one of
    the job's probe modules, called as ``NAME(student_module, *args, **kwargs)``)."""

    step_id: str
    call: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    timeout_s: float = 30.0


OUTBOX_INPUT = "previous-outbox"  # where a job reads the outbox of ``reads_outbox_of``


@dataclass(frozen=True)
class Job:
    """Work for one sandboxed process.

    kind ``calls``: exec ``module_source`` into a fresh module, then run ``steps``.
    kind ``notebook``: execute ``notebook`` (nbformat JSON) with nbclient; one step,
    ``notebook``, whose value holds the cells' outputs and the JSON files that startup
    hooks wrote to the outbox folder (``$GRADER_OUTBOX``).
    """

    job_id: str
    kind: Literal["calls", "notebook"] = "calls"
    module_source: str = ""
    steps: tuple[Step, ...] = ()
    notebook: Mapping[str, Any] | None = None
    cell_timeout_s: float = 60.0
    timeout_s: float = 300.0  # whole notebook (kind ``notebook``)
    load_timeout_s: float = 60.0  # exec of module_source (kind ``calls``)
    probe_modules: tuple[Path, ...] = ()  # .py files or packages, importable in the child
    files: Mapping[str, Path] = field(default_factory=dict)  # work-dir name -> host path, RO
    writable_files: Mapping[str, Path] = field(default_factory=dict)  # copied, writable
    env: Mapping[str, str] = field(default_factory=dict)  # "{work}" expands to the work dir
    startup_files: Mapping[str, str] = field(default_factory=dict)  # IPython startup: name->code
    hidden_modules: tuple[str, ...] = ()  # top-level packages the child refuses to import
    gpu: bool = False  # the job sees the grader's GPU (sandbox/gpu.py)
    # The id of a job of the same plan whose outbox this job reads: it runs after that job
    # finishes, in a fresh sandbox, with that outbox bound read-only at ``OUTBOX_INPUT`` in
    # its work folder (e.g. a measurement of saved weights that the notebook cannot reach).
    reads_outbox_of: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("calls", "notebook"):
            raise ValueError(f"job {self.job_id!r}: unknown kind {self.kind!r}")
        if self.kind == "notebook" and self.notebook is None:
            raise ValueError(f"job {self.job_id!r}: kind 'notebook' needs a notebook")
        ids = [s.step_id for s in self.steps]
        if len(ids) != len(set(ids)):
            raise ValueError(f"job {self.job_id!r}: step ids repeat: {ids}")

    @property
    def step_ids(self) -> tuple[str, ...]:
        return ("notebook",) if self.kind == "notebook" else tuple(s.step_id for s in self.steps)


@dataclass(frozen=True)
class CallOutcome:
    """How one step ended. ``value`` is plain data (tensors arrive as numpy arrays)."""

    step_id: str
    status: Status
    value: Any = None
    message: str = ""
    seconds: float = 0.0
    stdout_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


@dataclass(frozen=True)
class JobOutcome:
    """Every step's outcome of one job, and how it was run."""

    job_id: str
    steps: Mapping[str, CallOutcome]
    isolation: Isolation
    load_errors: tuple[str, ...] = ()  # statements of the student module that failed
    seconds: float = 0.0
    outbox: Path | None = None  # host folder with files the job left (links removed)
    # Why the student module could not be loaded at all (timeout, crash, resource limit);
    # "" when it loaded. Every step then has the load's status and no value.
    load_failure: str = ""

    def __getitem__(self, step_id: str) -> CallOutcome:
        return self.steps[step_id]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict. ``fraction`` is 0..1 of the check's weight; ``points`` and
    ``max_points`` are filled in by scoring from the rubric."""

    check_id: str
    item_id: str
    fraction: float
    message: str = ""
    expected: str = ""
    seen: str = ""
    status: Status | None = None  # the outcome of the call that fed the check, if any
    points: float = 0.0
    max_points: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"check {self.check_id!r}: fraction {self.fraction} not in 0..1")

    @property
    def passed(self) -> bool:
        return self.fraction >= 1.0

    @classmethod
    def of(cls, check_id: str, item_id: str, passed: bool, message: str = "", **kw: Any):
        """A pass/fail check."""
        return cls(check_id, item_id, 1.0 if passed else 0.0, message, **kw)


@dataclass(frozen=True)
class ItemResult:
    """One rubric item: its checks with points, or a manual item awaiting a grader."""

    item_id: str
    title: str
    lab: str
    max_points: float
    manual: bool = False
    checks: tuple[CheckResult, ...] = ()
    note: str = ""  # why the item got nothing (e.g. the notebook is missing)
    manual_points: float | None = None  # entered by staff, for manual items

    @property
    def points(self) -> float | None:
        """Points earned; None for a manual item not yet graded."""
        if self.manual:
            return self.manual_points
        return round(min(self.max_points, sum(c.points for c in self.checks)), 4)


@dataclass(frozen=True)
class SubmissionReport:
    """Everything graded for one submission, or why it was refused (``error``: an unsafe or
    unreadable archive). A fault of the grader is never a report (failures.py)."""

    student_id: str
    items: tuple[ItemResult, ...]
    cap: float
    form: FormVerdict = FormVerdict()
    isolation: str = ""
    gpu: str = ""  # the GPU the training items ran on ("" for the CPU)
    error: str = ""  # why the submission was refused, if it was
    problems: tuple[str, ...] = ()
    fingerprint: str = ""
    plugin: str = ""
    kit_version: str = ""
    seconds: float = 0.0

    @property
    def auto_points(self) -> float:
        return round(sum(i.points or 0.0 for i in self.items if not i.manual), 4)

    @property
    def auto_max(self) -> float:
        return sum(i.max_points for i in self.items if not i.manual)

    @property
    def manual_pending(self) -> tuple[str, ...]:
        return tuple(i.item_id for i in self.items if i.manual and i.points is None)

    @property
    def raw_points(self) -> float:
        """Points of every graded item (manual items count once entered)."""
        return round(sum(i.points or 0.0 for i in self.items), 4)

    @property
    def capped_points(self) -> float:
        return min(self.cap, self.raw_points)

    @property
    def deduction_points(self) -> float:
        return round(self.capped_points * self.form.deduction, 4)

    @property
    def total(self) -> float:
        """Points after the cap and the form deduction."""
        return round(self.capped_points - self.deduction_points, 4)

    @property
    def max_total(self) -> float:
        return min(self.cap, sum(i.max_points for i in self.items))

    def item(self, item_id: str) -> ItemResult:
        for it in self.items:
            if it.item_id == item_id:
                return it
        raise KeyError(item_id)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SubmissionReport:
        def check(d: Mapping[str, Any]) -> CheckResult:
            status = d.get("status")
            return CheckResult(**{**d, "status": Status(status) if status else None})

        def item(d: Mapping[str, Any]) -> ItemResult:
            return ItemResult(**{**d, "checks": tuple(check(c) for c in d["checks"])})

        form = data.get("form") or {}
        return cls(
            **{
                **data,
                "items": tuple(item(i) for i in data["items"]),
                "form": FormVerdict(form.get("deduction", 0.0), tuple(form.get("reasons", ()))),
                "problems": tuple(data.get("problems", ())),
            }
        )
