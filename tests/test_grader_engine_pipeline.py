"""End-to-end scenarios of the grading engine with the toy plug-in (tests/engine_scenarios):
each scenario folder holds a submission's notebooks and its expected outcome."""

from __future__ import annotations

from pathlib import Path

import pytest
from autograder.pipeline import run_batch
from engine_scenarios.engine_helpers import build_submission, scenario
from engine_scenarios.toy_plugin import ToyPlugin

SCENARIOS = ["perfect", "wrong_answers", "messy_notebook", "hostile", "missing_lab2",
             "broken_notebook"]


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario(name: str, tmp_path: Path, engine_settings) -> None:
    spec = scenario(name)
    folder = build_submission(name, tmp_path / "in")
    plugin = ToyPlugin(step_timeout=spec.get("step_timeout", 20))
    result = run_batch(engine_settings(folder, tmp_path / "out"), plugin, say=lambda _: None)

    (report,) = result.reports
    expected = spec["expected"]
    assert report.error == ""
    for item_id, points in expected["items"].items():
        assert report.item(item_id).points == pytest.approx(points), item_id
    assert report.auto_points == pytest.approx(expected["auto_points"])
    assert report.total == pytest.approx(expected["total"])
    assert len(report.form.reasons) == expected["form_reasons"], report.form.reasons
    checks = {c.check_id: c for i in report.items for c in i.checks}
    for check_id, status in expected["statuses"].items():
        assert checks[check_id].status.value == status, (check_id, checks[check_id].message)
    for item_id, text in expected.get("notes", {}).items():
        assert text in report.item(item_id).note
    assert report.isolation == result.isolation.value
    assert report.item("essay").points is None  # manual: left to staff

