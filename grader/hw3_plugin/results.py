"""Check results in the engine's one type, ``autograder.models.CheckResult``, made from a
check id (its item is the part before the dot: ``lab1a.sizes`` -> ``lab1a``). The status of
the call that fed a check is added by the plug-in when it collects the results."""

from __future__ import annotations

from autograder.models import CheckResult


def item_of(check_id: str) -> str:
    return check_id.split(".")[0]


def result(check_id: str, passed: bool, message: str) -> CheckResult:
    """A pass/fail check; ``message`` says what was expected and what was seen."""
    return CheckResult.of(check_id, item_of(check_id), bool(passed), message)


def ok(check_id: str, message: str) -> CheckResult:
    return result(check_id, True, message)


def fail(check_id: str, message: str) -> CheckResult:
    return result(check_id, False, message)
