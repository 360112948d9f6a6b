"""Three outcomes of a submission: graded, refused (with the reason) or an internal error.
An internal error (a check with a bug, a damaged job-cache entry, a PDF the form check
cannot read) is never stored as the student's grade: the batch goes on, staff get the
traceback, the CLI exits non-zero, and the next run grades the student again."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from autograder.cli import main
from autograder.config import Settings
from autograder.failures import ERRORS_FILE, STAFF_DIR
from autograder.pipeline import run_batch
from engine_scenarios.engine_helpers import build_submission, pdf_pypdf_cannot_inspect
from engine_scenarios.flaky_plugin import FlakyPlugin
from engine_scenarios.toy_plugin import ToyPlugin


def _settings(submissions: Path, out: Path, **kw) -> Settings:
    return Settings(submissions=(submissions,), out=out, progress=False, memory_mb=768, **kw)


def _class(tmp_path: Path, names: dict[str, str]) -> Path:
    folder = tmp_path / "class"
    folder.mkdir()
    for student, name in names.items():
        build_submission(name, tmp_path / "build" / student).rename(folder / student)
    return folder


def _stored(out: Path) -> dict[str, dict]:
    with sqlite3.connect(out / "gradebook.sqlite") as db:
        return {sid: json.loads(text) for sid, text in
                db.execute("SELECT student_id, report FROM results").fetchall()}


def test_a_check_that_raises_is_an_internal_error_then_graded_on_the_next_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    folder = _class(tmp_path, {"ann": "perfect", "bob": "perfect"})
    monkeypatch.setenv("TOY_FLAKY_STUDENTS", "bob")
    monkeypatch.setenv("TOY_FLAKY_DIR", str(tmp_path))
    out = tmp_path / "out"
    said: list[str] = []
    first = run_batch(_settings(folder, out), FlakyPlugin(), say=said.append)

    assert first.graded == ["ann"]  # the batch went on
    (failure,) = first.failures
    assert (failure.student_id, failure.stage) == ("bob", "judging (plug-in checks)")
    assert "CheckFault: a_add.value: the check has a bug" in failure.summary
    assert sorted(_stored(out)) == ["ann"]  # nothing stored for bob
    assert [r.student_id for r in first.reports] == ["ann"]
    assert not (out / "feedback" / "bob.md").exists()
    assert not (out / "gradescope" / "bob").exists()
    staff = (out / STAFF_DIR / ERRORS_FILE).read_text()
    assert "## bob (judging (plug-in checks))" in staff
    assert "Traceback (most recent call last)" in staff and "raise CheckFault(" in staff
    assert any("internal error grading bob" in line for line in said)

    second = run_batch(_settings(folder, out), FlakyPlugin(), say=lambda _: None)
    assert (second.skipped, second.graded, second.failures) == (["ann"], ["bob"], [])
    bob = {r.student_id: r for r in second.reports}["bob"]
    assert bob.total == 25 and bob.error == ""
    assert not (out / STAFF_DIR / ERRORS_FILE).exists()  # no stale list of errors


def test_the_cli_exits_non_zero_on_an_internal_error(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys) -> None:
    folder = build_submission("perfect", tmp_path / "in")
    monkeypatch.setenv("TOY_FLAKY_STUDENTS", folder.name)
    monkeypatch.setenv("TOY_FLAKY_DIR", str(tmp_path))
    args = [str(folder), "--out", str(tmp_path / "out"), "--plugin",
            "engine_scenarios.flaky_plugin:plugin", "--no-progress"]
    assert main(args) == 3
    captured = capsys.readouterr()
    assert "1 internal error(s): " + folder.name in captured.err
    assert "internal-errors.md" in captured.out
    assert main(args) == 0 and "graded 1, already graded 0" in capsys.readouterr().out


class _PlanFault(ToyPlugin):
    def plan(self, submission, ctx):
        raise OSError("the plug-in's data folder vanished")


def test_a_fault_while_planning_is_not_a_grade(tmp_path: Path) -> None:
    folder = build_submission("perfect", tmp_path / "in")
    result = run_batch(_settings(folder, tmp_path / "out"), _PlanFault(), say=lambda _: None)
    (failure,) = result.failures
    assert failure.stage == "planning (plug-in)" and "OSError" in failure.summary
    assert result.reports == [] and _stored(tmp_path / "out") == {}


def test_a_damaged_job_cache_entry_is_a_miss(tmp_path: Path) -> None:
    folder = build_submission("perfect", tmp_path / "in")
    out = tmp_path / "out"
    run_batch(_settings(folder, out), ToyPlugin(), say=lambda _: None)
    entries = list((out / ".cache" / "jobs").glob("*/outcome.json"))
    assert entries
    for entry in entries:  # cut short, and a field of the wrong type
        data = json.loads(entry.read_text())
        data["steps"][0]["status"] = "no-such-status"
        entry.write_text(json.dumps(data)[:-40] if entry == entries[0] else json.dumps(data))
    again = run_batch(_settings(folder, out, regrade=True), ToyPlugin(), say=lambda _: None)
    assert again.failures == []
    (report,) = again.reports
    assert report.total == 25 and report.error == ""


def test_a_pdf_pypdf_cannot_inspect_costs_nothing(tmp_path: Path) -> None:
    folder = build_submission("perfect", tmp_path / "in")
    (folder / "report.pdf").write_bytes(pdf_pypdf_cannot_inspect())
    result = run_batch(_settings(folder, tmp_path / "out"), ToyPlugin(), say=lambda _: None)
    (report,) = result.reports
    assert result.failures == [] and report.error == ""
    assert report.form.deduction == 0 and report.total == 25
    assert any("could not inspect report.pdf" in p for p in report.problems)
