"""Gradescope autograder results (``results.json``), one folder per student.

One test per check (its points, its message); the form rule and any grading error are
stated in the top-level output. The score is the report's total: this writer formats,
it decides nothing. A check's staff-only ``detail`` goes into a test of its own with
visibility "hidden" (never shown to students) and no points.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..models import SubmissionReport
from .feedback import arithmetic


def gradescope_results(report: SubmissionReport) -> dict[str, Any]:
    tests = []
    for item in report.items:
        if item.manual:
            continue
        for check in item.checks:
            text = check.message
            if check.expected:
                text += f"\nexpected: {check.expected}"
            if check.seen:
                text += f"\nseen: {check.seen}"
            tests.append({
                "name": f"{item.title}: {check.check_id}",
                "score": check.points,
                "max_score": check.max_points,
                "output": text,
                "visibility": "visible",
            })
            if check.detail:
                tests.append({"name": f"staff only: {check.check_id}", "output": check.detail,
                              "visibility": "hidden"})
    notes = [("Provisional total: " if report.manual_pending else "Total: ")
             + arithmetic(report)]
    if report.staff_comment:
        notes.append(f"Comment from the staff: {report.staff_comment}")
    if report.form.reasons:
        notes.append(f"Form rule: -{report.form.deduction:.0%} of the total ("
                     + "; ".join(report.form.reasons) + ")")
    if report.error:
        notes.append(f"Grading stopped early: {report.error}")
    if report.manual_pending:
        notes.append("Graded by staff later: " + ", ".join(report.manual_pending))
    return {"score": report.total, "output": "\n".join(notes), "tests": tests,
            "visibility": "visible"}


def write_gradescope(reports: Sequence[SubmissionReport], folder: Path) -> list[Path]:
    paths = []
    for report in reports:
        path = folder / report.student_id / "results.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(gradescope_results(report), indent=2), encoding="utf-8")
        paths.append(path)
    return paths
