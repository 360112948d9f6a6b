"""Manual items end to end with the toy homework: grade, export the sheet, fill it, import,
and every output's total equals the rubric's arithmetic (cap, then the form deduction of the
capped total); bad sheets refused with row and column and nothing stored; a regrade keeps
the marks; regrade reports list exactly the students who moved."""

from __future__ import annotations

import csv
import dataclasses
import json
import sqlite3
import tomllib
from pathlib import Path

import pytest
from autograder.cli import main
from autograder.config import Settings
from autograder.manual import SHEET_NAME, SheetError
from autograder.pipeline import run_batch
from autograder.rubric import parse
from engine_scenarios.engine_helpers import HERE, build_submission, pdf_bytes
from engine_scenarios.toy_plugin import ToyPlugin

RUBRIC = tomllib.loads((HERE / "toy_rubric.toml").read_text())
CAP, DEDUCTION = RUBRIC["cap"], RUBRIC["form"]["deduction"]


def expected_total(auto: float, manual: float, form_broken: bool) -> float:
    """The rubric's arithmetic, written out: cap first, then the deduction of the capped."""
    capped = min(CAP, auto + manual)
    return round(capped * (1 - DEDUCTION) if form_broken else capped, 4)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A toy class graded once: ann perfect, ben wrong answers and loose notebooks (form),
    cat perfect with a notebook-export PDF (form, and over the cap with the essay), dan
    without ToyB (form)."""
    tmp = tmp_path_factory.mktemp("class")
    folder = tmp / "class"
    folder.mkdir()
    for student, scenario in {"ann": "perfect", "ben": "wrong_answers", "cat": "perfect",
                              "dan": "missing_lab2"}.items():
        build_submission(scenario, tmp / "build" / student).rename(folder / student)
    (folder / "cat" / "report.pdf").write_bytes(pdf_bytes("In [1]: import torch",
                                                          Creator="nbconvert"))
    out = tmp / "out"
    run_batch(Settings(submissions=(folder,), out=out, progress=False, memory_mb=768),
              ToyPlugin(), say=lambda _: None)
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _fill(out: Path, marks: dict[str, tuple[str, str]], target: Path) -> Path:
    """The batch's sheet with ``essay`` and ``comment`` filled for the given students."""
    rows = _rows(out / SHEET_NAME)
    for row in rows:
        if row["student_id"] in marks:
            row["essay (max 10)"], row["comment"] = marks[row["student_id"]]
    with target.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return target


def _totals(out: Path) -> dict[str, dict[str, str]]:
    return {r["student_id"]: r for r in _rows(out / "grades.csv")}


def test_sheet_after_a_batch(graded: Path) -> None:
    rows = _rows(graded / SHEET_NAME)
    assert list(rows[0]) == ["student_id", "auto_points", "auto_max", "essay (max 10)",
                             "comment"]
    assert {r["student_id"]: r["auto_points"] for r in rows} == {
        "ann": "25", "ben": "17.5", "cat": "25", "dan": "15"}
    assert all(r["essay (max 10)"] == "" for r in rows)


def test_round_trip_totals_in_every_output(graded: Path, tmp_path: Path) -> None:
    sheet = _fill(graded, {"ann": ("10", ""), "ben": ("8", "clear essay"),
                           "cat": ("10", "")}, tmp_path / "filled.csv")
    assert main(["manual", "import", str(sheet), "--out", str(graded)]) == 0
    auto = {s: float(r["auto_points"]) for s, r in _totals(graded).items()}
    form = {s: float(r["form_deduction"]) > 0 for s, r in _totals(graded).items()}
    assert form == {"ann": False, "ben": True, "cat": True, "dan": True}
    want = {"ann": expected_total(auto["ann"], 10, False),  # 35 capped at 30
            "ben": expected_total(auto["ben"], 8, True),  # 25.5 x 0.8
            "cat": expected_total(auto["cat"], 10, True),  # min(30, 35) x 0.8
            "dan": expected_total(auto["dan"], 0, True)}  # essay pending
    assert want == {"ann": 30, "ben": 20.4, "cat": 24, "dan": 12}

    grades = _totals(graded)
    assert {s: float(r["total"]) for s, r in grades.items()} == want
    assert {s: r["final"] for s, r in grades.items()} == {
        "ann": "True", "ben": "True", "cat": "True", "dan": "False"}
    assert grades["dan"]["manual_pending"] == "essay" and grades["dan"]["essay"] == ""
    assert float(grades["cat"]["capped_points"]) == 30 and float(grades["cat"]["essay"]) == 10
    for student, total in want.items():
        scope = json.loads((graded / "gradescope" / student / "results.json").read_text())
        assert scope["score"] == total
        md = (graded / "feedback" / f"{student}.md").read_text()
        assert f"**Total: {total:g} / 30**" in md and f"total {total:g}" in md
        html = (graded / "feedback" / f"{student}.html").read_text()
        assert f"Total: {total:g} / 30" in html
    cat = (graded / "feedback" / "cat.md").read_text()
    assert "automatic 25 + staff 10 = 35 of 40, capped at 30, form rule -20% of 30 = -6: " \
           "total 24" in cat
    assert "clear essay" in (graded / "feedback" / "ben.md").read_text()
    assert "provisional" in (graded / "feedback" / "dan.md").read_text()
    assert "Provisional total" in json.loads(
        (graded / "gradescope" / "dan" / "results.json").read_text())["output"]
    summary = json.loads((graded / "summary" / "summary.json").read_text())
    assert summary["final_totals"] == 3 and summary["pending_manual"] == {"essay": 1}
    assert summary["total"]["mean"] == pytest.approx(sum(want.values()) / 4)
    # the sheet written again carries the marks, so it can be edited and imported again
    assert {r["student_id"]: r["essay (max 10)"] for r in _rows(graded / SHEET_NAME)} == {
        "ann": "10", "ben": "8", "cat": "10", "dan": ""}
    # the import's regrade report lists exactly the students whose marks came in
    report = sorted((graded / "regrades").glob("*-manual-import.csv"))[-1]
    assert {r["student_id"] for r in _rows(report)} == {"ann", "ben", "cat"}

    # a regrade of the automatic part keeps the marks
    run_batch(Settings(submissions=(graded.parent / "class",), out=graded, progress=False,
                       memory_mb=768, regrade=True), ToyPlugin(), say=lambda _: None)
    assert {s: float(r["total"]) for s, r in _totals(graded).items()} == want
    # a re-import replaces: ben 8 -> 2, and an emptied cell is pending again
    sheet = _fill(graded, {"ben": ("2", ""), "ann": ("", "")}, tmp_path / "again.csv")
    assert main(["manual", "import", str(sheet), "--out", str(graded)]) == 0
    grades = _totals(graded)
    assert float(grades["ben"]["total"]) == expected_total(auto["ben"], 2, True) == 15.6
    assert grades["ben"]["staff_comment"] == "" and grades["ann"]["manual_pending"] == "essay"


@pytest.mark.parametrize(("extra", "cell", "message"), [
    ("zed", None, "row 6, column 'student_id': unknown student 'zed'"),
    ("ann", None, "row 6, column 'student_id': 'ann' appears twice"),
    (None, ("ann", "11"), "row 2, column 'essay (max 10)' (ann): 11 is outside 0..10"),
    (None, ("ben", "ten"), "row 3, column 'essay (max 10)' (ben): 'ten' is not a number"),
    (None, ("cat", "-1"), "row 4, column 'essay (max 10)' (cat): -1 is outside 0..10"),
])
def test_bad_sheet_refused_whole(graded: Path, tmp_path: Path, extra, cell, message) -> None:
    rows = _rows(graded / SHEET_NAME)
    assert [r["student_id"] for r in rows] == ["ann", "ben", "cat", "dan"]  # rows 2-5
    for r in rows:
        r["essay (max 10)"] = "5"
    if cell:
        next(r for r in rows if r["student_id"] == cell[0])["essay (max 10)"] = cell[1]
    if extra:
        rows.append({**rows[0], "student_id": extra})
    sheet = tmp_path / "bad.csv"
    with sheet.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    before = sqlite3.connect(graded / "gradebook.sqlite").execute(
        "SELECT * FROM manual_points ORDER BY 1, 2").fetchall()
    from autograder.staff import import_marks

    with pytest.raises(SheetError) as info:
        import_marks(graded, sheet)
    assert message in str(info.value)
    after = sqlite3.connect(graded / "gradebook.sqlite").execute(
        "SELECT * FROM manual_points ORDER BY 1, 2").fetchall()
    assert after == before  # nothing half-imported


def test_unknown_column_named(graded: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "cols.csv"
    sheet.write_text("student_id,essai,comment\nann,5,\n", encoding="utf-8")
    with pytest.raises(SheetError) as info:
        from autograder.staff import import_marks

        import_marks(graded, sheet)
    text = str(info.value)
    assert "row 1, column 2 ('essai'): not a column of the sheet" in text
    assert "no column for the manual item(s) essay" in text


def test_regrade_report_after_a_weight_change(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    for student, scenario in {"ann": "perfect", "ben": "wrong_answers",
                              "dan": "missing_lab2"}.items():
        build_submission(scenario, tmp_path / "build" / student).rename(folder / student)
    out = tmp_path / "out"
    settings = Settings(submissions=(folder,), out=out, progress=False, memory_mb=768)
    first = run_batch(settings, ToyPlugin(), say=lambda _: None)
    assert not (out / "regrades").exists()  # nothing graded before: no report

    plugin = ToyPlugin()
    data = tomllib.loads((HERE / "toy_rubric.toml").read_text())
    data["items"][1]["checks"]["a_add.type"] = 3  # was 1
    plugin.rubric = parse(data, "toy rubric, a_add.type weighs 3")
    second = run_batch(settings, plugin, say=lambda _: None)
    assert second.graded == ["ann", "ben", "dan"]  # the rubric changed: all graded again

    # affected: the students whose two a_add checks differ (a new weight moves them)
    affected = {r.student_id for r in first.reports
                if r.item("a_add").checks[0].fraction != r.item("a_add").checks[1].fraction}
    assert affected and affected != {"ann", "ben", "dan"}
    csv_path = second.outputs["regrade"].with_suffix(".csv")
    rows = _rows(csv_path)
    assert {r["student_id"] for r in rows} == affected
    old = {r.student_id: r.total for r in first.reports}
    new = {r.student_id: r.total for r in second.reports}
    for r in rows:
        assert float(r["delta"]) == pytest.approx(new[r["student_id"]] - old[r["student_id"]])
        assert "a_add.type: 2.5 -> 5" in r["changed"]
    assert f"{len(affected)} of 3 students moved" in second.outputs["regrade"].read_text()
    # the replaced reports are kept, not overwritten
    kept = sqlite3.connect(out / "gradebook.sqlite").execute(
        "SELECT COUNT(*) FROM history").fetchone()[0]
    assert kept == 3


def test_staff_command_without_a_batch(tmp_path: Path, capsys) -> None:
    assert main(["manual", "sheet", "--out", str(tmp_path)]) == 2
    assert "no graded batch" in capsys.readouterr().err


def test_apply_marks_keeps_automatic_items(graded: Path) -> None:
    from autograder.gradebook import Gradebook
    from autograder.manual import apply_marks

    with Gradebook(graded / "gradebook.sqlite") as book:
        report = book.reports(["ann"], with_manual=False)[0]
    marked = apply_marks(report, {"essay": 4.0}, "ok")
    assert marked.item("essay").points == 4.0 and marked.staff_comment == "ok"
    assert [dataclasses.replace(i, manual_points=None) for i in marked.items] == \
        [dataclasses.replace(i, manual_points=None) for i in report.items]
