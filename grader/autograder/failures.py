"""Internal errors: the grader's own faults, kept apart from grades.

A submission ends in one of three outcomes: graded (a report), refused (a report whose
``error`` says why the submission could not be taken: an unsafe or unreadable archive),
or an internal error (a fault of the grader, a plug-in check or the sandbox set-up). An
internal error is never stored in the gradebook: the batch goes on, staff read the
traceback (console summary and ``<out>/staff/internal-errors.md``, which no reporter
publishes), the CLI exits non-zero, and the next run grades that student again.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

STAFF_DIR = "staff"
ERRORS_FILE = "internal-errors.md"


@dataclass(frozen=True)
class InternalFailure:
    """A grader fault met while grading one student (``stage``: where it happened)."""

    student_id: str
    stage: str
    summary: str  # "ExceptionType: message"
    traceback: str

    @classmethod
    def from_exception(cls, student_id: str, stage: str, exc: BaseException
                       ) -> InternalFailure:
        return cls(student_id, stage, f"{type(exc).__name__}: {exc}",
                   "".join(traceback.format_exception(exc)))


def write_staff_report(failures: Sequence[InternalFailure], out: Path) -> Path | None:
    """Write (or, when there are none, remove) the staff-only list of internal errors."""
    path = Path(out) / STAFF_DIR / ERRORS_FILE
    if not failures:
        path.unlink(missing_ok=True)
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = ["# Internal errors (staff only)\n",
             f"{len(failures)} submission(s) were not graded because the grader failed; "
             "nothing was stored for them, and the next run grades them again.\n"]
    for failure in failures:
        parts.append(f"## {failure.student_id} ({failure.stage})\n\n{failure.summary}\n\n"
                     f"```\n{failure.traceback.rstrip()}\n```\n")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
