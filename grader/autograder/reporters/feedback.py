"""Per-student feedback in Markdown and HTML (Jinja2 templates): per item and per check
the points, the outcome and what was expected and seen. Never shows solution code."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ..models import SubmissionReport

TEMPLATES = Environment(loader=PackageLoader("autograder.reporters", "templates"),
                   autoescape=select_autoescape(["html.j2"]), undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def _points(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def arithmetic(report: SubmissionReport) -> str:
    """How the total is made, e.g. "automatic 73 + staff 37 = 110 of 110, capped at 100,
    form rule -20% of 100 = -20: total 80"."""
    text = (f"automatic {report.auto_points:g} + staff {report.manual_points:g} = "
            f"{report.raw_points:g} of {sum(i.max_points for i in report.items):g}")
    if report.raw_points > report.cap:
        text += f", capped at {report.cap:g}"
    if report.form.deduction:
        text += (f", form rule -{report.form.deduction:.0%} of {report.capped_points:g} = "
                 f"-{report.deduction_points:g}")
    return text + f": total {report.total:g}"


TEMPLATES.filters["pts"] = _points
TEMPLATES.filters["arithmetic"] = arithmetic


def render_feedback(report: SubmissionReport, fmt: str) -> str:
    """``fmt`` is "md" or "html"."""
    return TEMPLATES.get_template(f"feedback.{fmt}.j2").render(r=report)


def write_feedback(reports: Sequence[SubmissionReport], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for report in reports:
        for fmt in ("md", "html"):
            path = folder / f"{report.student_id}.{fmt}"
            path.write_text(render_feedback(report, fmt), encoding="utf-8")
            paths.append(path)
    return paths
