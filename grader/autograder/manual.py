"""Manual items: the staff sheet, its validated import, and marks applied to reports.

The sheet (``manual_sheet.csv``, written after every batch) has one row per student::

    student_id, auto_points, auto_max, <item> (max N)..., comment[, <item> suggested,
    <item> detail, <item> evidence]

The item columns come from the rubric's manual items (as scored into the reports); they
are pre-filled with the marks already imported, so a sheet can be exported, edited and
imported again. A blank cell means "still to grade". Suggestion columns (pre-marks a
plug-in read from the submission, e.g. True/False verdicts) are for the TA to confirm:
they are never imported, only the item columns count.

Import is all or nothing: every problem (unknown student, a student twice, points below
0 or above the item's maximum, text that is not a number, an unknown or missing column)
is reported with its row (the spreadsheet's row number, the header being row 1) and
column, and nothing is stored unless the whole sheet is valid.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import GraderError
from .models import SubmissionReport

SHEET_NAME = "manual_sheet.csv"
ID = "student_id"
COMMENT = "comment"
CONTEXT = ("auto_points", "auto_max")  # shown to staff, ignored on import
_ITEM_HEADER = re.compile(r"^\s*(?P<item>[^()]+?)\s*(\(max [^)]*\))?\s*$")
_SUGGESTION_SUFFIXES = (" suggested", " detail", " evidence")


class SheetError(GraderError):
    """A manual sheet that cannot be imported; ``problems`` lists every cell at fault."""

    def __init__(self, sheet: Path, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"{sheet}: nothing imported, {len(problems)} problem(s):\n- "
                         + "\n- ".join(problems))


def manual_items(reports: Sequence[SubmissionReport]) -> dict[str, float]:
    """Manual item id -> its maximum, in rubric order (from the scored reports)."""
    items: dict[str, float] = {}
    for report in reports:
        for item in report.items:
            if item.manual:
                items.setdefault(item.item_id, item.max_points)
    return items


def apply_marks(report: SubmissionReport, points: Mapping[str, float],
                comment: str = "") -> SubmissionReport:
    """``report`` with staff points on its manual items (others stay pending)."""
    items = tuple(dataclasses.replace(i, manual_points=points.get(i.item_id)) if i.manual
                  else i for i in report.items)
    return dataclasses.replace(report, items=items, staff_comment=comment)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def write_sheet(reports: Sequence[SubmissionReport], path: Path) -> Path:
    """The staff sheet for ``reports`` (their current manual marks pre-filled)."""
    items = manual_items(reports)
    with_premarks = [i for i in items if any(p.item_id == i for r in reports
                                             for p in r.premarks)]
    header = [ID, *CONTEXT, *(f"{i} (max {m:g})" for i, m in items.items()), COMMENT]
    header += [f"{i}{suffix}" for i in with_premarks for suffix in _SUGGESTION_SUFFIXES]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for r in reports:
            row = [r.student_id, _fmt(r.auto_points), _fmt(r.auto_max)]
            row += [_fmt(r.item(i).manual_points) for i in items]
            row.append(r.staff_comment)
            premarks = {p.item_id: p for p in r.premarks}
            for i in with_premarks:
                p = premarks.get(i)
                row += [_fmt(p.points), p.detail, p.evidence] if p else ["", "", ""]
            writer.writerow(row)
    return path


def _column(name: str, items: Mapping[str, float]) -> str | None:
    """The item id a header names, '' for a known non-item column, None if unknown."""
    if name in (ID, COMMENT, *CONTEXT):
        return ""
    if any(name.endswith(s) and name[: -len(s)] in items for s in _SUGGESTION_SUFFIXES):
        return ""
    match = _ITEM_HEADER.match(name)
    return match["item"] if match and match["item"] in items else None


def read_sheet(path: Path, reports: Sequence[SubmissionReport]
               ) -> dict[str, tuple[dict[str, float], str]]:
    """Student id -> (item id -> points, comment) from a filled sheet; raises SheetError
    naming every bad row and column."""
    items = manual_items(reports)
    known = {r.student_id for r in reports}
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SheetError(path, [f"cannot be read: {exc}"]) from None
    if not rows:
        raise SheetError(path, ["the sheet is empty (no header row)"])
    header = [h.strip() for h in rows[0]]
    problems: list[str] = []
    item_columns: dict[int, str] = {}
    for index, name in enumerate(header):
        item = _column(name, items)
        if item is None:
            problems.append(f"row 1, column {index + 1} ({name!r}): not a column of the sheet "
                            f"(manual items: {', '.join(items)})")
        elif item:
            item_columns[index] = item
    if ID not in header:
        problems.append(f"row 1: no {ID!r} column")
    missing = sorted(set(items) - set(item_columns.values()))
    if missing:
        problems.append(f"row 1: no column for the manual item(s) {', '.join(missing)}")
    if problems:
        raise SheetError(path, problems)
    id_col = header.index(ID)
    comment_col = header.index(COMMENT) if COMMENT in header else None
    marks: dict[str, tuple[dict[str, float], str]] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        row = row + [""] * (len(header) - len(row))
        student = row[id_col].strip()
        if student not in known:
            problems.append(f"row {number}, column {ID!r}: unknown student {student!r} "
                            "(not in this batch's gradebook)")
            continue
        if student in marks:
            problems.append(f"row {number}, column {ID!r}: {student!r} appears twice")
            continue
        points: dict[str, float] = {}
        for index, item in item_columns.items():
            text = row[index].strip()
            if not text:
                continue
            where = f"row {number}, column {header[index]!r} ({student})"
            try:
                value = float(text.replace(",", ".") if text.count(",") == 1 else text)
            except ValueError:
                problems.append(f"{where}: {text!r} is not a number")
                continue
            if not math.isfinite(value) or value < 0 or value > items[item]:
                problems.append(f"{where}: {text} is outside 0..{items[item]:g}")
                continue
            points[item] = value
        comment = row[comment_col].strip() if comment_col is not None else ""
        marks[student] = (points, comment)
    if problems:
        raise SheetError(path, problems)
    return marks
