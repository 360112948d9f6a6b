"""Notebook -> named source units -> a runnable module source. Never executes anything.

Per code cell: IPython syntax (``!shell``, ``%magic``, ``x = !cmd``) becomes plain Python
through IPython's own input transformer, and those calls are then removed; cell magics
``%%time``/``%%timeit``/``%%capture``/``%%prun`` keep their Python body, any other cell
magic (``%%bash``, ``%%writefile``, ``%%html`` ...) drops the cell, since its body is not
Python. ``google.colab`` imports and calls on the names they bind (``drive.mount(...)``)
are removed; a path ending with a redirected suffix (a Colab drive path to
``data.csv`` as a string literal, an f-string, ``Path(base) / "..."`` or
``os.path.join(base, "...")``) is replaced by the redirect's target; a call of
``input(...)`` is answered with an empty line (``""``), as pressing Enter would. A cell
that still does not parse is reported and left out. Top-level functions, classes,
imports, simple assignments and the ``if``/``for``/``while``/``with``/``try`` blocks that
bind names are collected by name, the last definition winning.
"""

from __future__ import annotations

import ast
import builtins
import copy
import graphlib
import heapq
import json
import re
import symtable
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

from .errors import BadNotebook

PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun"})
IPYTHON_ONLY_NAMES = {"display": "from IPython.display import display"}
_BUILTINS = frozenset(dir(builtins))
_CELL_MAGIC = re.compile(r"^\s*%%(\w+)")
IMPORT_ERRORS = "__grader_import_errors__"

UnitKind = Literal["def", "class", "assign", "import", "block"]
# Seconds that all globals computed by notebook functions may take together while a module
# loads (a part of the job's load time limit, 60 s by default); the rest is stopped.
COMPUTED_BUDGET_S = 20.0
BLOCKS = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)


@dataclass(frozen=True)
class CellProblem:
    """A cell (0-based index among all cells) that was changed or left out, and why."""

    cell: int
    message: str

    def __str__(self) -> str:
        return f"cell {self.cell + 1}: {self.message}"

Pos = tuple[int, int]  # (cell index, statement index)


@dataclass(frozen=True)
class Unit:
    """One top-level statement worth keeping, with the global names it needs."""

    kind: UnitKind
    names: frozenset[str]  # names it binds
    code: str
    position: Pos
    def_refs: frozenset[str]  # needed when the statement itself runs
    call_refs: frozenset[str]  # needed only when its functions are called
    # names it binds and also reads (``for x in xs: total += x``): their earlier definition
    # is needed too
    self_refs: frozenset[str] = frozenset()


# ------------------------------------------------------------------- cell cleaning


class _Cleaner(ast.NodeTransformer):
    """Drops IPython calls and google.colab use; redirects path literals."""

    def __init__(self, redirects: Mapping[str, str]) -> None:
        self.redirects = redirects
        self.colab_names: set[str] = set()
        self.notes: list[str] = []

    def _is_dropped_call(self, node: ast.AST | None) -> bool:
        if not isinstance(node, ast.Call):
            return False
        func = node.func
        while isinstance(func, ast.Attribute):
            func = func.value
        if isinstance(func, ast.Call) and isinstance(func.func, ast.Name):
            return func.func.id == "get_ipython"
        return isinstance(func, ast.Name) and func.id in self.colab_names

    def visit_Import(self, node: ast.Import) -> ast.AST | None:
        if any(a.name == "google.colab" or a.name.startswith("google.colab.") for a in node.names):
            self.notes.append("removed a google.colab import")
            return None
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST | None:
        if (node.module or "").startswith("google.colab") or (
            node.module == "google" and any(a.name == "colab" for a in node.names)
        ):
            self.colab_names.update(a.asname or a.name for a in node.names)
            self.notes.append("removed a google.colab import")
            return None
        return node

    def visit_Expr(self, node: ast.Expr) -> ast.AST | None:
        if self._is_dropped_call(node.value):
            self.notes.append(f"removed `{ast.unparse(node)[:60]}`")
            return None
        return self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> ast.AST | None:
        if self._is_dropped_call(node.value):
            self.notes.append(f"removed `{ast.unparse(node)[:60]}`")
            return None
        return self.generic_visit(node)

    def _redirect(self, node: ast.expr, last: ast.expr | None) -> ast.AST | None:
        """The redirect target for ``node`` when its last piece is a literal path ending
        with a redirected suffix, else None."""
        if not (isinstance(last, ast.Constant) and isinstance(last.value, str)):
            return None
        for suffix, target in self.redirects.items():
            if last.value.endswith(suffix) and ast.unparse(node) != repr(target):
                self.notes.append(f"read {ast.unparse(node)[:80]} as {target!r}")
                return ast.copy_location(ast.Constant(target), node)
        return None

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return self._redirect(node, node) or node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:  # f"{base}/data.csv"
        return self._redirect(node, node.values[-1] if node.values else None) or node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:  # Path(base) / "data.csv"
        if isinstance(node.op, ast.Div):
            found = self._redirect(node, node.right)
            if found:
                return found
        return self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:  # os.path.join(base, "data.csv")
        if isinstance(node.func, ast.Name) and node.func.id == "input":
            self.notes.append(f"answered `{ast.unparse(node)[:60]}` with an empty line (the "
                              "grader runs without a keyboard)")
            return ast.copy_location(ast.Constant(""), node)
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(
            node.func, "id", "")
        if name == "join" and node.args and not node.keywords:
            found = self._redirect(node, node.args[-1])
            if found:
                return found
        return self.generic_visit(node)

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        if isinstance(getattr(node, "body", None), list) and not node.body:
            node.body.append(ast.Pass())  # a block whose only statement was removed
        return node


def _cell_magic_body(source: str) -> tuple[str | None, str | None]:
    """(source without a leading cell-magic line, the magic's name); body None if dropped."""
    lines = source.splitlines(keepends=True)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return source, None
    match = _CELL_MAGIC.match(lines[first])
    if not match:
        return source, None
    name = match.group(1)
    if name in PYTHON_CELL_MAGICS:
        return "".join(lines[first + 1 :]), name
    return None, name


def clean_cell(source: str, redirects: Mapping[str, str] = {}) -> tuple[str, ast.Module | None,
                                                                      list[str]]:
    """(cleaned source, its parse tree or None if it does not parse, notes on changes)."""
    body, magic = _cell_magic_body(source)
    if body is None:
        return "", ast.Module(body=[], type_ignores=[]), [f"skipped a %%{magic} cell"]
    notes = [f"ran the body of %%{magic} as plain Python"] if magic else []
    text = TransformerManager().transform_cell(body)
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        return text, None, [*notes, f"does not parse ({exc.msg}, line {exc.lineno})"]
    cleaner = _Cleaner(redirects)
    tree = ast.fix_missing_locations(cleaner.visit(tree))
    changed = bool(cleaner.notes) or text.strip() != body.strip()
    return (ast.unparse(tree) + "\n" if changed else body), tree, [*notes, *cleaner.notes]


# ------------------------------------------------------------------- unit analysis


def _bound_names(target: ast.AST) -> set[str] | None:
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        names: set[str] = set()
        for elt in target.elts:
            sub = _bound_names(elt.value if isinstance(elt, ast.Starred) else elt)
            if sub is None:
                return None
            names |= sub
        return names
    return None


def _import_names(node: ast.Import | ast.ImportFrom) -> set[str]:
    if isinstance(node, ast.Import):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    return {a.asname or a.name for a in node.names}


def _block_names(stmts: Iterable[ast.stmt]) -> set[str]:
    """Global names a block's statements bind (not inside functions or classes)."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(_import_names(node))
            return
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                             ast.GeneratorExp)):
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        for child in ast.iter_child_nodes(node):
            visit(child)

    for stmt in stmts:
        visit(stmt)
    return names


def _unit_of(stmt: ast.stmt) -> tuple[UnitKind, set[str]] | None:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return "def", {stmt.name}
    if isinstance(stmt, ast.ClassDef):
        return "class", {stmt.name}
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return "import", _import_names(stmt)
    if isinstance(stmt, ast.Try) and stmt.body and all(
        isinstance(s, (ast.Import, ast.ImportFrom)) for s in stmt.body
    ):
        return "import", set().union(*(_import_names(s) for s in stmt.body))
    if isinstance(stmt, ast.Assign):
        names: set[str] = set()
        for target in stmt.targets:
            sub = _bound_names(target)
            if sub is None:
                return None
            names |= sub
        return "assign", names
    if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        sub = _bound_names(stmt.target)
        return ("assign", sub) if sub else None
    if isinstance(stmt, BLOCKS):  # `if torch.cuda.is_available(): device = ...`
        names = _block_names([stmt])
        return ("block", names) if names else None
    return None


_IMMEDIATE = frozenset({"listcomp", "setcomp", "dictcomp", "genexpr"})


def _global_refs(code: str) -> tuple[frozenset[str], frozenset[str]]:
    """(names read when the statement runs, names read only when its functions run)."""
    at_def: set[str] = set()
    at_call: set[str] = set()

    def walk(table: symtable.SymbolTable, immediate: bool) -> None:
        top = table.get_type() == "module"
        for sym in table.get_symbols():
            if not sym.is_referenced():
                continue
            if top or sym.is_global() or (table.get_type() == "class" and not sym.is_assigned()):
                (at_def if immediate else at_call).add(sym.get_name())
        for child in table.get_children():
            is_immediate = immediate and (
                child.get_type() == "class" or child.get_name() in _IMMEDIATE
            )
            walk(child, is_immediate)

    walk(symtable.symtable(code, "<unit>", "exec"), True)
    return frozenset(at_def - _BUILTINS), frozenset(at_call - _BUILTINS - at_def)


def _read_names(stmt: ast.stmt) -> set[str]:
    """Names a statement reads (``x`` in ``x += 1`` included)."""
    return {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Load)} | {
        n.target.id for n in ast.walk(stmt)
        if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)}


def _units_of_cell(tree: ast.Module, cell: int) -> list[Unit]:
    units = []
    for index, stmt in enumerate(tree.body):
        kind_names = _unit_of(stmt)
        if kind_names is None:
            continue
        kind, names = kind_names
        code = ast.unparse(stmt)
        at_def, at_call = _global_refs(code)
        units.append(Unit(kind, frozenset(names), code, (cell, index), at_def - names, at_call,
                          frozenset(_read_names(stmt) & names) if kind == "block"
                          else frozenset()))
    return units


# --------------------------------------------------------------------- notebooks


def _read_json(path: Path) -> dict:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise BadNotebook.from_path(str(path), f"cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise BadNotebook.from_path(str(path), "it is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadNotebook.from_path(
            str(path), f"not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(data, dict) or not ("cells" in data or "worksheets" in data):
        raise BadNotebook.from_path(str(path), "JSON without notebook cells")
    return data


def _as_notebook(data: dict) -> nbformat.NotebookNode:
    """An nbformat v4 notebook; cells kept even when the file breaks the schema."""
    try:
        return nbformat.reads(json.dumps(data), as_version=4)
    except Exception:  # noqa: BLE001 - schema trouble: rebuild from what is readable
        cells = data.get("cells")
        if not isinstance(cells, list):
            raise BadNotebook.from_path("notebook", "cells are not a list") from None
        nb = nbformat.v4.new_notebook()
        for cell in cells:
            if not isinstance(cell, dict):
                continue
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            maker = nbformat.v4.new_code_cell if cell.get("cell_type") == "code" else (
                nbformat.v4.new_markdown_cell)
            nb.cells.append(maker(source))
        return nb


def _source(cell: Mapping) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


@dataclass(frozen=True)
class ExtractedNotebook:
    """A notebook's code, cleaned and split into named units."""

    notebook: nbformat.NotebookNode  # as read (outputs included)
    units: tuple[Unit, ...]
    problems: tuple[CellProblem, ...]
    cleaned: Mapping[int, str] = field(default_factory=dict)  # cell index -> cleaned source
    path: Path | None = None

    @cached_property
    def definitions(self) -> dict[str, Unit]:
        """Name -> the last unit (def, class or assignment) that binds it."""
        table: dict[str, Unit] = {}
        for unit in self.units:
            if unit.kind != "import":
                for name in unit.names:
                    table[name] = unit
        return table

    @cached_property
    def _imports(self) -> list[Unit]:
        seen: dict[str, Unit] = {}
        for unit in self.units:
            if unit.kind == "import":
                seen.setdefault(unit.code, unit)
        return list(seen.values())

    def has(self, name: str) -> bool:
        return name in self.definitions

    def missing(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if n not in self.definitions]

    def _computed_by_notebook(self, unit: Unit, seen: frozenset[str] = frozenset()) -> bool:
        """An assignment or block whose value needs a notebook function (e.g. a training
        run, or ``STOP_WORDS = english_stop_words()``)."""
        if unit.kind not in ("assign", "block"):
            return False
        for ref in unit.def_refs - seen:
            dep = self.definitions.get(ref)
            if dep is None:
                continue
            if dep.kind == "def" or self._computed_by_notebook(dep, seen | unit.names):
                return True
        return False

    def closure(self, names: Iterable[str], exclude: Iterable[str] = ()) -> list[Unit]:
        """The units ``names`` need, transitively (notebook-computed globals included)."""
        excluded = set(exclude)
        chosen: dict[tuple[int, int], Unit] = {}
        todo = [n for n in names if n not in excluded]
        while todo:
            unit = self.definitions.get(todo.pop())
            if unit is None or unit.position in chosen:
                continue
            chosen[unit.position] = unit
            todo.extend(n for n in unit.def_refs | unit.call_refs if n not in excluded)
            for name in unit.self_refs:  # the definition before the block that updates it
                earlier = [u for u in self.units if name in u.names
                           and u.position < unit.position and u.position not in chosen]
                if earlier:
                    chosen[earlier[-1].position] = earlier[-1]
                    todo.extend(n for n in earlier[-1].def_refs | earlier[-1].call_refs
                                if n not in excluded)
        return _ordered(list(chosen.values()))

    def module_source(self, names: Iterable[str], exclude: Iterable[str] = ()) -> str:
        """A runnable module with ``names``, all they reference (functions, classes,
        globals such as ``hparams = HyperParams()``, top-level ``if``/``for``/``with``/
        ``try`` blocks that bind them) and the imports that bind the names they use, each
        import guarded. Globals computed by notebook functions (``STOP_WORDS =
        english_stop_words()``) and blocks are kept, guarded: together they get COMPUTED_BUDGET_S
        seconds, and one that fails or runs out of time is reported in IMPORT_ERRORS
        while the rest loads. Other top-level statements (calls, prints) are left out."""
        units = self.closure(names, exclude)
        needed = set().union(*(u.def_refs | u.call_refs for u in units)) if units else set()
        defined = set().union(*(u.names for u in units)) if units else set()
        imports = [u for u in self._imports if u.names & needed or "*" in u.names]
        future = [u for u in imports if u.code.startswith("from __future__")]
        lines = [u.code for u in future]
        lines.append(f"{IMPORT_ERRORS} = []")
        for unit in imports:
            if unit not in future:
                lines.append(_guarded(unit.code))
        bound = defined | set().union(*(u.names for u in imports)) if imports else defined
        for name, statement in IPYTHON_ONLY_NAMES.items():
            if name in needed and name not in bound:
                lines.append(_guarded(statement))
        computed = {u.position for u in units  # a block may be a loop: timed as well
                    if u.kind == "block" or self._computed_by_notebook(u)}
        if computed:
            lines.append(_TIME_LIMIT.format(budget=COMPUTED_BUDGET_S))
        lines.extend(_guarded(u.code, timed=True) if u.position in computed else u.code
                     for u in units)
        return "\n\n".join(lines) + "\n"

    def sanitized(self) -> nbformat.NotebookNode:
        """A copy to execute: code cells cleaned, outputs cleared, skipped cells emptied."""
        nb = copy.deepcopy(self.notebook)
        for index, cell in enumerate(nb.cells):
            if cell.get("cell_type") == "code":
                cell["source"] = self.cleaned.get(index, _source(cell))
                cell["outputs"] = []
                cell["execution_count"] = None
        return nb


# Stops a guarded statement once the shared budget is spent (at least 1 s each, so a cheap
# one after a slow one still runs; SIGALRM, repeated each second so that a student's broad
# `except` cannot swallow it for good); where no alarm
# can be set (not the main thread) the statements run unlimited, as before.
_TIME_LIMIT = '''import signal as _grader_signal
import time as _grader_time


class _GraderTimeLimit:
    left = {budget!r}

    def _fire(self, *_):
        raise TimeoutError("stopped: globals computed by notebook functions may take "
                           "{budget:g} s in all while the code loads")

    def __enter__(self):
        self.start, self.old = _grader_time.monotonic(), None
        try:
            self.old = _grader_signal.signal(_grader_signal.SIGALRM, self._fire)
            _grader_signal.setitimer(_grader_signal.ITIMER_REAL, max(self.left, 1.0), 1.0)
        except (ValueError, AttributeError):
            pass

    def __exit__(self, *_):
        if self.old is not None:
            _grader_signal.setitimer(_grader_signal.ITIMER_REAL, 0)
            _grader_signal.signal(_grader_signal.SIGALRM, self.old)
        type(self).left -= _grader_time.monotonic() - self.start
        return False


_grader_time_limit = _GraderTimeLimit()'''


def _guarded(statement: str, timed: bool = False) -> str:
    """``statement`` in a try block that records its failure in IMPORT_ERRORS (under the
    computed-globals time limit when ``timed``)."""
    body = "\n".join("    " + line for line in statement.splitlines())
    if timed:
        body = "    with _grader_time_limit:\n" + "\n".join(
            "    " + line for line in body.splitlines())
    first = statement.splitlines()[0]
    return (f"try:\n{body}\nexcept Exception as _grader_exc:\n"
            f"    {IMPORT_ERRORS}.append({first!r} + ': ' + repr(_grader_exc))")


def _ordered(units: list[Unit]) -> list[Unit]:
    """Notebook order, moved only where a statement needs a name defined later (a
    topological order that always takes the earliest ready statement); statements in a
    dependency cycle, and those needing them, keep notebook order at the end."""
    by_name = {n: u for u in units for n in u.names}
    deps = {u.position: {by_name[r].position for r in u.def_refs if r in by_name} - {u.position}
            for u in units}
    stuck = _in_or_after_cycles(deps)
    sorter = graphlib.TopologicalSorter({p: d for p, d in deps.items() if p not in stuck})
    sorter.prepare()
    ready: list[Pos] = []
    order: list[Pos] = []
    while sorter.is_active():
        for pos in sorter.get_ready():
            heapq.heappush(ready, pos)
        pos = heapq.heappop(ready)
        order.append(pos)
        sorter.done(pos)
    by_pos = {u.position: u for u in units}
    return [by_pos[pos] for pos in [*order, *sorted(stuck)]]


def _in_or_after_cycles(deps: Mapping[Pos, set[Pos]]) -> set[Pos]:
    """The nodes of ``deps`` (node -> nodes it needs) on a cycle or needing one, transitively."""
    stuck: set[Pos] = set()
    graph = dict(deps)
    while True:
        try:
            graphlib.TopologicalSorter(graph).prepare()
            return stuck
        except graphlib.CycleError as exc:
            stuck |= set(exc.args[1])
        grew = True
        while grew:  # add every node that needs a stuck one
            after = {p for p, d in graph.items() if p not in stuck and d & stuck}
            stuck |= after
            grew = bool(after)
        graph = {p: d for p, d in graph.items() if p not in stuck}


def extract(nb: nbformat.NotebookNode, redirects: Mapping[str, str] = {},
            path: Path | None = None) -> ExtractedNotebook:
    """Clean every code cell of ``nb`` and collect its units."""
    units: list[Unit] = []
    problems: list[CellProblem] = []
    cleaned: dict[int, str] = {}
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        text, tree, notes = clean_cell(_source(cell), redirects)
        cleaned[index] = text
        problems.extend(CellProblem(index, note) for note in notes)
        if tree is not None:
            units.extend(_units_of_cell(tree, index))
    return ExtractedNotebook(nb, tuple(units), tuple(problems), cleaned, path)


def read_notebook(path: Path, redirects: Mapping[str, str] = {}) -> ExtractedNotebook:
    """Read and extract a notebook file; ``BadNotebook`` if it is not one."""
    return extract(_as_notebook(_read_json(Path(path))), redirects, Path(path))
