"""Samples graded with the fast path on (``fast_training="on"``, on the CPU here; on a GPU it
is the default): each loses exactly the checks it loses when every Trainer runs its own
``train()``, and the feedback of the training checks says which ran and, for a Trainer that
is not the handout's recipe, why."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from autograder.config import Settings
from autograder.pipeline import run_batch
from hw3_fixtures.samples import expected_scores
from hw3_plugin.checks_lab2 import FAITHFUL_NOTE, FAST_NOTE
from hw3_solution.fast.trainer_recipe import WHY

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
SUBMISSIONS = Path(__file__).resolve().parents[1] / "fixtures" / "submissions"
EXPECTED = expected_scores()
NO_COLLATOR = FAITHFUL_NOTE.format(WHY["labels"])
# sample -> what the feedback of lab2d.trained and lab2e.trained must end with
TRAINED_BY = {
    "reference": (FAST_NOTE, FAST_NOTE),
    "handout-reference": (FAST_NOTE, FAST_NOTE),
    "handout-trainer-no-collator": (NO_COLLATOR, FAST_NOTE),  # only (d)'s Trainer lacks it
    "bug-trainer-no-epoch-eval": (FAST_NOTE, FAST_NOTE),
    "bug-lora-not-trained": (FAST_NOTE, ""),  # (e) never calls train(): nothing to say
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("samples")
    for name in TRAINED_BY:
        shutil.copytree(SUBMISSIONS / name, folder / name)
    result = run_batch(Settings(submissions=(folder,), out=folder.parent / "out",
                                progress=False, fast_training="on"), say=lambda _: None)
    return {r.student_id: r for r in result.reports}


@pytest.mark.parametrize("name", list(TRAINED_BY))
def test_the_fast_path_loses_exactly_what_the_faithful_run_loses(graded, name):
    report = graded[name]
    checks = {c.check_id: c for item in report.items if not item.manual for c in item.checks}
    failed = sorted(i for i, c in checks.items() if not c.passed)
    assert failed == EXPECTED[name]["lost_checks"], {i: checks[i].message for i in failed}
    for check_id, note in zip(("lab2d.trained", "lab2e.trained"), TRAINED_BY[name]):
        message = checks[check_id].message
        if note:
            assert message.endswith(note), (check_id, message)
        else:
            assert "fast path" not in message, (check_id, message)


def test_no_training_note_contradicts_its_verdict():
    """Every note the training checks may carry reads neither as a pass on a failed check
    nor as a failure on a passed one (tests/message_tone.py)."""
    from hw3_plugin import public
    from hw3_plugin.checks_lab2 import TRAINING_NOTES
    from message_tone import contradiction

    wrong = [(check, passed, note) for check in ("lab2d.trained", "lab2e.trained")
             for passed in (True, False) for note in TRAINING_NOTES
             if contradiction(passed, public.notebook_message(check, passed) + note)]
    assert not wrong, wrong
