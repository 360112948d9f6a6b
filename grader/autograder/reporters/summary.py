"""Class summary: per-check pass rates, per-item means, score statistics, the checks most
often failed (with a sample message), pending manual items, a histogram of totals and a bar
chart of pass rates (PNG, matplotlib's Agg backend); as JSON, Markdown, and one
self-contained HTML page (the charts inlined)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..models import SubmissionReport
from .feedback import TEMPLATES


def check_table(reports: Sequence[SubmissionReport]) -> pd.DataFrame:
    """One row per (student, check)."""
    rows = [{"student_id": r.student_id, "item_id": i.item_id, "check_id": c.check_id,
             "passed": c.passed, "points": c.points, "max_points": c.max_points,
             "status": c.status.value if c.status else ""}
            for r in reports for i in r.items for c in i.checks]
    return pd.DataFrame(rows, columns=["student_id", "item_id", "check_id", "passed", "points",
                                       "max_points", "status"])


def summarize(reports: Sequence[SubmissionReport]) -> dict[str, Any]:
    checks = check_table(reports)
    totals = pd.Series([r.total for r in reports], dtype=float)
    rates = (checks.groupby(["item_id", "check_id"], sort=False)["passed"].mean().round(4)
             if len(checks) else pd.Series(dtype=float))
    items = pd.DataFrame([{"item_id": i.item_id, "points": i.points} for r in reports
                          for i in r.items if not i.manual])
    return {
        "submissions": len(reports),
        "with_errors": sum(1 for r in reports if r.error),
        "form_deductions": sum(1 for r in reports if r.form.reasons),
        "total": {k: round(float(v), 4) for k, v in totals.describe().items()
                  if k in ("mean", "std", "min", "50%", "max") and pd.notna(v)},
        "item_means": (items.groupby("item_id", sort=False)["points"].mean().round(4).to_dict()
                       if len(items) else {}),
        "check_pass_rates": {check: float(rate) for (_, check), rate in rates.items()},
        "final_totals": sum(1 for r in reports if not r.manual_pending),
        "pending_manual": {item: sum(item in r.manual_pending for r in reports)
                           for item in dict.fromkeys(i for r in reports
                                                     for i in r.manual_pending)},
        "most_failed": most_failed(reports),
    }


def most_failed(reports: Sequence[SubmissionReport], top: int = 10) -> list[dict[str, Any]]:
    """The checks failed (not full marks) by most students, each with one sample message."""
    failed: dict[str, list[str]] = {}
    for r in reports:
        for i in r.items:
            for c in i.checks:
                if not c.passed:
                    failed.setdefault(c.check_id, []).append(c.message)
    ranked = sorted(failed.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:top]
    return [{"check_id": check, "failed": len(messages),
             "sample_message": next((m for m in messages if m), "")}
            for check, messages in ranked]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_pass_rates(rates: dict[str, float], path: Path) -> Path:
    """A horizontal bar per check: the share of students who passed it."""
    plt = _pyplot()
    names = list(rates)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.22 * max(len(names), 1)))
    ax.barh(names, [rates[n] * 100 for n in names], color="#4472c4")
    ax.set_xlim(0, 100)
    ax.set_xlabel("students passing (%)")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path


def plot_histogram(reports: Sequence[SubmissionReport], path: Path) -> Path:
    plt = _pyplot()
    totals = [r.total for r in reports]
    top = max((r.max_total for r in reports), default=100.0)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(totals, bins=20, range=(0, top), color="#4472c4", edgecolor="white")
    ax.set_xlabel("total points")
    ax.set_ylabel("submissions")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"Scores of {len(totals)} submissions")
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path


def write_summary(reports: Sequence[SubmissionReport], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data = summarize(reports)
    json_path = folder / "summary.json"
    json_path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    lines = [f"# Class summary ({data['submissions']} submissions)", "",
             f"- grading errors: {data['with_errors']}",
             f"- form deductions: {data['form_deductions']}",
             f"- final totals (no manual item pending): {data['final_totals']} of "
             f"{data['submissions']}"]
    lines += [f"- manual item {item} still to grade for {n} students"
              for item, n in data["pending_manual"].items()]
    lines += [f"- total {k}: {v:g}" for k, v in data["total"].items()]
    lines += ["", "![histogram](histogram.png)", "", "| check | pass rate |", "| --- | --- |"]
    lines += [f"| {c} | {r:.0%} |" for c, r in data["check_pass_rates"].items()]
    lines += ["", "| most often failed | students | a sample message |", "| --- | --- | --- |"]
    lines += [f"| {f['check_id']} | {f['failed']} | {f['sample_message']} |"
              for f in data["most_failed"]]
    md_path = folder / "summary.md"
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    histogram = plot_histogram(reports, folder / "histogram.png")
    rates = plot_pass_rates(data["check_pass_rates"], folder / "pass_rates.png")
    html_path = folder / "summary.html"
    html_path.write_text(TEMPLATES.get_template("summary.html.j2").render(
        d=data, histogram=base64.b64encode(histogram.read_bytes()).decode(),
        pass_rates=base64.b64encode(rates.read_bytes()).decode()), encoding="utf-8")
    return [json_path, md_path, html_path, histogram, rates]
