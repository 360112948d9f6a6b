"""The audiences' import boundaries (pyproject's [tool.importlinter]) hold, and the check
catches a planted import that breaks each one (on a copy of the packages, never the tree)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {  # import name -> folder in the kit
    "autograder": REPO / "grader" / "autograder",
    "hw3_plugin": REPO / "grader" / "hw3_plugin",
    "hw3_solution": REPO / "solution" / "hw3_solution",
    "hw3_fixtures": REPO / "fixtures" / "hw3_fixtures",
    "hw3_student": REPO / "starter" / "hw3_student",
}


def _lint_imports(cwd: Path, src: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run lint-imports with the kit's pyproject in ``cwd``; ``src`` comes first on the path."""
    script = Path(sys.executable).with_name("lint-imports")
    command = [str(script)] if script.exists() else [shutil.which("lint-imports") or "lint-imports"]
    env = {**os.environ, "PYTHONPATH": str(src) if src else ""}
    return subprocess.run([*command, "--no-cache"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_the_kit_keeps_every_import_contract() -> None:
    done = _lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 kept, 0 broken" in done.stdout


ENGINE = "The engine imports no homework, solution or fixtures"
STUDENT = "The student package imports no engine, plug-in, solution or fixtures"
REPORTERS = "The reporters import no plug-in (they read finished reports only)"


@pytest.mark.parametrize(("module", "planted", "contract"), [
    ("autograder/scoring.py", "import hw3_solution.lab_rnn", ENGINE),
    ("autograder/sandbox/gpu.py", "from hw3_fixtures import sources", ENGINE),
    ("hw3_student/report.py", "import autograder.models", STUDENT),
    ("hw3_student/report.py", "from hw3_solution import lab_llm", STUDENT),
    ("autograder/reporters/summary.py", "from ..plugin import load_plugin", REPORTERS),
])
def test_a_planted_import_breaks_its_contract(tmp_path: Path, module: str, planted: str,
                                              contract: str) -> None:
    src = tmp_path / "src"
    for name, folder in PACKAGES.items():
        shutil.copytree(folder, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    target = src / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{planted}\n", encoding="utf-8")
    done = _lint_imports(tmp_path, src)
    assert done.returncode != 0, done.stdout
    assert f"{contract} BROKEN" in done.stdout, done.stdout
    assert "2 kept, 1 broken" in done.stdout, done.stdout
    assert module.removesuffix(".py").replace("/", ".") in done.stdout
