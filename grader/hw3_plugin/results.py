"""Check results in the engine's one type, ``autograder.models.CheckResult``, made from a
check id (its item is the part before the dot: ``lab1a.sizes`` -> ``lab1a``). The status of
the call that fed a check is added by the plug-in when it collects the results."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

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


def passed(message: str) -> CheckResult:
    """A passed check whose id the ``keyed`` judge that returns it fills in."""
    return result("", True, message)


def failed(message: str) -> CheckResult:
    """A failed check whose id the ``keyed`` judge that returns it fills in."""
    return result("", False, message)


def keyed(judge: Callable[..., dict[str, CheckResult]]) -> Callable[..., dict[str, CheckResult]]:
    """A judge returning {check id: result} gets each result's id and item from its key, so
    its body can build results with ``passed``/``failed`` and say each id once."""

    @functools.wraps(judge)
    def wrapper(*args: Any, **kwargs: Any) -> dict[str, CheckResult]:
        return {key: dataclasses.replace(r, check_id=key, item_id=item_of(key))
                for key, r in judge(*args, **kwargs).items()}

    return wrapper
