"""Pre-marks: suggestions for manual answer-key items read from a report PDF's text.

A report that follows the skeleton's form holds, for each question of a key, the lines::

    Answer 1.3: True            (or False, or ____ when unanswered)
    Justification 1.3: <text, possibly over several lines>

The text is read with pypdf, page by page; each answer is compared with the key. A
justification ends at the next ``Answer``/``Justification`` line, at a line that opens
with a question label (the next statement's heading), or at the end of its page (a page
number footer such as ``2 / 10`` left out): the text after the last one, such as the rest
of the report, is not part of it. The suggestion for a
question is ``verdict_points`` for the right verdict plus ``justification_points`` when a
justification is written (whether it is sound is for the TA to judge: the sheet shows the
text), nothing for a wrong or missing verdict. A suggestion is only ever shown on the
manual sheet beside the item's column; the item counts once staff enter its points.

A plug-in offers keys as ``answer_keys`` (item id -> ``AnswerKey``); the engine knows
nothing of the questions.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .models import Premark

log = logging.getLogger("autograder")

_ANSWER = re.compile(r"Answer\s+(?P<q>\d+(?:\.\d+)*)\s*:\s*(?P<a>True|False|_+)?",
                     re.IGNORECASE)
_JUSTIFICATION = re.compile(r"Justification\s+(?P<q>\d+(?:\.\d+)*)\s*:\s*", re.IGNORECASE)
PAGE_BREAK = "\f"  # between pages in ``pdf_text``
_FOOTER = re.compile(r"\s*\d+\s*/\s*\d+\s*$")  # a page-number footer ("2 / 10")


@dataclass(frozen=True)
class AnswerKey:
    """The right verdict of each question, and what each part is worth."""

    answers: Mapping[str, bool]  # question label ("1.3") -> the right verdict
    verdict_points: float
    justification_points: float = 0.0

    @property
    def max_points(self) -> float:
        return len(self.answers) * (self.verdict_points + self.justification_points)


@dataclass(frozen=True)
class Answer:
    """What a report says for one question: verdict (None: unanswered) and justification."""

    verdict: bool | None
    justification: str = ""


def pdf_text(path: Path) -> str:
    """The text of every page (pypdf), pages joined by ``PAGE_BREAK``."""
    from pypdf import PdfReader

    return PAGE_BREAK.join(page.extract_text() or "" for page in PdfReader(path).pages)


def read_answers(text: str) -> dict[str, Answer]:
    """Question label -> Answer, from text in the skeleton's form (the last one wins)."""
    marks = sorted([(m.start(), m.end(), "answer", m) for m in _ANSWER.finditer(text)]
                   + [(m.start(), m.end(), "why", m) for m in _JUSTIFICATION.finditer(text)],
                   key=lambda t: t[0])
    labels = {match["q"] for _, _, _, match in marks}
    verdicts: dict[str, bool | None] = {}
    reasons: dict[str, str] = {}
    for index, (_, end, kind, match) in enumerate(marks):
        label = match["q"]
        if kind == "answer":
            word = (match["a"] or "").lower()
            verdicts[label] = True if word == "true" else False if word == "false" else None
        else:
            stop = marks[index + 1][0] if index + 1 < len(marks) else len(text)
            reasons[label] = _justification(text[end:stop], labels)
    return {q: Answer(verdicts[q], reasons.get(q, "")) for q in verdicts}


def _justification(text: str, labels: set[str]) -> str:
    """The justification's own words in ``text`` (what follows its line up to the next
    mark): cut at the end of its page and at a line opening with a question label."""
    text = text.split(PAGE_BREAK, 1)[0]
    heading = re.compile(r"^\s*(" + "|".join(re.escape(q) for q in sorted(labels)) + r")\s",
                         re.MULTILINE)
    cut = heading.search(text)
    if cut and cut.start() > 0:
        text = text[:cut.start()]
    return " ".join(_FOOTER.sub("", text).split())


def premark(item_id: str, key: AnswerKey, answers: Mapping[str, Answer]) -> Premark:
    """The suggestion for one item from the answers read."""
    points, detail, evidence = 0.0, [], []
    for label, right in key.answers.items():
        answer = answers.get(label)
        if answer is None or answer.verdict is None:
            detail.append(f"{label} unanswered")
            continue
        said = "True" if answer.verdict else "False"
        if answer.verdict == right:
            points += key.verdict_points + (key.justification_points
                                            if answer.justification else 0.0)
            detail.append(f"{label} {said} right")
        else:
            detail.append(f"{label} {said} wrong (key {'True' if right else 'False'})")
        if answer.justification:
            evidence.append(f"{label}: {answer.justification}")
    return Premark(item_id, round(points, 4), key.max_points, "; ".join(detail),
                   " | ".join(evidence))


def suggest(keys: Mapping[str, AnswerKey], pdfs: Iterable[Path]) -> tuple[Premark, ...]:
    """Pre-marks for each keyed item from the first PDF in the form (none if no PDF holds
    an answer line); a PDF that cannot be read is skipped with a log line."""
    if not keys:
        return ()
    for pdf in pdfs:
        try:
            answers = read_answers(pdf_text(pdf))
        except Exception as exc:  # noqa: BLE001 - a broken PDF: no suggestion, no crash
            log.warning("cannot read %s for pre-marks: %s", pdf.name, exc)
            continue
        if answers:
            return tuple(premark(item, key, answers) for item, key in keys.items())
    return ()
