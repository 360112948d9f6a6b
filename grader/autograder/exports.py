"""Grades for a course site: Canvas's gradebook CSV and Moodle's grade import CSV.

A roster CSV maps the kit's student ids to the site's; its columns (``student_id``
required, the others as the site needs them)::

    student_id, name, canvas_id, sis_user_id, sis_login_id, section, email, idnumber, username

Canvas (Grades > Import): ``Student, ID, SIS User ID, SIS Login ID, Section,
<assignment> (<assignment id>)``, with an optional first row ``Points Possible``. Moodle
(Grades > Import > CSV file): an identifier column (``--id-field``: a roster column, to be
mapped to the same user field on import), the grade and the feedback.

Nobody is dropped silently: a graded student missing from the roster (no site id, so not
in the site's file), a roster student with no grade (an empty grade: Canvas and Moodle
leave it as it is), and a student whose total is provisional (a manual item pending: left
empty unless ``provisional=True``) are all listed in the returned problems and in
``exports/missing.csv``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import GraderError
from .models import SubmissionReport

CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
ROSTER_COLUMNS = ["student_id", "name", "canvas_id", "sis_user_id", "sis_login_id",
                  "section", "email", "idnumber", "username"]


class RosterError(GraderError):
    """A roster file that cannot be used."""


@dataclass
class Export:
    """What an export wrote and who could not be given a grade."""

    path: Path
    missing: list[dict[str, str]] = field(default_factory=list)  # student_id, name, problem


def read_roster(path: Path) -> pd.DataFrame:
    """The roster as strings (every known column present, blanks as "")."""
    try:
        roster = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise RosterError(f"roster {path}: cannot be read: {exc}") from None
    roster.columns = [c.strip() for c in roster.columns]
    if "student_id" not in roster.columns:
        raise RosterError(f"roster {path}: no 'student_id' column (columns: "
                          f"{', '.join(roster.columns)})")
    twice = sorted(set(roster["student_id"][roster["student_id"].duplicated()]))
    if twice:
        raise RosterError(f"roster {path}: student ids appear twice: {', '.join(twice)}")
    for column in ROSTER_COLUMNS:
        if column not in roster.columns:
            roster[column] = ""
    return roster


def _grades(reports: Sequence[SubmissionReport], roster: pd.DataFrame, provisional: bool
            ) -> tuple[dict[str, SubmissionReport], list[dict[str, str]]]:
    """Reports of roster students whose grade may be exported, and every problem."""
    by_id = {r.student_id: r for r in reports}
    on_roster = set(roster["student_id"])
    names = dict(zip(roster["student_id"], roster["name"], strict=True))
    missing = [{"student_id": s, "name": "", "problem": "graded but not on the roster: not "
                "in the export"} for s in sorted(set(by_id) - on_roster)]
    usable: dict[str, SubmissionReport] = {}
    for student in roster["student_id"]:
        report = by_id.get(student)
        if report is None:
            missing.append({"student_id": student, "name": names[student],
                            "problem": "on the roster but not graded: grade left empty"})
        elif report.manual_pending and not provisional:
            missing.append({"student_id": student, "name": names[student],
                            "problem": "manual items pending (" + ", ".join(
                                report.manual_pending) + "): grade left empty"})
        else:
            usable[student] = report
    return usable, missing


def _write_missing(missing: list[dict[str, str]], folder: Path) -> None:
    pd.DataFrame(missing, columns=["student_id", "name", "problem"]).to_csv(
        folder / "missing.csv", index=False)


def canvas(reports: Sequence[SubmissionReport], roster: pd.DataFrame, folder: Path, *,
           assignment: str, assignment_id: str = "", points_possible: bool = True,
           provisional: bool = False) -> Export:
    """``folder/canvas.csv``: Canvas's gradebook import, one row per roster student."""
    usable, missing = _grades(reports, roster, provisional)
    column = f"{assignment} ({assignment_id})" if assignment_id else assignment
    rows = []
    if points_possible:
        top = max((r.max_total for r in reports), default=0.0)
        rows.append({"Student": "Points Possible", **dict.fromkeys(CANVAS_COLUMNS[1:], ""),
                     column: f"{top:g}"})
    for _, person in roster.iterrows():
        report = usable.get(person["student_id"])
        rows.append({"Student": person["name"], "ID": person["canvas_id"],
                     "SIS User ID": person["sis_user_id"],
                     "SIS Login ID": person["sis_login_id"], "Section": person["section"],
                     column: f"{report.total:g}" if report else ""})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "canvas.csv"
    pd.DataFrame(rows, columns=[*CANVAS_COLUMNS, column]).to_csv(path, index=False)
    _write_missing(missing, folder)
    return Export(path, missing)


def _feedback(report: SubmissionReport) -> str:
    from .reporters.feedback import arithmetic

    text = arithmetic(report)
    if report.staff_comment:
        text += f". {report.staff_comment}"
    return text


def moodle(reports: Sequence[SubmissionReport], roster: pd.DataFrame, folder: Path, *,
           id_field: str = "email", grade_column: str = "Grade",
           provisional: bool = False) -> Export:
    """``folder/moodle.csv``: Moodle's grade import (identifier, grade, feedback)."""
    if id_field not in roster.columns or not roster[id_field].str.strip().any():
        raise RosterError(f"the roster has no values in the {id_field!r} column that Moodle "
                          "should match users by")
    usable, missing = _grades(reports, roster, provisional)
    rows = []
    for _, person in roster.iterrows():
        report = usable.get(person["student_id"])
        if not person[id_field].strip():
            missing.append({"student_id": person["student_id"], "name": person["name"],
                            "problem": f"no {id_field} on the roster: Moodle cannot match it"})
        rows.append({id_field: person[id_field],
                     grade_column: f"{report.total:g}" if report else "",
                     "Feedback": _feedback(report) if report else ""})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "moodle.csv"
    pd.DataFrame(rows, columns=[id_field, grade_column, "Feedback"]).to_csv(path, index=False)
    _write_missing(missing, folder)
    return Export(path, missing)
