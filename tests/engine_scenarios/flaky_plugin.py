"""The toy homework with a check that fails once: the first judging of each student named
in ``$TOY_FLAKY_STUDENTS`` (comma-separated) raises, as a check with a bug would; it is
noted in the folder ``$TOY_FLAKY_DIR``, and the next run judges normally (the bug fixed)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from autograder.models import CheckResult, JobOutcome
from autograder.plugin import SubmissionContext

from engine_scenarios.toy_plugin import ToyPlugin


class CheckFault(RuntimeError):
    """What the faulty check raises."""


class FlakyPlugin(ToyPlugin):
    def judge(self, outcomes: Mapping[str, JobOutcome], ctx: SubmissionContext
              ) -> list[CheckResult]:
        student = ctx.submission.student_id
        if student in os.environ.get("TOY_FLAKY_STUDENTS", "").split(","):
            seen = Path(os.environ["TOY_FLAKY_DIR"]) / student
            if not seen.exists():
                seen.write_text("raised once\n")
                raise CheckFault(f"a_add.value: the check has a bug (first run of {student})")
        return super().judge(outcomes, ctx)


def plugin() -> FlakyPlugin:
    return FlakyPlugin()
