"""Instructor-only details (``<out>/staff/<id>.md``): for every check with a staff-only
``detail`` (raw text from a sandbox that held hidden reference code, which the student's
feedback never shows), the check, its public message and the detail. Never hand this
folder to students."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..models import SubmissionReport


def staff_details(report: SubmissionReport) -> str:
    """Markdown of the report's staff-only details ("" when it has none)."""
    parts = []
    for item in report.items:
        for check in item.checks:
            if check.detail:
                parts.append(f"## {check.check_id}\n\nstudent sees: {check.message}\n\n"
                             f"detail (staff only):\n\n```text\n"
                             f"{check.detail.replace('```', '` ` `')}\n```\n")
    if not parts:
        return ""
    return f"# Staff only: {report.student_id}\n\n" + "\n".join(parts)


def write_staff(reports: Sequence[SubmissionReport], folder: Path) -> list[Path]:
    paths = []
    for report in reports:
        text = staff_details(report)
        path = folder / f"{report.student_id}.md"
        if text:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            paths.append(path)
        elif path.exists():
            path.unlink()
    return paths
