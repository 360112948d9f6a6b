"""Rubric loading and binding, the scoring arithmetic, and the settings resolver."""

from __future__ import annotations

import os
from pathlib import Path

import hw3_plugin
import pytest
from autograder.config import Settings, resolve
from autograder.errors import ConfigError, RubricError
from autograder.models import CheckResult, FormVerdict, Status, SubmissionReport
from autograder.rubric import Rubric, parse
from autograder.scoring import NOT_RUN, score

HW3_RUBRIC = Path(hw3_plugin.__file__).parent / "rubric.toml"


def _rubric(**extra) -> Rubric:
    data = {
        "title": "t", "cap": 20, "form": {"deduction": 0.2},
        "items": [
            {"id": "m", "title": "manual", "points": 5, "lab": "report", "manual": True},
            {"id": "a", "title": "A", "points": 10, "lab": "lab1",
             "checks": {"a.x": 3, "a.y": 1}},
            {"id": "b", "title": "B", "points": 10, "lab": "lab2", "checks": {"b.z": 1}},
        ],
    }
    data.update(extra)
    return parse(data, "test rubric")


# ---------------------------------------------------------------------------- rubric


def test_hw3_rubric_points_follow_the_spec() -> None:
    rubric = Rubric.load(HW3_RUBRIC)
    points = {i.item_id: i.points for i in rubric.items}
    assert points == {
        "tf": 30, "lab1a": 5, "lab1b": 5, "lab1c": 5, "lab1d": 5, "lab1e_init": 5,
        "lab1e_forward": 5, "lab1f": 3, "lab1f_obs": 2, "lab2a": 10, "lab2b": 10,
        "lab2c": 10, "lab2d": 5, "lab2e": 5, "lab2f": 5,
    }
    assert sum(i.points for i in rubric.items) == 110
    assert rubric.cap == 100 and rubric.form_deduction == 0.2
    assert {i.item_id for i in rubric.items if i.manual} == {"tf", "lab1f_obs", "lab2f"}


@pytest.mark.parametrize("change, message", [
    ({"colour": 1}, "unknown keys \\['colour'\\]"),
    ({"items": []}, "no \\[\\[items\\]\\]"),
    ({"items": [{"id": "a", "title": "A", "points": 5}]}, "missing 'lab'"),
    ({"items": [{"id": "a", "title": "A", "points": -1, "lab": "x"}]}, "must be >= 0"),
    ({"items": [{"id": "a", "title": "A", "points": 1, "lab": "x", "checks": {"c": "w"}}]},
     "weight of 'c': 'w' is not a number"),
    ({"items": [{"id": "a", "title": "A", "points": 1, "lab": "x", "manual": True,
                 "checks": {"c": 1}}]}, "a manual item has no checks"),
    ({"items": [{"id": "a", "title": "A", "points": 1, "lab": "x"},
                {"id": "a", "title": "B", "points": 1, "lab": "x"}]}, "appear twice"),
    ({"items": [{"id": "a", "title": "A", "points": 1, "lab": "x", "checks": {"c": 1}},
                {"id": "b", "title": "B", "points": 1, "lab": "x", "checks": {"c": 1}}]},
     "listed under both 'a' and 'b'"),
    ({"items": [{"id": "a", "title": "A", "points": 1, "lab": "x", "colour": 2}]},
     "unknown keys \\['colour'\\]"),
    ({"form": {"deduction": 1.5}}, "form.deduction: 1.5 must be >= 0.0 and <= 1.0"),
])
def test_rubric_errors_are_specific(change: dict, message: str) -> None:
    with pytest.raises(RubricError, match=message):
        _rubric(**change)


def test_rubric_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "r.toml"
    bad.write_text("title = [")
    with pytest.raises(RubricError, match="not valid TOML"):
        Rubric.load(bad)
    with pytest.raises(RubricError, match="cannot read rubric"):
        Rubric.load(tmp_path / "none.toml")


def test_bind_checks_the_plugin_contract() -> None:
    rubric = _rubric()
    rubric.bind({"a.x", "a.y", "b.z"}, {"lab1": "A.ipynb", "lab2": "B.ipynb"})
    with pytest.raises(RubricError) as err:
        rubric.bind({"a.x", "b.z", "extra"}, {"lab1": "A.ipynb"})
    text = str(err.value)
    assert "item a: the plug-in has no check ['a.y']" in text
    assert "item b: lab 'lab2' is none of the plug-in's notebooks" in text
    assert "checks the plug-in makes but the rubric does not list: ['extra']" in text
    bare = parse({"items": [{"id": "a", "title": "A", "points": 1, "lab": "lab1"}]})
    with pytest.raises(RubricError, match="automatic but has no check"):
        bare.bind(set(), {"lab1": "A.ipynb"})


# --------------------------------------------------------------------------- scoring


def _report(items, form: FormVerdict | None = None) -> SubmissionReport:
    return SubmissionReport("s", items, cap=20.0, form=form or FormVerdict())


def test_points_split_by_weight_and_fraction() -> None:
    items = score(_rubric(), [
        CheckResult("a.x", "a", 1.0), CheckResult("a.y", "a", 0.5), CheckResult("b.z", "b", 0.0),
    ])
    a = {c.check_id: (c.points, c.max_points) for c in items[1].checks}
    assert a == {"a.x": (7.5, 7.5), "a.y": (1.25, 2.5)}
    assert items[1].points == 8.75 and items[2].points == 0
    assert items[0].manual and items[0].points is None
    report = _report(items)
    assert (report.auto_points, report.auto_max, report.total) == (8.75, 20, 8.75)
    assert report.manual_pending == ("m",)


def test_cap_then_form_deduction() -> None:
    items = score(_rubric(), [CheckResult(c, c[0], 1.0) for c in ("a.x", "a.y", "b.z")],
                  manual={"m": 5})
    report = _report(items, FormVerdict(0.2, ("no PDF report",)))
    assert report.raw_points == 25 and report.capped_points == 20
    assert report.deduction_points == 4 and report.total == 16
    assert report.max_total == 20


def test_checks_that_did_not_run_and_unavailable_labs_score_zero() -> None:
    items = score(_rubric(), [CheckResult("a.x", "a", 1.0)],
                  unavailable={"lab2": "B.ipynb was not found"})
    y = next(c for c in items[1].checks if c.check_id == "a.y")
    assert (y.points, y.message) == (0, NOT_RUN)
    (z,) = items[2].checks
    assert (z.points, z.status, z.message) == (0, Status.MISSING, "B.ipynb was not found")
    assert items[2].note == "B.ipynb was not found"


def test_report_round_trips_through_json() -> None:
    items = score(_rubric(), [CheckResult("a.x", "a", 1.0, "ok", status=Status.OK)])
    report = _report(items, FormVerdict(0.2, ("loose notebooks",)))
    again = SubmissionReport.from_dict(report.to_dict())
    assert again == report and again.total == report.total


def test_fraction_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="not in 0..1"):
        CheckResult("a.x", "a", 1.5)


# -------------------------------------------------------------------------- settings


def test_settings_precedence(tmp_path: Path) -> None:
    file = tmp_path / "grade.toml"
    file.write_text('[grade]\ntimeout_scale = 3\nmemory_mb = 100\nthreads = 4\n')
    env = {"AUTOGRADE_TIMEOUT_SCALE": "2", "AUTOGRADE_MEMORY_MB": "200"}
    got = resolve({"timeout_scale": 1.5, "out": None}, env=env, config_file=file)
    assert (got.timeout_scale, got.memory_mb, got.threads) == (1.5, 200, 4)
    assert got.out == Settings().out  # the default


def test_settings_errors_name_their_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="environment variable AUTOGRADE_THREADS"):
        resolve({}, env={"AUTOGRADE_THREADS": "many"})
    with pytest.raises(ConfigError, match="timeout_scale=0 .*must be greater than 0"):
        resolve({"timeout_scale": 0}, env={})
    with pytest.raises(ConfigError, match="choose one of"):
        resolve({"isolation": "docker"}, env={})
    file = tmp_path / "grade.toml"
    file.write_text("[grade]\nspeed = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'speed'"):
        resolve({}, env={}, config_file=file)
    assert "timeout_scale" in Settings.help()


def test_every_setting_is_a_flag_with_help() -> None:
    from autograder.cli import parser

    text = parser().format_help()
    for name, help_ in Settings.help().items():
        assert help_, name
        if name != "submissions":
            assert "--" + name.replace("_", "-") in text, name
    args = vars(parser().parse_args(["a", "b", "--max-file-mb", "5", "--no-job-cache",
                                     "--regrade", "--isolation", "rlimits"]))
    args.pop("config")
    got = resolve(args, env={})
    assert (got.submissions, got.max_file_mb, got.job_cache, got.regrade, got.isolation) == (
        (Path("a"), Path("b")), 5, False, True, "rlimits")
    assert got.progress is True and got.workers == Settings().workers  # not given: default


def test_settings_from_environment_and_file_name_their_source(tmp_path: Path) -> None:
    got = resolve({}, env={"AUTOGRADE_SUBMISSIONS": f"x{os.pathsep}y",
                           "AUTOGRADE_PROGRESS": "off"})
    assert got.submissions == (Path("x"), Path("y")) and got.progress is False
    file = tmp_path / "grade.toml"
    file.write_text('[grade]\nworkers = -1\nsubmissions = ["p", "q"]\n')
    with pytest.raises(ConfigError, match=f"workers=-1 \\(from settings file {file}\\)"):
        resolve({}, env={}, config_file=file)
    assert resolve({"workers": 3}, env={}, config_file=file).submissions == (Path("p"),
                                                                              Path("q"))
    assert Settings().to_json()["submissions"] == ["fixtures/submissions"]
