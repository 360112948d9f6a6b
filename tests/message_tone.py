"""A small phrase classifier: does a check's message read as a pass or as a failure?

Used by the property tests over every graded sample and hostile-corpus submission: a passed
check's message never reads as a failure, and a failed check's message never reads as a
pass (the kind of bug where "passed ... they differ" or "failed ... saw 135 of 135 steps"
was printed).
"""

from __future__ import annotations

import re

FAILURE = re.compile(
    r"\b(not|no|none|never|nowhere|missing|differs?|raised|failed|fails|unchanged|without|"
    r"stopped|cannot|wrong|instead|died|refused|error|limit)\b|n't", re.IGNORECASE)
QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|\([^()]*\)")
SAME_COUNT = re.compile(r"\b(\d+) of \1\b")
AT_LIMIT = re.compile(r"max_length=(\d+)\b.*\bsaw \1 (ids|tokens)\b")


def reads_as_failure(message: str) -> bool:
    return bool(FAILURE.search(message)) or message.lstrip().lower().startswith("expected")


def contradiction(passed: bool, message: str) -> str | None:
    """Why `message` contradicts the verdict `passed`, or None when it agrees."""
    if passed:
        plain = message
        while (stripped := QUOTED.sub("", plain)) != plain:  # quotes and (nested) asides
            plain = stripped
        if message.lstrip().lower().startswith("expected"):
            return "a pass worded as an expectation"
        found = FAILURE.search(plain)
        return f"a pass that says {found.group()!r}" if found else None
    if not reads_as_failure(message):
        return "a failure that names nothing wrong"
    if not FAILURE.search(message):  # only "expected ...; saw ...": what it saw must differ
        if SAME_COUNT.search(message):
            return f"a failure that saw {SAME_COUNT.search(message).group()}"
        if AT_LIMIT.search(message):
            return "a failure that saw exactly the limit"
    return None
