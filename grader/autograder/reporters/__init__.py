"""Output formats; each reads finished SubmissionReports only."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..manual import SHEET_NAME, write_sheet
from ..models import SubmissionReport
from .feedback import write_feedback
from .grades_csv import write_grades_csv
from .gradescope import write_gradescope
from .staff import write_staff
from .summary import write_summary


def write_all(reports: Sequence[SubmissionReport], out: Path) -> dict[str, Path]:
    """Every output under ``out``; returns where each kind went."""
    out.mkdir(parents=True, exist_ok=True)
    write_feedback(reports, out / "feedback")
    write_gradescope(reports, out / "gradescope")
    write_summary(reports, out / "summary")
    write_staff(reports, out / "staff")  # instructor only
    return {"grades": write_grades_csv(reports, out / "grades.csv"),
            "feedback": out / "feedback", "gradescope": out / "gradescope",
            "summary": out / "summary", "staff": out / "staff",
            "manual sheet": write_sheet(reports, out / SHEET_NAME)}
