"""The outcome of one check as the homework's judges produce it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """Whether a check passed and a message saying what was expected and what was seen."""

    passed: bool
    message: str


def ok(message: str) -> Verdict:
    return Verdict(True, message)


def fail(message: str) -> Verdict:
    return Verdict(False, message)
