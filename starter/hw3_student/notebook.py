"""A student's notebook read without running it: its code cells, and a namespace holding
its definitions (for the command-line self-check).

Only cheap top-level statements are executed: imports, ``def``/``class``, and assignments
whose value calls nothing but a short list of harmless constructors (``torch.device``,
``functools.partial``, ``HyperParams``). Training, downloads and model loading are skipped;
shell (``!``) and magic (``%``) lines are dropped; a cell that does not parse is skipped.
"""

from __future__ import annotations

import ast
import contextlib
import io
from pathlib import Path
from typing import Any

import nbformat

CHEAP_CALLS = {"torch.device", "device", "partial", "functools.partial", "HyperParams",
               "set", "list", "dict", "tuple", "range", "str", "int", "float", "len",
               "torch.cuda.is_available", "stopwords.words", "re.compile"}


def read(path: Path) -> nbformat.NotebookNode:
    """The notebook at `path` (nbformat 4); ValueError/OSError when it is not one."""
    return nbformat.read(Path(path), as_version=4)


def python_lines(source: str) -> str:
    """A code cell's text without IPython's shell (``!``) and magic (``%``) lines."""
    return "\n".join(line for line in source.splitlines()
                     if not line.lstrip().startswith(("!", "%")))


def code_cells(nb: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """(index, Python text) of every code cell."""
    return [(i, python_lines(c.get("source", ""))) for i, c in enumerate(nb.cells)
            if c.get("cell_type") == "code"]


def parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _cheap(node: ast.stmt) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef,
                         ast.ClassDef)):
        return True
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        return all(_dotted(call.func) in CHEAP_CALLS for call in ast.walk(node.value)
                   if isinstance(call, ast.Call))
    if isinstance(node, ast.If):  # e.g. `if torch.cuda.is_available(): device = ...`
        return all(_cheap(n) for n in node.body + node.orelse)
    return False


def namespace(path: Path) -> dict[str, Any]:
    """The notebook's definitions, executed statement by statement in a fresh namespace
    (a failing statement is skipped, as a cell that raised)."""
    ns: dict[str, Any] = {"__name__": "__main__"}
    for _, source in code_cells(read(path)):
        tree = parse(source)
        if tree is None:
            continue
        for node in tree.body:
            if not _cheap(node):
                continue
            code = compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec")
            with contextlib.suppress(Exception), contextlib.redirect_stdout(io.StringIO()):
                exec(code, ns)  # noqa: S102 - the student's own code, on their own machine
    return ns
