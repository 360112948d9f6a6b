"""SQLite store of finished reports, written as each submission finishes.

A report is stored under its student id with its grading key (keys.py: the submission's
fingerprint, the rubric, the plug-in's and the engine's code, the data choice). A rerun
skips every student whose stored key still matches (so a batch killed midway resumes and
grades each submission once); a changed submission, rubric, check or engine is graded
again, and ``--regrade`` grades everything again.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from .models import SubmissionReport

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    student_id TEXT PRIMARY KEY,
    grading_key TEXT NOT NULL,
    report TEXT NOT NULL,
    graded_at TEXT NOT NULL
)
"""


class Gradebook:
    """Finished reports by student id; each ``record`` is committed at once."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)

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
        """Store (or replace) one student's report."""
        self._db.execute(
            "INSERT OR REPLACE INTO results (student_id, grading_key, report, graded_at) "
            "VALUES (?, ?, ?, ?)",
            (report.student_id, key, json.dumps(report.to_dict()),
             datetime.now(UTC).isoformat(timespec="seconds")))

    def reports(self, student_ids: Iterable[str] | None = None) -> list[SubmissionReport]:
        """Stored reports (of ``student_ids`` only, in that order, if given)."""
        rows = dict(self._db.execute("SELECT student_id, report FROM results").fetchall())
        ids = sorted(rows) if student_ids is None else [s for s in student_ids if s in rows]
        return [SubmissionReport.from_dict(json.loads(rows[s])) for s in ids]
