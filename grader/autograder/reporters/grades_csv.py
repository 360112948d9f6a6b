"""grades.csv: one row per student, one column per rubric item (manual items empty until
staff's marks are imported), then the totals: automatic + manual = raw, capped, less the
form deduction taken from the capped points = total; ``final`` is false (and
``manual_pending`` names the items) while a manual item is still to grade."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..models import SubmissionReport


def grades_table(reports: Sequence[SubmissionReport]) -> pd.DataFrame:
    rows = []
    for report in reports:
        row: dict[str, object] = {"student_id": report.student_id}
        for item in report.items:
            row[item.item_id] = item.points  # None (empty) for a manual item not yet graded
        row.update({
            "auto_points": report.auto_points,
            "auto_max": report.auto_max,
            "manual_points": report.manual_points,
            "raw_points": report.raw_points,
            "cap": report.cap,
            "capped_points": report.capped_points,
            "form_deduction": report.form.deduction,
            "deduction_points": report.deduction_points,
            "total": report.total,
            "final": not report.manual_pending,
            "manual_pending": " ".join(report.manual_pending),
            "staff_comment": report.staff_comment,
            "form_reasons": "; ".join(report.form.reasons),
            "error": report.error,
        })
        rows.append(row)
    return pd.DataFrame(rows)


def write_grades_csv(reports: Sequence[SubmissionReport], path: Path) -> Path:
    grades_table(reports).to_csv(path, index=False)
    return path
