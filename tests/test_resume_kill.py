"""A grader killed with SIGKILL in the middle of a batch, while sandboxes are running, and
run again: it continues where it stopped, and every submission is graded exactly once;
no sandboxed process outlives the killed grader; ``--regrade`` grades all again.

The batch runs through the real command line (``python -m autograder.cli``) with the toy
homework of the engine tests (tests/hostile/counting_plugin.py notes every submission it
starts to grade), so that it is cheap; each submission's probes sleep a little, so the
kill lands while a sandbox is at work.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from autograder.models import SubmissionReport
from autograder.sandbox.isolation import choose, drops_privileges, user_ids
from engine_scenarios.engine_helpers import notebook_bytes, pdf_bytes, write_zip

TESTS = Path(__file__).parent
TOY = TESTS / "engine_scenarios" / "perfect"
STUDENTS = [f"student{i:02d}" for i in range(6)]
# distinct per student (the job cache would reuse one student's outcomes for the next)
SLOW_ADD = "import time\n\ndef add(a, b):\n    time.sleep(0.7)\n    {!r}\n    return a + b\n"


def _class_folder(root: Path) -> Path:
    """Six toy submissions whose `add` takes a while."""
    folder = root / "class"
    for student in STUDENTS:
        cells = root / f"{student}.cells"
        cells.write_text((TOY / "toy_a.cells").read_text().replace(
            "def add(a, b):\n    return a + b\n", SLOW_ADD.format(student)))
        write_zip(folder / student / "code.zip",
                  {"ToyA.ipynb": notebook_bytes(cells),
                   "ToyB.ipynb": notebook_bytes(TOY / "toy_b.cells")})
        (folder / student / "report.pdf").write_bytes(pdf_bytes())
    return folder


def _grade(folder: Path, out: Path, log: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(TESTS), "HW3_PLAN_LOG": str(log),
           "TMPDIR": str(out.parent / "staging")}
    command = [sys.executable, "-m", "autograder.cli", str(folder), "--out", str(out),
               "--plugin", "hostile.counting_plugin:plugin", "--no-progress",
               "--memory-mb", "768", *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _recorded(out: Path) -> list[str]:
    path = out / "gradebook.sqlite"
    if not path.exists():
        return []
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return sorted(r[0] for r in db.execute("SELECT student_id FROM results"))
    except sqlite3.OperationalError:
        return []


def _sandboxes(grader_pid: int, staging: Path) -> list[str]:
    """Live processes of the grader's sandboxes: by user id (under root) or by the staging
    folder on their command line."""
    uids = user_ids(grader_pid) if drops_privileges(choose("auto")) else range(0)
    found = []
    for proc in Path("/proc").iterdir():
        try:
            uid = proc.stat().st_uid
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if proc.name.isdigit() and (uid in uids or str(staging) in command):
            found.append(f"{proc.name}: {command[:100]}")
    return found


def _scores(out: Path) -> dict[str, list]:
    with sqlite3.connect(out / "gradebook.sqlite") as db:
        rows = db.execute("SELECT student_id, report FROM results").fetchall()
    reports = {s: SubmissionReport.from_dict(json.loads(r)) for s, r in rows}
    return {s: [(i.item_id, i.points) for i in r.items] for s, r in reports.items()}


def _planned(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def test_killed_grader_resumes_and_grades_each_submission_once(tmp_path: Path) -> None:
    folder, out, log = _class_folder(tmp_path), tmp_path / "out", tmp_path / "planned.log"
    (tmp_path / "staging").mkdir()
    grader = _grade(folder, out, log)
    try:
        deadline = time.monotonic() + 240
        while not (len(_recorded(out)) >= 2 and _sandboxes(grader.pid, tmp_path / "staging")):
            assert grader.poll() is None, grader.stdout.read()
            assert time.monotonic() < deadline, "the batch did not get going"
            time.sleep(0.05)
        grader.send_signal(signal.SIGKILL)  # mid-batch, with a sandbox at work
        grader.wait(timeout=30)
    finally:
        grader.kill()
    done_before = _recorded(out)
    in_progress = [s for s in _planned(log) if s not in done_before]
    assert 2 <= len(done_before) < len(STUDENTS)
    assert in_progress, "the kill was meant to land inside a submission"

    deadline = time.monotonic() + 10
    while _sandboxes(grader.pid, tmp_path / "staging") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _sandboxes(grader.pid, tmp_path / "staging") == []

    again = _grade(folder, out, log)
    output, _ = again.communicate(timeout=300)
    assert again.returncode == 0, output
    assert f"graded {len(STUDENTS) - len(done_before)}, already graded {len(done_before)}" \
        in output
    assert _recorded(out) == STUDENTS
    planned = _planned(log)
    # Each submission was started once, except the one the kill interrupted (started in
    # both runs, recorded only by the second): none lost, none recorded twice.
    assert sorted(planned) == sorted(STUDENTS + in_progress)
    assert all(planned.count(s) == 1 for s in done_before)

    resumed = _scores(out)
    third = _grade(folder, out, log)
    output, _ = third.communicate(timeout=120)
    assert f"graded 0, already graded {len(STUDENTS)}" in output
    assert len(_planned(log)) == len(planned)  # nothing was graded again

    regrade = _grade(folder, out, log, "--regrade")
    output, _ = regrade.communicate(timeout=300)
    assert regrade.returncode == 0 and f"graded {len(STUDENTS)}, already graded 0" in output
    assert sorted(_planned(log)[len(planned):]) == STUDENTS
    assert _scores(out) == resumed  # an unbroken run gives the same results
