"""A disk quota per sandbox (bwrap): the work folder is a tmpfs of ``disk_mb`` MiB, seeded
from the prepared folder, and its outbox comes back to the grader as messages.

- a submission that writes until the disk is full meets the quota (No space left on
  device) in that step only; the next step runs; the grader's disk gains nothing;
- the outbox still comes back (a file written there is in ``JobOutcome.outbox``), and
  forged pieces of it with unsafe paths or beyond the quota are dropped.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from autograder.models import Isolation, Job, Status, Step
from autograder.sandbox import runner
from autograder.sandbox.isolation import works
from autograder.sandbox.runner import SandboxLimits, run_job

needs_bwrap = pytest.mark.skipif(not works(Isolation.BWRAP),
                                 reason="the disk quota needs bubblewrap")
QUOTA_MB = 64

STUDENT = '''
import base64, gc, json, os

def fill():
    """Writes 1 MiB after 1 MiB, up to 2 GiB (bounded, so a missing quota cannot sink
    the machine running the tests)."""
    block = os.urandom(1 << 20)
    written = 0
    os.makedirs("filler", exist_ok=True)
    for i in range(2048):
        with open(f"filler/{i}.bin", "wb") as handle:
            handle.write(block)
        written += 1
    return f"wrote {written} MiB"

def later():
    return 2

def leave_result():
    with open(os.path.join(os.environ["GRADER_OUTBOX"], "result.json"), "w") as handle:
        handle.write('{"answer": 42}')
    os.makedirs(os.path.join(os.environ["GRADER_OUTBOX"], "model"), exist_ok=True)
    with open(os.path.join(os.environ["GRADER_OUTBOX"], "model", "weights.bin"), "wb") as h:
        h.write(bytes(5 << 20))
    return "left"

def leave_model():
    """A model-sized outbox: 64 MiB of weights in two files."""
    folder = os.path.join(os.environ["GRADER_OUTBOX"], "trainer0")
    os.makedirs(folder, exist_ok=True)
    for name in ("model.safetensors", "optimizer.safetensors"):
        with open(os.path.join(folder, name), "wb") as handle:
            handle.write(os.urandom(32 << 20))
    return "left"

def forge_pieces():
    channel = next(o for o in gc.get_objects()
                   if type(o).__name__ == "Channel" and hasattr(o, "nonce"))
    for path in ("../escaped.txt", "/tmp/escaped.txt", "a/../../escaped.txt", "./x/../.."):
        line = {"type": "file", "nonce": channel.nonce, "path": path,
                "data": base64.b64encode(b"escaped").decode()}
        os.write(channel.fd, (json.dumps(line) + "\\n").encode())
    huge = base64.b64encode(bytes(8 << 20)).decode()
    for i in range(10):  # 80 MiB claimed: more than the quota could hold
        line = {"type": "file", "nonce": channel.nonce, "path": "forged.bin", "data": huge}
        os.write(channel.fd, (json.dumps(line) + "\\n").encode())
    return "forged"
'''


def _free(path: Path) -> int:
    return shutil.disk_usage(path).free


@needs_bwrap
def test_a_disk_filler_meets_the_quota_and_costs_its_step_only(tmp_path: Path) -> None:
    steps = (Step("fill", "student:fill", timeout_s=60), Step("later", "student:later"))
    job = Job("filler", module_source=STUDENT, steps=steps)
    free = _free(tmp_path)
    outcome = run_job(job, tmp_path / "job", Isolation.BWRAP,
                      SandboxLimits(memory_mb=768, disk_mb=QUOTA_MB))
    fill = outcome.steps["fill"]
    assert fill.status is Status.ERROR, fill
    assert "No space left on device" in fill.message
    assert outcome.steps["later"].value == 2
    used = sum(p.stat().st_size for p in (tmp_path / "job").rglob("*") if p.is_file())
    assert used < 8 << 20, f"the grader's disk holds {used} bytes of the sandbox's"
    assert free - _free(tmp_path) < 32 << 20


def _outbox_of(tmp_path: Path, name: str):
    job = Job("outbox", module_source=STUDENT, steps=(Step(name, f"student:{name}"),))
    return run_job(job, tmp_path / "job", Isolation.BWRAP,
                   SandboxLimits(memory_mb=768, disk_mb=QUOTA_MB))


@needs_bwrap
def test_the_outbox_comes_back(tmp_path: Path) -> None:
    outcome = _outbox_of(tmp_path, "leave_result")
    assert outcome.steps["leave_result"].value == "left"
    assert (outcome.outbox / "result.json").read_text() == '{"answer": 42}'
    assert (outcome.outbox / "model" / "weights.bin").stat().st_size == 5 << 20


@needs_bwrap
def test_forged_pieces_of_the_outbox_are_dropped(tmp_path: Path) -> None:
    outcome = _outbox_of(tmp_path, "forge_pieces")
    assert outcome.steps["forge_pieces"].value == "forged"
    assert not list(tmp_path.rglob("escaped*")) and not Path("/tmp/escaped.txt").exists()
    total = sum(p.stat().st_size for p in outcome.outbox.rglob("*") if p.is_file())
    assert total <= QUOTA_MB << 20  # 80 MiB were claimed


@needs_bwrap
def test_an_outbox_longer_to_hand_over_than_a_step_break_comes_back_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The outbox follows the last step: its hand-over has an allowance of its own (for a
    full quota), not the few seconds between two steps (at full size a 500 MB model came
    back cut, and the measurement job could not read it)."""
    monkeypatch.setattr(runner, "BETWEEN_STEPS_S", 0.2)
    job = Job("outbox", module_source=STUDENT, steps=(Step("leave_model", "student:leave_model"),))
    outcome = run_job(job, tmp_path / "job", Isolation.BWRAP,
                      SandboxLimits(memory_mb=768, disk_mb=256))
    assert outcome.steps["leave_model"].value == "left"
    sizes = [p.stat().st_size for p in sorted((outcome.outbox / "trainer0").iterdir())]
    assert sizes == [32 << 20, 32 << 20]
