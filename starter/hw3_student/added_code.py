"""The code a student added for each question: their lines, not the given code.

For every function or class a question names, the student's definition is compared line by
line (difflib) with the starter's (``data/starter_defs.json``, built from the starter
notebooks); the added or changed lines are kept in blocks. A definition the starter does not
have (the course's own handout names things differently) is shown whole; for questions
answered at the top level (the handout's LabLLM script cells), the cells that hold the
question's marker calls (``Trainer(``, ``get_peft_model``...) are shown whole.
"""

from __future__ import annotations

import ast
import difflib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import nbformat

from .notebook import code_cells, parse

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Block:
    """One piece of added code: where it is (a function's name or a cell) and its text."""

    where: str
    code: str


@cache
def starter_defs() -> dict[str, str]:
    """Name -> source of every top-level function and class of the starter notebooks."""
    path = DATA / "starter_defs.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def definitions(nb: nbformat.NotebookNode) -> dict[str, str]:
    """Name -> source of the notebook's top-level functions and classes (last one wins)."""
    found = {}
    for _, source in code_cells(nb):
        tree = parse(source)
        if tree is None:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found[node.name] = ast.get_source_segment(source, node) or ""
    return found


def added_lines(starter: str, student: str) -> list[str]:
    """Blocks of the student's lines that the starter's version lacks (inserted or changed),
    blank-only blocks dropped."""
    a, b = starter.splitlines(), student.splitlines()
    blocks = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, _, _, j1, j2 in matcher.get_opcodes():
        if tag in ("insert", "replace") and any(line.strip() for line in b[j1:j2]):
            blocks.append(_dedent(b[j1:j2]))
    return blocks


def _dedent(lines: list[str]) -> str:
    import textwrap

    return textwrap.dedent("\n".join(lines)).strip("\n")


def blocks_for(nb: nbformat.NotebookNode, names: tuple[str, ...],
               markers: tuple[str, ...] = ()) -> list[Block]:
    """The added code of one question: its named definitions' new lines, else the cells
    holding its marker calls."""
    defs, given = definitions(nb), starter_defs()
    blocks: list[Block] = []
    for name in names:
        if name not in defs:
            continue
        if name in given:
            blocks += [Block(f"in {name}", code) for code in added_lines(given[name],
                                                                        defs[name])]
        else:
            blocks.append(Block(f"{name} (whole definition)", defs[name]))
    if not blocks and markers:
        for index, source in code_cells(nb):
            if any(m in source for m in markers) and source.strip():
                blocks.append(Block(f"cell {index + 1}", source.strip()))
    return blocks


def starter_defs_of(notebooks: list[Path]) -> dict[str, str]:
    """Name -> source of the top-level definitions of the given (starter) notebooks."""
    found: dict[str, str] = {}
    for path in notebooks:
        found.update(definitions(nbformat.read(path, as_version=4)))
    return found
