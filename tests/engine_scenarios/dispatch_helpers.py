"""Shared by the tests of where submissions are graded (local threads, submitit, Slurm):
a toy class, settings, a plug-in whose grading process dies, a grader in a subprocess."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from autograder.config import Settings

from engine_scenarios.engine_helpers import build_submission
from engine_scenarios.toy_plugin import ToyPlugin

TESTS = Path(__file__).parents[1]
CLASS = {"ann": "perfect", "ben": "wrong_answers", "cat": "messy_notebook",
         "dan": "missing_lab2", "eve": "perfect"}


def python_path() -> str:
    """PYTHONPATH for a grader or job process started by a test: the tests folder (the toy
    plug-ins) before whatever this process was given."""
    return os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)


def class_folder(root: Path, names: dict[str, str] = CLASS) -> Path:
    folder = root / "class"
    folder.mkdir(parents=True)
    for student, name in names.items():
        build_submission(name, root / "build" / student).rename(folder / student)
    return folder


def comparable(reports) -> list[dict]:
    """Reports without what may differ between runs (seconds)."""
    out = []
    for report in reports:
        data = report.to_dict()
        data.pop("seconds")
        out.append(data)
    return out


def settings(folder: Path, out: Path, **kw) -> Settings:
    return Settings(submissions=(folder,), out=out, progress=False, memory_mb=768,
                    job_cache=False, **kw)


class DyingPlugin(ToyPlugin):
    """The toy homework, except that grading ``dan`` kills the process that grades him (a
    lost node, as the grader sees it)."""

    def plan(self, submission, ctx):
        if submission.student_id == "dan":
            os._exit(1)
        return super().plan(submission, ctx)


def submitted(out: Path) -> dict[str, str]:
    try:
        with sqlite3.connect(f"file:{out / 'gradebook.sqlite'}?mode=ro", uri=True) as db:
            return dict(db.execute("SELECT student_id, job_id FROM submitted").fetchall())
    except sqlite3.OperationalError:
        return {}


def grade_in_subprocess(folder: Path, out: Path, log: Path, *extra: str,
                        env: dict[str, str] | None = None) -> subprocess.Popen:
    """``autograde`` with the counting toy plug-in (it notes each student it plans in
    ``log``)."""
    env = {**(env or os.environ), "PYTHONPATH": python_path(), "HW3_PLAN_LOG": str(log)}
    return subprocess.Popen(
        [sys.executable, "-m", "autograder.cli", str(folder), "--out", str(out),
         "--plugin", "hostile.counting_plugin:plugin", "--no-progress", "--memory-mb", "768",
         *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def assert_killed_grader_resumes(tmp_path: Path, *options: str,
                                 env: dict[str, str] | None = None) -> None:
    """Kill a grader once all three students' jobs are submitted, run it again: it waits
    for those jobs, submits nothing twice, grades all three and leaves no job pending."""
    folder = class_folder(tmp_path, {"ann": "perfect", "ben": "wrong_answers",
                                     "cat": "messy_notebook"})
    out, log = tmp_path / "out", tmp_path / "planned.log"
    first = grade_in_subprocess(folder, out, log, *options, env=env)
    try:
        deadline = time.monotonic() + 120
        while len(submitted(out)) < 3:
            assert first.poll() is None and time.monotonic() < deadline, first.stdout.read()
            time.sleep(0.05)
    finally:
        first.kill()
        first.wait()
    ids = submitted(out)
    second = grade_in_subprocess(folder, out, log, *options, env=env)
    text, _ = second.communicate(timeout=300)
    assert second.returncode == 0, text
    assert "graded 3" in text
    assert sorted(log.read_text().split()) == ["ann", "ben", "cat"]  # each planned once
    assert submitted(out) == {} and len(set(ids.values())) == 3
