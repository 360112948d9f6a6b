"""The student bundle: built by the kit, installed alone, and free of answers and hidden
checks (proved by content, not by file names)."""

from __future__ import annotations

import ast
import inspect
import json
import pkgutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import hw3_plugin
import hw3_solution
import nbformat
import pytest
from hw3_plugin.bundle import build_bundle

ROOT = Path(__file__).resolve().parents[1]
SUBMISSIONS = ROOT / "fixtures" / "submissions"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_bundle(tmp_path_factory.mktemp("bundle") / "hw3-student-bundle.zip")


# Normalized ASTs ------------------------------------------------------------------------


def _normalized(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """A function's AST without its name, docstring, decorators and positions: two copies
    of one body compare equal however they are named or laid out."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return ast.dump(ast.Module(body=body, type_ignores=[]), annotate_fields=False)


def _functions(source: str) -> dict[str, str]:
    """Normalized AST -> qualified-ish name of every function in `source` (nested too)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    return {_normalized(n): n.name for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.body}


def _package_sources(package) -> dict[str, str]:
    root = Path(package.__file__).parent
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in root.rglob("*.py")}


def _fenced(source: str) -> bool:
    return "# TODO[" in source


def _reference_answers() -> dict[str, str]:
    """Every solution function that holds a student part (a TODO fence): the answers."""
    found = {}
    for info in pkgutil.walk_packages(hw3_solution.__path__, "hw3_solution."):
        module = __import__(info.name, fromlist=["_"])
        source = inspect.getsource(module)
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _fenced(
                    ast.get_source_segment(source, node) or ""):
                found[_normalized(node)] = f"{info.name}.{node.name}"
    return found


def _all_functions(package) -> dict[str, str]:
    return {k: f"{package.__name__}/{file}:{name}"
            for file, src in _package_sources(package).items()
            for k, name in _functions(src).items()}


def test_no_reference_body_and_no_hidden_check_in_the_bundle(bundle):
    """Every function of the wheel against every function of the solution and the plug-in;
    every function of the bundled notebooks against the reference answers."""
    solution, plugin, answers = _all_functions(hw3_solution), _all_functions(hw3_plugin), \
        _reference_answers()
    assert answers and plugin  # the comparison has something to compare with
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        assert sorted(names) == sorted(["LabRNN.ipynb", "LabLLM.ipynb", "README.md",
                                        next(n for n in names if n.endswith(".whl"))])
        wheel_name = next(n for n in names if n.endswith(".whl"))
        notebooks = {n: nbformat.reads(zf.read(n).decode(), as_version=4)
                     for n in ("LabRNN.ipynb", "LabLLM.ipynb")}
        wheel_bytes = zf.read(wheel_name)
    wheel_path = bundle.parent / wheel_name
    wheel_path.write_bytes(wheel_bytes)
    leaks = []
    with zipfile.ZipFile(wheel_path) as wheel:
        py_files = [n for n in wheel.namelist() if n.endswith(".py")]
        assert "hw3_student/checks.py" in py_files
        for name in py_files:
            for key, func in _functions(wheel.read(name).decode()).items():
                for where, known in (("solution", solution), ("plug-in", plugin)):
                    if key in known:
                        leaks.append(f"{name}:{func} is {where} function {known[key]}")
        json_text = " ".join(wheel.read(n).decode() for n in wheel.namelist()
                             if n.endswith(".json"))
    for name, nb in notebooks.items():
        for cell in nb.cells:
            if cell.cell_type == "code":
                for key, func in _functions(cell.source).items():
                    if key in answers:
                        leaks.append(f"{name}:{func} is the reference answer {answers[key]}")
    assert not leaks, leaks
    # Hidden checks: their ids appear only as counts, never as names.
    hidden = {c for c in _hidden_check_ids()}
    assert hidden and not [c for c in hidden if c in json_text]


def _hidden_check_ids() -> set[str]:
    from autograder.rubric import Rubric
    from hw3_plugin.plugin import RUBRIC_FILE

    return {c for it in Rubric.load(RUBRIC_FILE).items for c in it.checks
            if c not in it.public}


def test_ast_comparison_catches_a_copied_body(tmp_path):
    """The comparison is not vacuous: a renamed copy of a reference answer is caught."""
    from hw3_solution import lab_rnn

    source = inspect.getsource(lab_rnn.build_vocab).replace("def build_vocab", "def mine")
    assert set(_functions(source)) & set(_reference_answers())


# A fresh environment with only the wheel ------------------------------------------------


def _fresh_venv(where: Path) -> Path:
    """A new virtual environment that sees the kit venv's third-party libraries (torch,
    nbformat, typst...) through a path entry, but none of the kit's packages: those are
    installed editable, through .pth hooks that a plain path entry does not run."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    python = where / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], check=True, capture_output=True, text=True)
    Path(site.stdout.strip(), "kit_libraries.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n")
    return python


def test_wheel_installed_alone_runs_its_help_and_checks(bundle, tmp_path):
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(tmp_path / "bundle")
    wheel = next((tmp_path / "bundle").glob("hw3_student-*.whl"))
    python = _fresh_venv(tmp_path / "venv")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                    str(wheel)], check=True)
    probe = subprocess.run([str(python), "-c", (
        "import importlib.util as u, json, hw3_student; print(json.dumps({m: bool("
        "u.find_spec(m)) for m in ('hw3_solution', 'hw3_plugin', 'autograder', "
        "'hw3_fixtures')} | {'student': hw3_student.__file__}))")],
        check=True, capture_output=True, text=True, cwd=tmp_path)
    seen = json.loads(probe.stdout)
    assert not any(seen[m] for m in ("hw3_solution", "hw3_plugin", "autograder",
                                     "hw3_fixtures")), seen
    assert seen["student"].startswith(str(tmp_path / "venv"))
    for command in ("hw3-check", "hw3-report", "hw3-pack"):
        out = subprocess.run([str(tmp_path / "venv" / "bin" / command), "--help"],
                             check=True, capture_output=True, text=True)
        assert "usage:" in out.stdout
    for sample, code, summary in (("reference", 0, "11/11 public checks passed"),
                                  ("starter", 1, "0/11 public checks passed")):
        folder = tmp_path / sample
        with zipfile.ZipFile(SUBMISSIONS / sample / "code.zip") as zf:
            zf.extractall(folder)
        run = subprocess.run([str(tmp_path / "venv" / "bin" / "hw3-check",),
                              "LabRNN.ipynb", "LabLLM.ipynb"], cwd=folder,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == code, run.stdout + run.stderr
        assert summary in run.stdout, run.stdout
        print(f"{sample}: {run.stdout.splitlines()[-1]}")
