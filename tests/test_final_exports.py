"""Canvas and Moodle grade files from a roster: the columns the sites read, every
roster student present, and nobody dropped silently (missing on either side reported)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from autograder import exports
from autograder.manual import apply_marks
from autograder.models import CheckResult, FormVerdict, SubmissionReport
from autograder.rubric import Rubric
from autograder.scoring import score
from engine_scenarios.engine_helpers import HERE

RUBRIC = Rubric.load(HERE / "toy_rubric.toml")
ROSTER = """student_id,name,canvas_id,sis_user_id,sis_login_id,section,email
ann,Ann Lee,101,S-1,alee,Section A,ann@uni.edu
ben,Ben Ode,102,S-2,bode,Section B,ben@uni.edu
eve,Eve Kim,105,S-5,ekim,Section A,eve@uni.edu
"""


def _report(student: str, fraction: float, essay: float | None,
            form: bool = False) -> SubmissionReport:
    results = [CheckResult(c, "", fraction) for c in RUBRIC.item_of_check()]
    report = SubmissionReport(student, score(RUBRIC, results), RUBRIC.cap,
                              FormVerdict(0.2, ("loose notebooks",)) if form else FormVerdict())
    return apply_marks(report, {} if essay is None else {"essay": essay})


@pytest.fixture
def reports() -> list[SubmissionReport]:
    # ann: 30 auto + 10 = 40 -> 30; ben: 15 + 5 = 20 -> x0.8 = 16; zoe: not on the roster;
    # eve: on the roster, not graded.
    return [_report("ann", 1.0, 10), _report("ben", 0.5, 5, form=True), _report("zoe", 1.0, 2)]


def _read(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_canvas_columns_and_missing(tmp_path: Path, reports) -> None:
    (tmp_path / "roster.csv").write_text(ROSTER)
    roster = exports.read_roster(tmp_path / "roster.csv")
    done = exports.canvas(reports, roster, tmp_path, assignment="Homework 3",
                          assignment_id="4711")
    rows = _read(done.path)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                       "Homework 3 (4711)"]
    assert rows[1] == ["Points Possible", "", "", "", "", "30"]
    assert rows[2:] == [["Ann Lee", "101", "S-1", "alee", "Section A", "30"],
                        ["Ben Ode", "102", "S-2", "bode", "Section B", "16"],
                        ["Eve Kim", "105", "S-5", "ekim", "Section A", ""]]
    problems = {m["student_id"]: m["problem"] for m in done.missing}
    assert problems == {"zoe": "graded but not on the roster: not in the export",
                        "eve": "on the roster but not graded: grade left empty"}
    assert {r[0] for r in _read(tmp_path / "missing.csv")[1:]} == {"zoe", "eve"}
    plain = exports.canvas(reports, roster, tmp_path, assignment="HW3", points_possible=False)
    assert _read(plain.path)[0][-1] == "HW3" and _read(plain.path)[1][0] == "Ann Lee"


def test_pending_manual_items_left_empty_and_reported(tmp_path: Path) -> None:
    (tmp_path / "roster.csv").write_text(ROSTER)
    roster = exports.read_roster(tmp_path / "roster.csv")
    pending = [_report("ann", 1.0, None), _report("ben", 1.0, 3)]
    done = exports.canvas(pending, roster, tmp_path, assignment="HW3", points_possible=False)
    assert [r[-1] for r in _read(done.path)[1:]] == ["", "30", ""]
    assert "manual items pending (essay)" in {m["student_id"]: m["problem"]
                                              for m in done.missing}["ann"]
    shown = exports.canvas(pending, roster, tmp_path, assignment="HW3",
                           points_possible=False, provisional=True)
    assert _read(shown.path)[1][-1] == "30"


def test_moodle_identifier_grade_feedback(tmp_path: Path, reports) -> None:
    (tmp_path / "roster.csv").write_text(ROSTER)
    roster = exports.read_roster(tmp_path / "roster.csv")
    done = exports.moodle(reports, roster, tmp_path, id_field="email")
    rows = _read(done.path)
    assert rows[0] == ["email", "Grade", "Feedback"]
    assert [r[:2] for r in rows[1:]] == [["ann@uni.edu", "30"], ["ben@uni.edu", "16"],
                                         ["eve@uni.edu", ""]]
    assert "capped at 30" in rows[1][2] and "form rule -20% of 20 = -4: total 16" in rows[2][2]
    assert {m["student_id"] for m in done.missing} == {"zoe", "eve"}
    with pytest.raises(exports.RosterError, match="'idnumber'"):
        exports.moodle(reports, roster, tmp_path, id_field="idnumber")


def test_bad_roster(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("name,email\nAnn,a@b\n")
    with pytest.raises(exports.RosterError, match="no 'student_id' column"):
        exports.read_roster(tmp_path / "r.csv")
    (tmp_path / "r.csv").write_text("student_id,name\nann,A\nann,B\n")
    with pytest.raises(exports.RosterError, match="appear twice: ann"):
        exports.read_roster(tmp_path / "r.csv")


def test_export_command(tmp_path: Path, reports) -> None:
    from autograder.gradebook import Gradebook

    with Gradebook(tmp_path / "gradebook.sqlite") as book:
        for r in reports:
            book.record(r, "key")
        book.replace_manual({r.student_id: ({"essay": r.item("essay").points}, "")
                             for r in reports}, "test")
    (tmp_path / "roster.csv").write_text(ROSTER)
    run = subprocess.run([sys.executable, "-m", "autograder.cli", "export", "canvas",
                          "--roster", str(tmp_path / "roster.csv"), "--assignment", "HW3",
                          "--out", str(tmp_path)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert "zoe: graded but not on the roster" in run.stderr
    assert [r[-1] for r in _read(tmp_path / "exports" / "canvas.csv")[2:]] == ["30", "16", ""]
