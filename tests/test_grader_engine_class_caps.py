"""Zip caps are per student: a class export of any size is fine when every student's part
is within the caps; a student whose part breaks one is refused alone, and the refusal
names the setting (its flag); every setting is a command-line flag."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
from autograder.cli import parser
from autograder.config import Settings, resolve
from autograder.pipeline import run_batch
from engine_scenarios.engine_helpers import build_submission
from engine_scenarios.toy_plugin import ToyPlugin


def _export(tmp_path: Path, blobs: dict[str, int]) -> Path:
    """A course-site export: per student (id -> KiB of incompressible data beside the
    work), the perfect toy submission's code.zip and report, and that data file."""
    good = build_submission("perfect", tmp_path / "good")
    export = tmp_path / "export.zip"
    with zipfile.ZipFile(export, "w", zipfile.ZIP_DEFLATED) as zf:
        for student, kib in blobs.items():
            zf.write(good / "code.zip", f"{student}_code.zip")
            zf.write(good / "report.pdf", f"{student}_report.pdf")
            zf.writestr(f"{student}_data.bin", os.urandom(kib << 10))
    return export


def _settings(export: Path, out: Path, **kw) -> Settings:
    return Settings(submissions=(export,), out=out, progress=False, memory_mb=768, **kw)


def test_a_class_export_over_the_caps_in_total_but_not_per_student(tmp_path: Path) -> None:
    export = _export(tmp_path, {"Ann_101": 600, "Ben_102": 600, "Cy_103": 600})
    assert sum(i.file_size for i in zipfile.ZipFile(export).infolist()) > 1 << 20
    result = run_batch(_settings(export, tmp_path / "out", zip_max_mb=1), ToyPlugin(),
                       say=lambda _: None)
    assert result.problems == []
    assert [(r.student_id, r.total, r.error) for r in result.reports] == [
        ("Ann_101", 25, ""), ("Ben_102", 25, ""), ("Cy_103", 25, "")]


def test_a_student_over_the_caps_is_refused_alone_naming_the_setting(tmp_path: Path) -> None:
    export = _export(tmp_path, {"Ann_101": 100, "Big_104": 1500})
    result = run_batch(_settings(export, tmp_path / "out", zip_max_mb=1), ToyPlugin(),
                       say=lambda _: None)
    reports = {r.student_id: r for r in result.reports}
    assert sorted(reports) == ["Ann_101", "Big_104"] and result.failures == []
    assert (reports["Ann_101"].total, reports["Ann_101"].error) == (25, "")
    big = reports["Big_104"]
    assert big.total == 0
    assert big.error.startswith("Big_104's part of export.zip: declares 1.5 MiB unpacked")
    assert "--zip-max-mb" in big.error
    files = run_batch(_settings(export, tmp_path / "out2", zip_max_files=2), ToyPlugin(),
                      say=lambda _: None)
    assert all("3 files exceed the cap of 2 (--zip-max-files)" in r.error
               for r in files.reports)


def test_every_setting_is_a_flag() -> None:
    p = parser()
    flags = {a.dest for a in p._actions if a.option_strings}
    names = [n for n in Settings.names() if n != "submissions"]
    assert [n for n in names if n not in flags] == []
    args = vars(p.parse_args(["--zip-max-mb", "5", "--zip-max-files", "7", "--workers", "3",
                              "--no-job-cache", "--zip-max-ratio", "50"]))
    args.pop("config")
    args["submissions"] = None
    settings = resolve(args, env={})
    assert (settings.zip_max_mb, settings.zip_max_files, settings.workers,
            settings.job_cache, settings.zip_max_ratio) == (5, 7, 3, False, 50.0)


@pytest.mark.parametrize("flag", ["--zip-max-mb", "--zip-max-files"])
def test_the_help_says_the_caps_are_per_student(flag: str) -> None:
    text = next(a.help for a in parser()._actions if flag in a.option_strings)
    assert "each student's part" in text
