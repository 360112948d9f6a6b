"""The True/False key as the engine's pre-marks take it: ``tf`` -> the ten verdicts from
the hidden solution's ``tf_key.md`` (its table: ``| 1.3 | statement | False | ... |``),
1 point for the verdict and 2 for the justification, as the key states."""

from __future__ import annotations

import re
from importlib.resources import files

from autograder.premarks import AnswerKey

TF_ITEM = "tf"
_ROW = re.compile(r"^\|\s*(?P<q>\d+\.\d+)\s*\|[^|]*\|\s*(?P<key>True|False)\s*\|", re.MULTILINE)


def read_key(text: str) -> dict[str, bool]:
    """Question label -> verdict, from the key's Markdown table."""
    return {m["q"]: m["key"] == "True" for m in _ROW.finditer(text)}


def answer_keys() -> dict[str, AnswerKey]:
    """``tf``'s key; raises if the key file does not hold the ten statements."""
    answers = read_key(files("hw3_solution").joinpath("tf_key.md").read_text(encoding="utf-8"))
    if len(answers) != 10:
        raise ValueError(f"tf_key.md: expected 10 statements, read {len(answers)}")
    return {TF_ITEM: AnswerKey(answers, verdict_points=1.0, justification_points=2.0)}
