"""autograder.zip run in a folder laid out like Gradescope's (``/autograder/...`` under a
temporary root, no network): results.json equal to what ``autograde`` writes for the same
submission, and the code that graded is the zip's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from autograder.config import Settings
from autograder.gradescope_pack import build
from autograder.pipeline import run_batch
from engine_scenarios.engine_helpers import build_submission
from engine_scenarios.toy_plugin import ToyPlugin

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
KIT = ("pyproject.toml", "grader", "solution", "starter", "fixtures/hw3_fixtures",
       "fixtures/data")  # as noxfile.GRADESCOPE_PATHS, less the docs


def _gradescope_root(tmp: Path, submission: Path) -> Path:
    """tmp/autograder as Gradescope lays it out: source/ (the zip), run_autograder,
    submission/, submission_metadata.json."""
    cwd = Path.cwd()
    os.chdir(REPO)
    try:
        archive = build(tmp / "autograder.zip", [Path(p) for p in KIT],
                        python_roots=["grader", "solution", "fixtures", "starter"],
                        installs=["-e ./starter -e ."], torch="torch")
    finally:
        os.chdir(cwd)
    root = tmp / "autograder"
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        assert {"setup.sh", "run_autograder"} <= set(names)
        assert not any(n.startswith(("tests/", "fixtures/submissions/")) for n in names)
        zf.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    shutil.copytree(submission, root / "submission")
    (root / "submission_metadata.json").write_text(json.dumps(
        {"users": [{"sid": "4711", "name": "Ann"}]}))
    subprocess.run(["bash", "-n", str(root / "source" / "setup.sh")], check=True)
    return root


def _run(root: Path, **env: str) -> subprocess.CompletedProcess:
    command = [str(root / "run_autograder")]
    if os.geteuid() == 0 and shutil.which("unshare"):
        command = ["unshare", "--net", "--", *command]  # no network, as on Gradescope
    return subprocess.run(command, capture_output=True, text=True, timeout=900, check=False,
                          env={**os.environ, "AUTOGRADER_ROOT": str(root),
                               "AUTOGRADE_PYTHON": sys.executable, **env})


def test_toy_submission_as_on_gradescope(tmp_path: Path) -> None:
    submission = build_submission("wrong_answers", tmp_path / "build")
    root = _gradescope_root(tmp_path, submission)
    done = _run(root, AUTOGRADE_PLUGIN="engine_scenarios.toy_plugin:ToyPlugin",
                AUTOGRADE_MEMORY_MB="768", PYTHONPATH=str(TESTS))
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"autograder {root / 'source' / 'grader' / 'autograder'}" in done.stderr
    got = json.loads((root / "results" / "results.json").read_text())

    direct = run_batch(Settings(submissions=(submission,), out=tmp_path / "direct",
                                progress=False, memory_mb=768), ToyPlugin(),
                       say=lambda _: None)
    (report,) = direct.reports
    want = json.loads((tmp_path / "direct" / "gradescope" / report.student_id
                       / "results.json").read_text())
    assert got == want
    assert got["score"] == report.total == 14  # 17.5 automatic, form rule -20%, essay pending


@pytest.mark.parametrize(("files", "said"), [
    ({"notes.txt": "forgot the notebooks"}, "missing notebook(s): ToyA.ipynb, ToyB.ipynb"),
    ({}, "missing notebook(s): ToyA.ipynb, ToyB.ipynb; no PDF report"),
])
def test_nothing_to_grade(tmp_path: Path, files: dict[str, str], said: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for name, text in files.items():
        (empty / name).write_text(text)
    root = _gradescope_root(tmp_path, empty)
    done = _run(root, AUTOGRADE_PLUGIN="engine_scenarios.toy_plugin:ToyPlugin",
                PYTHONPATH=str(TESTS))
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads((root / "results" / "results.json").read_text())
    assert got["score"] == 0 and said in got["output"]


@pytest.mark.slow
def test_reference_sample_as_on_gradescope(tmp_path: Path) -> None:
    """The Homework 3 reference sample: the zip's grader gives what `autograde` gives."""
    sample = REPO / "fixtures" / "submissions" / "reference"
    root = _gradescope_root(tmp_path, sample)
    done = _run(root)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads((root / "results" / "results.json").read_text())
    direct = run_batch(Settings(submissions=(sample,), out=tmp_path / "direct",
                                progress=False), say=lambda _: None)
    (report,) = direct.reports
    want = json.loads((tmp_path / "direct" / "gradescope" / report.student_id
                       / "results.json").read_text())
    assert got == want and got["score"] == report.total == 73 * 1.0
