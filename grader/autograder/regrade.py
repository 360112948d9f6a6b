"""Regrade report: who moved between two states of a batch, by how much, and why.

Written whenever a batch already in the gradebook is graded again or manual marks are
imported: ``regrades/<UTC time>-<reason>.csv`` (one row per student who moved) and a
``.md`` summary beside it. Every run writes new files; nothing is overwritten. A student
"moved" when the total or any item's points changed, or the student appeared or
disappeared; the changed checks and manual items are listed with their old and new points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from .models import SubmissionReport

COLUMNS = ["student_id", "old_total", "new_total", "delta", "changed"]


@dataclass(frozen=True)
class Move:
    """One student's change between two states."""

    student_id: str
    old_total: float | None  # None: not graded before
    new_total: float | None  # None: no longer in the batch
    changed: tuple[str, ...]  # "check or item id: old -> new"

    @property
    def delta(self) -> float:
        return round((self.new_total or 0.0) - (self.old_total or 0.0), 4)


def _points(report: SubmissionReport) -> dict[str, float | None]:
    """Every check's and manual item's points, and every item's total."""
    points: dict[str, float | None] = {}
    for item in report.items:
        points[f"item {item.item_id}"] = item.points
        for check in item.checks:
            points[check.check_id] = check.points
    points["form deduction"] = report.deduction_points
    return points


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def diff(before: Mapping[str, SubmissionReport],
         after: Mapping[str, SubmissionReport]) -> list[Move]:
    """The students whose totals or item points differ, in student id order."""
    moves = []
    for student in sorted(set(before) | set(after)):
        old, new = before.get(student), after.get(student)
        if old is None or new is None:
            moves.append(Move(student, old and old.total, new and new.total,
                              ("graded for the first time",) if old is None
                              else ("no longer in the batch",)))
            continue
        p_old, p_new = _points(old), _points(new)
        items_moved = any(p_old.get(k) != p_new.get(k) for k in p_new if k.startswith("item "))
        if old.total == new.total and not items_moved:
            continue
        changed = tuple(f"{k}: {_fmt(p_old.get(k))} -> {_fmt(p_new.get(k))}"
                        for k in sorted(set(p_old) | set(p_new))
                        if not k.startswith("item ") and p_old.get(k) != p_new.get(k))
        manual = tuple(f"{k} (manual): {_fmt(p_old.get(k))} -> {_fmt(p_new.get(k))}"
                       for k in p_new if k.startswith("item ") and p_old.get(k) != p_new.get(k)
                       and new.item(k[5:]).manual)
        moves.append(Move(student, old.total, new.total, manual + changed))
    return moves


def write_regrade(before: Sequence[SubmissionReport], after: Sequence[SubmissionReport],
                  folder: Path, reason: str) -> tuple[Path, Path] | None:
    """Write the CSV and Markdown of what moved; None when there was no earlier state."""
    if not before:
        return None
    old = {r.student_id: r for r in before}
    new = {r.student_id: r for r in after}
    moves = diff(old, new)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    csv_path = folder / f"{stamp}-{reason}.csv"
    pd.DataFrame([{"student_id": m.student_id, "old_total": m.old_total,
                   "new_total": m.new_total, "delta": m.delta,
                   "changed": "; ".join(m.changed)} for m in moves],
                 columns=COLUMNS).to_csv(csv_path, index=False)
    lines = [f"# Regrade ({reason}, {stamp})", "",
             f"{len(moves)} of {len(new)} students moved "
             f"({sum(m.delta > 0 for m in moves)} up, {sum(m.delta < 0 for m in moves)} down).",
             ""]
    if moves:
        lines += ["| student | old | new | change | what changed |",
                  "| --- | --- | --- | --- | --- |"]
        lines += [f"| {m.student_id} | {_fmt(m.old_total)} | {_fmt(m.new_total)} | "
                  f"{m.delta:+g} | {'; '.join(m.changed)} |" for m in moves]
    md_path = csv_path.with_suffix(".md")
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return csv_path, md_path
