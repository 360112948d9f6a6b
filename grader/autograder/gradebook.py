"""SQLite store of finished reports, written as each submission finishes.

A report is stored under its student id with its grading key (keys.py: the submission's
fingerprint, the rubric, the plug-in's and the engine's code, the data choice). A rerun
skips every student whose stored key still matches (so a batch killed midway resumes and
grades each submission once); a changed submission, rubric, check or engine is graded
again, and ``--regrade`` grades everything again. Table ``submitted`` holds the cluster job
grading a student right now (dispatch.py), so a killed grader waits for it instead of
submitting it again.

Staff marks for manual items live in their own tables (``manual_points``,
``manual_comments``), apart from the automatic reports: regrading the automatic part
keeps them, and importing a sheet replaces the marks of the students on it in one
transaction. A report that a regrade replaces is kept in ``history`` (nothing is
overwritten silently).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from .manual import apply_marks
from .models import SubmissionReport

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    student_id TEXT PRIMARY KEY,
    grading_key TEXT NOT NULL,
    report TEXT NOT NULL,
    graded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS submitted (
    student_id TEXT PRIMARY KEY,
    grading_key TEXT NOT NULL,
    job_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    student_id TEXT NOT NULL,
    report TEXT NOT NULL,
    graded_at TEXT NOT NULL,
    replaced_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS manual_points (
    student_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    points REAL NOT NULL,
    PRIMARY KEY (student_id, item_id)
);
CREATE TABLE IF NOT EXISTS manual_comments (
    student_id TEXT PRIMARY KEY,
    comment TEXT NOT NULL,
    sheet TEXT NOT NULL,
    imported_at TEXT NOT NULL
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Gradebook:
    """Finished reports by student id; each ``record`` is committed at once."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def lookup(self, student_id: str, key: str) -> SubmissionReport | None:
        """The stored report if it was made with ``key``, else None."""
        row = self._db.execute(
            "SELECT report FROM results WHERE student_id = ? AND grading_key = ?",
            (student_id, key)).fetchone()
        return SubmissionReport.from_dict(json.loads(row[0])) if row else None

    def record(self, report: SubmissionReport, key: str) -> None:
        """Store (or replace) one student's report; a replaced report goes to history."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO history (student_id, report, graded_at, replaced_at) "
                "SELECT student_id, report, graded_at, ? FROM results WHERE student_id = ?",
                (_now(), report.student_id))
            self._db.execute(
                "INSERT OR REPLACE INTO results (student_id, grading_key, report, graded_at) "
                "VALUES (?, ?, ?, ?)",
                (report.student_id, key, json.dumps(report.to_dict()), _now()))

    def record_submitted(self, student_id: str, key: str, job_id: str) -> None:
        """Note the cluster job grading ``student_id`` under ``key`` (dispatch.py)."""
        self._db.execute("INSERT OR REPLACE INTO submitted (student_id, grading_key, job_id) "
                         "VALUES (?, ?, ?)", (student_id, key, job_id))

    def submitted_job(self, student_id: str, key: str) -> str | None:
        """The job id noted for ``student_id`` under ``key``, if any."""
        row = self._db.execute(
            "SELECT job_id FROM submitted WHERE student_id = ? AND grading_key = ?",
            (student_id, key)).fetchone()
        return row[0] if row else None

    def forget_submitted(self, student_id: str) -> None:
        """Drop the job noted for ``student_id`` (its end was taken in)."""
        self._db.execute("DELETE FROM submitted WHERE student_id = ?", (student_id,))

    def manual_marks(self) -> dict[str, tuple[dict[str, float], str]]:
        """Student id -> (item id -> staff points, staff comment)."""
        marks: dict[str, tuple[dict[str, float], str]] = {}
        for student, item, points in self._db.execute(
                "SELECT student_id, item_id, points FROM manual_points"):
            marks.setdefault(student, ({}, ""))[0][item] = points
        for student, comment in self._db.execute(
                "SELECT student_id, comment FROM manual_comments"):
            marks[student] = (marks.get(student, ({}, ""))[0], comment)
        return marks

    def replace_manual(self, marks: Mapping[str, tuple[Mapping[str, float], str]],
                       sheet: str) -> None:
        """Replace the manual marks of every student in ``marks`` (an item left out is
        pending again), all in one transaction: either all of a sheet lands or none."""
        with self._db:
            self._db.execute("BEGIN")
            for student, (points, comment) in marks.items():
                self._db.execute("DELETE FROM manual_points WHERE student_id = ?", (student,))
                self._db.executemany(
                    "INSERT INTO manual_points (student_id, item_id, points) VALUES (?, ?, ?)",
                    [(student, item, value) for item, value in points.items()])
                self._db.execute(
                    "INSERT OR REPLACE INTO manual_comments VALUES (?, ?, ?, ?)",
                    (student, comment, sheet, _now()))

    def reports(self, student_ids: Iterable[str] | None = None, *,
                with_manual: bool = True) -> list[SubmissionReport]:
        """Stored reports (of ``student_ids`` only, in that order, if given), with the
        staff's manual marks applied unless ``with_manual`` is false."""
        rows = dict(self._db.execute("SELECT student_id, report FROM results").fetchall())
        ids = sorted(rows) if student_ids is None else [s for s in student_ids if s in rows]
        reports = [SubmissionReport.from_dict(json.loads(rows[s])) for s in ids]
        if not with_manual:
            return reports
        marks = self.manual_marks()
        return [apply_marks(r, *marks.get(r.student_id, ({}, ""))) for r in reports]
