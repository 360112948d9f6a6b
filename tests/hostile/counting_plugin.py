"""The toy homework of the engine tests, noting in ``$HW3_PLAN_LOG`` every submission it
starts to grade (the kill-and-resume test counts them)."""

from __future__ import annotations

import os

from engine_scenarios.toy_plugin import ToyPlugin
from autograder.models import Job, Submission
from autograder.plugin import SubmissionContext


class CountingPlugin(ToyPlugin):
    def plan(self, submission: Submission, ctx: SubmissionContext) -> list[Job]:
        with open(os.environ["HW3_PLAN_LOG"], "a", encoding="utf-8") as log:
            log.write(submission.student_id + "\n")
        return super().plan(submission, ctx)


def plugin() -> CountingPlugin:
    return CountingPlugin()
