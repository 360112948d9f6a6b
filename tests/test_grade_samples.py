"""The bundled sample submissions, graded as `nox -s grade` grades them: the reference earns
every automatic point, the bare starter none, and each known mistake loses exactly the
checks it should while keeping the rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from autograder.config import Settings
from autograder.models import SubmissionReport
from autograder.pipeline import run_batch
from hw3_fixtures.samples import (
    EXPECTED_FILE,
    SAMPLES,
    STRAY_FILE,
    expected_scores,
    write_samples,
)
from message_tone import contradiction

# One batch grades every sample (25 and more): on a busy 2-core machine that is well past
# the suite's default 600 s limit, which would count it against the first test.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
SUBMISSIONS = Path(__file__).resolve().parents[1] / "fixtures" / "submissions"
EXPECTED = expected_scores()


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("grading")
    return run_batch(Settings(submissions=(SUBMISSIONS,), out=out, progress=False),
                     say=lambda _: None)


@pytest.fixture(scope="module")
def graded(batch) -> dict[str, SubmissionReport]:
    return {r.student_id: r for r in batch.reports}


def test_committed_samples_are_fresh(tmp_path):
    """The committed samples are what the generator makes from today's solution."""
    write_samples(tmp_path, tmp_path / "expected.json")
    for sample in SAMPLES:
        for name in ("code.zip", "report.pdf"):
            fresh, committed = tmp_path / sample.name / name, SUBMISSIONS / sample.name / name
            assert fresh.read_bytes() == committed.read_bytes(), (
                f"{committed} is stale: run python -m hw3_fixtures.samples")
    assert json.loads(EXPECTED_FILE.read_text()) == EXPECTED
    assert (tmp_path / STRAY_FILE).read_bytes() == (SUBMISSIONS / STRAY_FILE).read_bytes()


def test_a_stray_file_beside_the_samples_is_skipped_with_a_note(batch):
    assert STRAY_FILE.split(".")[0] not in {r.student_id for r in batch.reports}
    assert any(p.startswith(f"skipped {STRAY_FILE}") for p in batch.problems), batch.problems


def test_every_sample_is_graded(graded):
    assert sorted(graded) == sorted(s.name for s in SAMPLES)
    for report in graded.values():
        assert not report.error, f"{report.student_id}: {report.error}"


@pytest.mark.parametrize("name", [s.name for s in SAMPLES])
def test_sample_loses_exactly_its_mistakes(graded, name):
    report, expected = graded[name], EXPECTED[name]
    checks = [c for item in report.items if not item.manual for c in item.checks]
    assert checks, "no automatic check ran"
    if expected["all_auto_lost"]:
        assert all(not c.passed for c in checks), [c.check_id for c in checks if c.passed]
        assert report.auto_points == 0
        return
    failed = sorted(c.check_id for c in checks if not c.passed)
    details = {c.check_id: c.message for c in checks if not c.passed}
    assert failed == expected["lost_checks"], details
    lost = sum(c.max_points for c in checks if not c.passed)
    assert report.auto_points == pytest.approx(report.auto_max - lost)
    assert report.form.deduction == pytest.approx(expected["form_deduction"])
    if expected["form_deduction"]:
        assert report.form.reasons, "a deduction must say why"
    for phrase in expected.get("notes", []):
        assert any(phrase in note for note in report.problems), (phrase, report.problems)
    for phrase in expected.get("form_reasons", []):
        assert any(phrase in r for r in report.form.reasons), (phrase, report.form.reasons)


def test_no_message_contradicts_its_verdict(graded):
    """Over every sample's report: a passed check never reads as a failure, nor the
    reverse (tests/message_tone.py)."""
    wrong = [(name, c.check_id, c.passed, why, c.message[:160])
             for name, report in graded.items() for item in report.items for c in item.checks
             if (why := contradiction(c.passed, c.message))]
    assert not wrong, wrong


def test_manual_items_are_listed_not_scored(graded):
    report = graded["reference"]
    manual = {i.item_id: i.max_points for i in report.items if i.manual}
    assert manual == {"tf": 30, "lab1f_obs": 2, "lab2f": 5}
    assert report.manual_pending == tuple(manual)
    assert report.auto_max == 73
