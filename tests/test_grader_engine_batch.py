"""Batches through the grading engine with the toy plug-in: a killed batch resumes, the
outputs carry the reports' numbers, one unsafe student does not stop a class, the CLI,
determinism, and a notebook job end to end."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from autograder.cli import main
from autograder.pipeline import run_batch
from engine_scenarios.engine_helpers import build_submission
from engine_scenarios.toy_plugin import ToyPlugin


def _class_folder(tmp_path: Path, names: dict[str, str]) -> Path:
    """A class folder: student id -> scenario whose submission they hand in."""
    folder = tmp_path / "class"
    folder.mkdir()
    for student, name in names.items():
        build_submission(name, tmp_path / "build" / student).rename(folder / student)
    return folder


def _comparable(report) -> dict:
    data = report.to_dict()
    data.pop("seconds")
    return data


def test_killed_batch_resumes_and_grades_each_submission_once(tmp_path: Path,
                                                              engine_settings) -> None:
    folder = _class_folder(tmp_path, {"alice": "perfect", "bob": "wrong_answers",
                                      "carol": "perfect"})
    out = tmp_path / "out"
    script = (
        "import sys; from pathlib import Path\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from engine_scenarios.toy_plugin import ToyPlugin\n"
        "from autograder.config import Settings\n"
        "from autograder.pipeline import run_batch\n"
        f"run_batch(Settings(submissions=(Path({str(folder)!r}),), out=Path({str(out)!r}),"
        " progress=False, memory_mb=768), ToyPlugin(stall={'bob'}))\n")
    batch = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 120
        while _stored(out) < 1:  # alice done, bob stalls
            assert batch.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(0.5)
        assert _stored(out) == 1
    finally:
        batch.kill()
        batch.wait()

    settings = engine_settings(folder, out)
    again = run_batch(settings, ToyPlugin(), say=lambda _: None)
    assert (again.skipped, again.graded) == (["alice"], ["bob", "carol"])
    assert _stored(out) == 3
    third = run_batch(settings, ToyPlugin(), say=lambda _: None)
    assert (third.skipped, third.graded) == (["alice", "bob", "carol"], [])
    regrade = run_batch(engine_settings(folder, out, regrade=True), ToyPlugin(),
                        say=lambda _: None)
    assert regrade.graded == ["alice", "bob", "carol"]
    assert [_comparable(r) for r in regrade.reports] == [_comparable(r) for r in third.reports]


def _stored(out: Path) -> int:
    path = out / "gradebook.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        try:
            return db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def test_outputs_carry_the_reports_numbers(tmp_path: Path, engine_settings) -> None:
    folder = _class_folder(tmp_path, {"ann": "perfect", "ben": "wrong_answers"})
    result = run_batch(engine_settings(folder, tmp_path / "out"), ToyPlugin(), say=lambda _: None)
    ann, ben = result.reports
    out = tmp_path / "out"

    with open(out / "grades.csv", newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert float(rows["ann"]["total"]) == ann.total == 25
    assert float(rows["ben"]["total"]) == ben.total == 14
    assert float(rows["ben"]["a_add"]) == 2.5 and rows["ben"]["essay"] == ""
    assert float(rows["ben"]["form_deduction"]) == 0.2 and "not inside a zip" in \
        rows["ben"]["form_reasons"]

    scope = json.loads((out / "gradescope" / "ben" / "results.json").read_text())
    assert scope["score"] == ben.total
    assert len(scope["tests"]) == 5 and sum(t["max_score"] for t in scope["tests"]) == 30
    assert "Form rule: -20%" in scope["output"]

    feedback = (out / "feedback" / "ben.md").read_text()
    assert "**Total: 14 / 30**" in feedback and "add(a, b) should return a + b" in feedback
    assert "def add" not in feedback  # no code, neither the student's nor a solution's
    assert "<li class=\"failed\">failed <code>a_add.value</code>" in \
        (out / "feedback" / "ben.html").read_text()

    summary = json.loads((out / "summary" / "summary.json").read_text())
    assert summary["check_pass_rates"]["a_add.value"] == 0.5
    assert summary["check_pass_rates"]["a_add.type"] == 1.0
    assert summary["total"]["mean"] == pytest.approx(19.5)
    assert (out / "summary" / "histogram.png").read_bytes()[:4] == b"\x89PNG"


def test_class_zip_with_an_unsafe_student_goes_on(tmp_path: Path, engine_settings) -> None:
    good = build_submission("perfect", tmp_path / "good")
    bad = tmp_path / "bad_code.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../../escape.ipynb", "{}")
    export = tmp_path / "export.zip"
    with zipfile.ZipFile(export, "w") as zf:
        zf.write(good / "code.zip", "Ann_101_code.zip")
        zf.write(good / "report.pdf", "Ann_101_report.pdf")
        zf.write(bad, "Bob_202_code.zip")
    result = run_batch(engine_settings(export, tmp_path / "out"), ToyPlugin(), say=lambda _: None)
    ann, bob = result.reports
    assert (ann.student_id, ann.total, ann.error) == ("Ann_101", 25, "")
    assert bob.student_id == "Bob_202" and "path traversal" in bob.error
    assert bob.total == 0 and not (tmp_path / "escape.ipynb").exists()


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = build_submission("perfect", tmp_path / "in")
    args = [str(folder), "--out", str(tmp_path / "out"), "--plugin",
            "engine_scenarios.toy_plugin:plugin", "--no-progress"]
    assert main(args) == 0
    said = capsys.readouterr().out
    assert "graded 1, already graded 0" in said and "sandbox isolation:" in said
    assert json.loads((tmp_path / "out" / "settings.json").read_text())["plugin"] == \
        "engine_scenarios.toy_plugin:plugin"
    assert main(args) == 0 and "graded 0, already graded 1" in capsys.readouterr().out
    assert main([*args, "--timeout-scale", "-1"]) == 2
    assert "timeout_scale=-1.0 (from the command line)" in capsys.readouterr().err
    assert main([str(folder), "--plugin", "no_such_module:plugin"]) == 2
    assert "cannot import no_such_module" in capsys.readouterr().err


@pytest.mark.slow
def test_notebook_job_through_the_pipeline(tmp_path: Path, engine_settings) -> None:
    folder = build_submission("perfect", tmp_path / "in")
    result = run_batch(engine_settings(folder, tmp_path / "out"), ToyPlugin(run_notebooks=True),
                       say=lambda _: None)
    (report,) = result.reports
    assert report.item("b_run").points == 5
    assert report.total == 30  # 10 + 5 + 10 + 5 = the cap


def test_same_submission_same_scores(tmp_path: Path, engine_settings) -> None:
    folder = _class_folder(tmp_path, {"twin_a": "messy_notebook"})
    shutil.copytree(folder / "twin_a", folder / "twin_b")  # the same bytes
    a, b = run_batch(engine_settings(folder, tmp_path / "out", job_cache=False), ToyPlugin(),
                     say=lambda _: None).reports  # each twin really runs
    assert a.fingerprint == b.fingerprint
    assert {**_comparable(a), "student_id": ""} == {**_comparable(b), "student_id": ""}
