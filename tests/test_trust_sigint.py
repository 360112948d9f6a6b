"""A grader stopped with a real SIGINT (Ctrl-C) or SIGTERM in the middle of a batch, while a
sandbox is busy with a step far from its time limit: it exits within seconds, none of its
sandboxed processes is left, the gradebook holds only whole results (no report of the
interrupted submission, no "died" or "timeout" taken from the kill), and a rerun grades the
rest. Same set-up as tests/test_resume_kill.py (the toy homework through the real CLI).
"""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from autograder.models import SubmissionReport
from engine_scenarios.engine_helpers import notebook_bytes, pdf_bytes, write_zip
from test_resume_kill import STUDENTS, TOY, _grade, _planned, _recorded, _sandboxes

# Every student's `add` sleeps far longer than the kill takes, inside its 20 s step limit.
SLEEPY_ADD = "import time\n\ndef add(a, b):\n    time.sleep(15)\n    {!r}\n    return a + b\n"
FAST_ADD = "def add(a, b):\n    {!r}\n    return a + b\n"


def _class(root: Path) -> Path:
    """The first two students answer at once, the others sleep in every call."""
    folder = root / "class"
    for i, student in enumerate(STUDENTS):
        cells = root / f"{student}.cells"
        add = (FAST_ADD if i < 2 else SLEEPY_ADD).format(student)
        cells.write_text((TOY / "toy_a.cells").read_text().replace(
            "def add(a, b):\n    return a + b\n", add))
        write_zip(folder / student / "code.zip",
                  {"ToyA.ipynb": notebook_bytes(cells),
                   "ToyB.ipynb": notebook_bytes(TOY / "toy_b.cells")})
        (folder / student / "report.pdf").write_bytes(pdf_bytes())
    return folder


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_grader_kills_its_sandboxes_and_records_nothing_half_done(
        tmp_path: Path, signum: int) -> None:
    folder, out, log = _class(tmp_path), tmp_path / "out", tmp_path / "planned.log"
    staging = tmp_path / "staging"
    staging.mkdir()
    grader = _grade(folder, out, log)
    try:
        deadline = time.monotonic() + 240
        while not (len(_recorded(out)) >= 2 and _sandboxes(grader.pid, staging)):
            assert grader.poll() is None, grader.stdout.read()
            assert time.monotonic() < deadline, "the batch did not get going"
            time.sleep(0.05)
        time.sleep(1.0)  # the sandbox is inside a 15 s sleep now
        grader.send_signal(signum)
        stopped = time.monotonic()
        output, _ = grader.communicate(timeout=60)
        took = time.monotonic() - stopped
    finally:
        grader.kill()
    assert took < 8, f"the grader took {took:.1f} s to stop:\n{output}"
    assert grader.returncode == (130 if signum == signal.SIGINT else 128 + signum), output

    deadline = time.monotonic() + 5
    while _sandboxes(grader.pid, staging) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _sandboxes(grader.pid, staging) == []

    recorded = _recorded(out)
    assert 2 <= len(recorded) < len(STUDENTS)
    assert [s for s in _planned(log) if s not in recorded], "the stop was meant to land mid-way"
    with sqlite3.connect(out / "gradebook.sqlite") as db:
        rows = db.execute("SELECT report FROM results").fetchall()
    for (text,) in rows:
        report = SubmissionReport.from_dict(json.loads(text))
        assert report.error == ""
        statuses = {c.status.value for i in report.items for c in i.checks if c.status}
        assert statuses <= {"ok"}, (report.student_id, statuses)
