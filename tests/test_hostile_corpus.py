"""The hostile submissions corpus (tests/hostile), graded in ONE batch under the strongest
isolation, with two honest submissions graded after every attack:

- every hostile submission gets exactly its expected score (expected.json), and its lost
  checks say what happened (status and message); unsafe archives are refused with reason;
- the batch completes, and every report records the isolation level used;
- nothing outside the sandboxes changes: a canary file, the files the attacks write to,
  and the grader's output folder hold only what the grader wrote;
- no sandboxed process outlives the batch (the fork bomb's children included);
- the honest submissions get the same results as when graded alone;
- the solution's canary (hw3_solution.REFERENCE_CANARY, carried into every piece of
  reference code the grader runs in a sandbox) is in no byte written for students
  (feedback, Gradescope results, grades.csv, summary), while the attacks that read the
  reference show it in the instructor-only folder (staff/).

The attacks' expected scores assume bubblewrap (CI installs it: .ci/run); without it the
module is skipped, since some attacks (kill the parent, read the solution) would then hit
the grader itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import hw3_plugin
import hw3_solution
import pytest
from autograder.config import Settings
from autograder.models import Isolation, SubmissionReport
from autograder.pipeline import run_batch
from autograder.sandbox.isolation import drops_privileges, user_ids, works
from hostile.make_corpus import (
    ATTACKS,
    EXPECTED_FILE,
    HONEST,
    LEAKS_TO_STAFF,
    Targets,
    build_corpus,
    expected,
)
from hw3_solution import REFERENCE_CANARY
from message_tone import contradiction

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(2400),  # one batch of 50 submissions, some minutes long by design
    pytest.mark.skipif(not works(Isolation.BWRAP),
                       reason="the hostile corpus needs bubblewrap (.ci/run installs it)"),
]
SCALE = 0.5  # time limits halved: every honest step stays far inside its limit
DISK_MB = 512  # each sandbox's disk quota (the disk filler's bound is 2 GiB)
EXPECTED_ALL = json.loads(EXPECTED_FILE.read_text())
# The attacks graded in this one batch (the others attack a batch as a whole and are graded
# in batches of their own: tests/test_hostile_batches.py).
EXPECTED = {name: want for name, want in EXPECTED_ALL.items() if want["batch"] == "corpus"}
# Files the attacks write to or read; none may change.
TARGETS = (Path(hw3_plugin.__file__).parent / "rubric.toml",
           Path(hw3_plugin.__file__).parent / "checks_lab1.py",
           Path(hw3_solution.__file__).parent / "lab_rnn.py")
GRADER_OUTPUTS = {"gradebook.sqlite", "gradebook.sqlite-wal", "gradebook.sqlite-shm",
                  "settings.json", "grades.csv", "feedback", "gradescope", "summary", ".cache",
                  "staff", "manual_sheet.csv", "regrades"}
STUDENT_OUTPUTS = ("feedback", "gradescope", "grades.csv", "summary")


@dataclass
class Graded:
    reports: dict[str, SubmissionReport]
    alone: dict[str, SubmissionReport]
    isolation: Isolation
    seconds: float
    out: Path
    root: Path
    canary: Path
    digests: tuple[dict[str, str], dict[str, str]]  # before, after
    leftovers: list[str]


def _digests(paths) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "absent"
            for p in paths}


def _sandbox_processes(tmp: Path) -> list[str]:
    """Processes started for this module's sandboxes still alive: by the users they run as
    (under root), or by the staging folder on their command line."""
    uids = user_ids(os.getpid()) if drops_privileges(Isolation.BWRAP) else range(0)
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            uid = proc.stat().st_uid
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if uid in uids or str(tmp) in command:
            found.append(f"{proc.name} (uid {uid}): {command[:120]}")
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Graded:
    root = tmp_path_factory.mktemp("hostile")
    out, staging = root / "out", root / "staging"
    staging.mkdir()
    canary = root / "outside" / "canary.txt"
    canary.parent.mkdir()
    canary.write_text("nothing may change this file\n")
    targets = Targets(out, canary)
    build_corpus(root / "class", targets)
    honest = root / "honest"
    for attack in HONEST:
        shutil.copytree(root / "class" / attack.name, honest / attack.name, symlinks=True)
    watched = (*TARGETS, canary, root / "escaped.txt", root / "class" / "escaped.txt",
               Path("/tmp/hw3-hostile-absolute.txt"), Path("/escaped.txt"))
    before = _digests(watched)
    settings = dict(progress=False, timeout_scale=SCALE, disk_mb=DISK_MB)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tempfile, "tempdir", str(staging))  # the grader's staging folders
        started = time.monotonic()
        result = run_batch(Settings(submissions=(root / "class",), out=out, **settings),
                           say=lambda _: None)
        seconds = time.monotonic() - started
        deadline = time.monotonic() + 5  # the kernel finishes off killed namespaces
        while (leftovers := _sandbox_processes(staging)) and time.monotonic() < deadline:
            time.sleep(0.1)
        alone = run_batch(Settings(submissions=(honest,), out=root / "alone", **settings),
                          say=lambda _: None)
    print(f"\nhostile batch: {len(result.reports)} submissions in {seconds:.0f} s "
          f"({result.isolation.value})")
    return Graded({r.student_id: r for r in result.reports},
                  {r.student_id: r for r in alone.reports}, result.isolation, seconds, out,
                  root, canary, (before, _digests(watched)), leftovers)


def test_expected_scores_are_fresh() -> None:
    """expected.json is what the corpus generator derives from the attacks and the rubric."""
    assert EXPECTED_ALL == expected(), \
        "run: python -m hostile.make_corpus --expected (in tests/)"
    assert len(ATTACKS) >= 15


def test_the_batch_completes_under_the_strongest_isolation(graded: Graded) -> None:
    assert graded.isolation is Isolation.BWRAP
    assert sorted(graded.reports) == sorted(EXPECTED)
    assert {r.isolation for r in graded.reports.values()} == {"bwrap"}


@pytest.mark.parametrize("name", [a.name for a in (*ATTACKS, *HONEST)])
def test_each_submission_gets_exactly_its_expected_score(graded: Graded, name: str) -> None:
    report, want = graded.reports[name], EXPECTED[name]
    checks = {c.check_id: c for item in report.items if not item.manual for c in item.checks}
    failed = sorted(c for c, result in checks.items() if not result.passed)
    assert failed == want["lost_checks"], {c: checks[c].message[:200] for c in failed}
    assert report.auto_points == pytest.approx(want["auto_points"])
    for check_id in want["attack_checks"]:
        check = checks[check_id]
        assert check.message.strip(), f"{check_id}: no message"
        # the grader's reason: in the message, or kept for staff where the job held
        # reference code (the student then reads the grader's words only)
        assert want["message"] in check.message + check.detail, (check_id, check.message)
        if want["status"]:
            assert check.status is not None and check.status.value == want["status"], (
                check_id, check.status, check.message)
    if want["error"]:
        assert want["error"] in report.error
        assert report.total == 0
    else:
        assert report.error == ""
    if want["note"]:  # noted, never deducted
        assert any(want["note"] in note for note in report.problems), report.problems
        assert report.form.deduction == 0 and report.form.reasons == ()


def test_no_message_contradicts_its_verdict(graded: Graded) -> None:
    """A passed check never reads as a failure, nor the reverse (tests/message_tone.py)."""
    wrong = [(name, c.check_id, c.passed, why, c.message[:160])
             for name, report in graded.reports.items() for item in report.items
             for c in item.checks if (why := contradiction(c.passed, c.message))]
    assert not wrong, wrong


def test_nothing_outside_the_sandboxes_changes(graded: Graded) -> None:
    before, after = graded.digests
    assert after == before
    assert graded.canary.read_text() == "nothing may change this file\n"
    assert {p.name for p in graded.out.iterdir()} <= GRADER_OUTPUTS
    stray = [p for p in graded.root.rglob("*escaped*")]
    assert not stray


def test_no_sandboxed_process_outlives_the_batch(graded: Graded) -> None:
    assert graded.leftovers == []


def test_gradebook_holds_what_was_graded(graded: Graded) -> None:
    """The write attack's UPDATE never reached the gradebook: every stored report is the
    one the batch produced, and the Gradescope file carries the same totals."""
    import sqlite3

    with sqlite3.connect(graded.out / "gradebook.sqlite") as db:
        rows = dict(db.execute("SELECT student_id, report FROM results").fetchall())
    assert sorted(rows) == sorted(EXPECTED)
    for name, text in rows.items():
        assert SubmissionReport.from_dict(json.loads(text)).auto_points == pytest.approx(
            EXPECTED[name]["auto_points"])


def test_output_floods_are_cut(graded: Graded) -> None:
    report = graded.reports["output-flood"]
    assert len(json.dumps(report.to_dict())) < 200_000
    assert report.auto_points == pytest.approx(EXPECTED["output-flood"]["auto_points"])


def test_honest_submissions_score_as_when_graded_alone(graded: Graded) -> None:
    for attack in HONEST:
        in_batch, alone = graded.reports[attack.name], graded.alone[attack.name]
        assert in_batch.auto_points == alone.auto_points
        assert [(c.check_id, c.passed, c.message) for i in in_batch.items for c in i.checks] \
            == [(c.check_id, c.passed, c.message) for i in alone.items for c in i.checks]


def _student_files(out: Path) -> list[Path]:
    found = []
    for name in STUDENT_OUTPUTS:
        path = out / name
        found += [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return found


def test_no_canary_in_anything_written_for_students(graded: Graded) -> None:
    canary = REFERENCE_CANARY.encode()
    files = _student_files(graded.out)
    assert len(files) > 2 * len(EXPECTED)
    leaked = []
    for path in files:
        data = path.read_bytes()
        if path.name == "results.json":  # hidden tests are staff-only: drop them first
            results = json.loads(data)
            results["tests"] = [t for t in results["tests"] if t["visibility"] != "hidden"]
            data = json.dumps(results).encode()
        if canary in data:
            leaked.append(str(path.relative_to(graded.out)))
    assert leaked == []


def test_what_the_reference_leakers_read_went_to_staff_only(graded: Graded) -> None:
    for name in LEAKS_TO_STAFF:
        staff = graded.out / "staff" / f"{name}.md"
        assert staff.is_file() and REFERENCE_CANARY in staff.read_text(), name
        results = json.loads((graded.out / "gradescope" / name / "results.json").read_text())
        hidden = [t for t in results["tests"] if REFERENCE_CANARY in t["output"]]
        assert hidden and {t["visibility"] for t in hidden} == {"hidden"}, name
