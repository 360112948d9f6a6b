"""Deadlines no message can move (sandbox level, fast):

- student code that finds the job's channel and sends "step start" for its own step again
  and again is stopped at the step's own limit, counted from its first start;
- a start for a step other than the one expected next is ignored;
- an attempt and a job have a hard wall-clock cap, whatever the messages say.
"""

from __future__ import annotations

import time
from pathlib import Path

from autograder.models import Isolation, Job, Status, Step
from autograder.sandbox.isolation import works
from autograder.sandbox.runner import SandboxLimits, job_cap_s, run_job

LIMITS = SandboxLimits(memory_mb=768, max_processes=64)
LEVEL = next(level for level in Isolation if works(level))

STUDENT = '''
import gc, json, os, time

def _channel():
    return next(o for o in gc.get_objects()
                if type(o).__name__ == "Channel" and hasattr(o, "nonce"))

def _send(channel, **fields):
    os.write(channel.fd, (json.dumps({"nonce": channel.nonce, **fields}) + "\\n").encode())

def restart_own():
    """Says "my step starts now" every half second, and sleeps."""
    channel = _channel()
    for _ in range(120):
        _send(channel, type="step_start", step_id="restart_own")
        _send(channel, type="loaded", errors=[])
        time.sleep(0.5)
    return "never stopped"

def start_later():
    """Announces the last step while this one sleeps."""
    channel = _channel()
    for _ in range(120):
        _send(channel, type="step_start", step_id="later")
        time.sleep(0.5)
    return "never stopped"

def leapfrog():
    """Ends its own step, then starts and ends each later one in turn, and sleeps."""
    channel = _channel()
    for step in ("leapfrog", "later"):
        _send(channel, type="step_end", step_id=step, status="ok", value=1, message="",
              seconds=0.1)
        _send(channel, type="step_start", step_id="later")
    time.sleep(60)

def later():
    return 2
'''


def _run(tmp_path: Path, name: str, timeout_s: float = 3.0):
    steps = (Step(name, f"student:{name}", (), timeout_s=timeout_s),
             Step("later", "student:later", (), timeout_s=timeout_s))
    job = Job("deadlines", module_source=STUDENT, steps=steps, load_timeout_s=20)
    started = time.monotonic()
    outcome = run_job(job, tmp_path / "job", LEVEL, LIMITS)
    return outcome.steps, time.monotonic() - started


def test_a_repeated_start_of_its_own_step_moves_no_deadline(tmp_path: Path) -> None:
    steps, seconds = _run(tmp_path, "restart_own")
    assert steps["restart_own"].status is Status.TIMEOUT, steps["restart_own"]
    assert steps["restart_own"].seconds < 3.0 + 2.0
    assert steps["later"].status is Status.OK and steps["later"].value == 2
    assert seconds < 30


def test_a_start_of_another_step_is_ignored(tmp_path: Path) -> None:
    steps, seconds = _run(tmp_path, "start_later")
    assert steps["start_later"].status is Status.TIMEOUT, steps["start_later"]
    assert steps["later"].status is Status.OK and steps["later"].value == 2
    assert seconds < 30


def test_forged_steps_stay_within_the_job_cap(tmp_path: Path) -> None:
    steps, seconds = _run(tmp_path, "leapfrog")
    job = Job("deadlines", module_source=STUDENT, load_timeout_s=20,
              steps=(Step("leapfrog", "student:leapfrog", (), timeout_s=3.0),
                     Step("later", "student:later", (), timeout_s=3.0)))
    assert seconds <= job_cap_s(job) + 10
    assert seconds < 45


def test_the_job_cap_counts_every_step_and_load() -> None:
    job = Job("j", module_source="", load_timeout_s=20,
              steps=(Step("a", "student:a", (), timeout_s=3.0),
                     Step("b", "student:b", (), timeout_s=5.0)))
    assert job_cap_s(job) >= 3 + 5 + 20
    notebook = Job("n", kind="notebook", notebook={"cells": []}, timeout_s=100)
    assert 100 <= job_cap_s(notebook) <= 400


