"""Where submissions are graded (dispatch.py), with the toy plug-in: the batch's reports
and order do not depend on the number of workers or on the executor; submitit's local
executor records its job ids, a killed grader waits for its jobs instead of submitting them
again, and a job that dies is an internal error, never a grade."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from autograder.pipeline import run_batch
from engine_scenarios.dispatch_helpers import (
    CLASS,
    DyingPlugin,
    assert_killed_grader_resumes,
    class_folder,
    comparable,
    python_path,
    settings,
)
from engine_scenarios.engine_helpers import scenario
from engine_scenarios.toy_plugin import ToyPlugin


def test_reports_and_order_do_not_depend_on_the_worker_count(tmp_path: Path) -> None:
    folder = class_folder(tmp_path)
    one = run_batch(settings(folder, tmp_path / "one", workers=1), ToyPlugin(),
                    say=lambda _: None)
    two = run_batch(settings(folder, tmp_path / "two", workers=2), ToyPlugin(),
                    say=lambda _: None)
    assert one.graded == two.graded == sorted(CLASS)
    assert comparable(one.reports) == comparable(two.reports)
    assert [r.total for r in two.reports] == [scenario(CLASS[s])["expected"]["total"]
                                              for s in sorted(CLASS)]
    for name in ("grades.csv", "summary/summary.json"):
        assert (tmp_path / "one" / name).read_text() == (tmp_path / "two" / name).read_text()


class OneAtATimePlugin(ToyPlugin):
    """Records how many submissions are inside ``plan``/``judge`` at once (each call
    lingers, so that overlapping calls would meet)."""

    def __init__(self) -> None:
        super().__init__()
        self.inside, self.most = 0, 0
        self.lock = threading.Lock()

    def _enter(self) -> None:
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        time.sleep(0.2)
        with self.lock:
            self.inside -= 1

    def plan(self, submission, ctx):
        self._enter()
        return super().plan(submission, ctx)

    def judge(self, outcomes, ctx):
        self._enter()
        return super().judge(outcomes, ctx)


def test_plugin_code_runs_one_submission_at_a_time(tmp_path: Path) -> None:
    """Parallel workers run sandbox jobs at once, never the plug-in's own code (it loads
    models with libraries that are not thread-safe: two GPT-2 loads at once gave garbage
    weights and an OverflowError in the reference perplexity)."""
    plugin = OneAtATimePlugin()
    result = run_batch(settings(class_folder(tmp_path), tmp_path / "out", workers=3), plugin,
                       say=lambda _: None)
    assert result.graded == sorted(CLASS) and plugin.most == 1


def test_submitit_local_gives_the_local_reports(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", python_path())  # the job's Python imports the toy plug-in
    folder = class_folder(tmp_path, {"ann": "perfect", "ben": "wrong_answers"})
    local = run_batch(settings(folder, tmp_path / "local"), ToyPlugin(), say=lambda _: None)
    jobs = run_batch(settings(folder, tmp_path / "jobs", executor="submitit-local", workers=2),
                     ToyPlugin(), say=lambda _: None)
    assert jobs.graded == ["ann", "ben"] and not jobs.failures
    assert comparable(jobs.reports) == comparable(local.reports)
    with sqlite3.connect(tmp_path / "jobs" / "gradebook.sqlite") as db:  # ids forgotten
        assert db.execute("SELECT COUNT(*) FROM submitted").fetchone()[0] == 0


def test_a_dead_job_is_an_internal_error_not_a_grade(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", python_path())
    folder = class_folder(tmp_path, {"ann": "perfect", "dan": "missing_lab2"})
    out = tmp_path / "out"
    result = run_batch(settings(folder, out, executor="submitit-local"), DyingPlugin(),
                       say=lambda _: None)
    assert result.graded == ["ann"] and [f.student_id for f in result.failures] == ["dan"]
    assert "without a result" in result.failures[0].summary
    assert [r.student_id for r in result.reports] == ["ann"]
    assert "dan" not in (out / "grades.csv").read_text()
    again = run_batch(settings(folder, out, executor="submitit-local"), ToyPlugin(),
                      say=lambda _: None)
    assert (again.skipped, again.graded) == (["ann"], ["dan"])  # retried, then graded


@pytest.mark.parametrize("executor", ["submitit-local"])
def test_killed_grader_waits_for_its_jobs(tmp_path: Path, executor: str) -> None:
    assert_killed_grader_resumes(tmp_path, "--executor", executor, "--workers", "3")
