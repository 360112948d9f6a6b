"""Build the lab notebooks from their layouts: stubbed starters and filled solutions.

    python -m hw3_solution.notebooks           # write starter/<notebook> for every lab
    python -m hw3_solution.notebooks --check   # exit 1 when a committed starter is stale

A lab is a module of the solution (`lab_rnn.py`) and a layout (`layout_rnn.py`) that says
which cells the notebook has (see `hw3_solution.layout`). Code cells of kind `Source` copy
definitions out of the lab module; their regions fenced by ``# TODO[<id>] begin`` /
``# TODO[<id>] end`` become ``raise NotImplementedError("<id>: <hint>")`` in the starter and
stay (without the fence lines) in the solution notebook. So the module is the one source of
truth and a notebook can never drift from it.

To add a lab `xyz`: write `hw3_solution/lab_xyz.py` with fenced student regions, and
`hw3_solution/layout_xyz.py` defining ``LAYOUT = Layout(lab="xyz", notebook="LabXYZ.ipynb",
module="hw3_solution.lab_xyz", hints={<id>: <what to do>, ...}, cells=(...))``; then add
"xyz" to `LABS` below and run this module to write the starter.
"""

import argparse
import ast
import importlib
import inspect
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from hw3_solution.layout import Code, Imports, Layout, Markdown, Source

LABS = ("rnn", "llm")
REPO_ROOT = Path(__file__).resolve().parents[2]
STARTER_DIR = REPO_ROOT / "starter"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)# TODO\[(?P<qid>\w+)\] (?P<edge>begin|end)[ \t]*$")
_NOTEBOOK_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


class LayoutNotFound(LookupError):
    """A lab whose layout module does not exist (yet)."""


def load_layout(lab: str) -> Layout:
    """The `LAYOUT` of `hw3_solution.layout_<lab>`."""
    if lab not in LABS:
        raise ValueError(f"unknown lab {lab!r}; expected one of {', '.join(LABS)}")
    name = f"hw3_solution.layout_{lab}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise LayoutNotFound(f"lab {lab!r} has no layout yet ({name} is missing)") from exc
    return module.LAYOUT


def available_labs() -> list[str]:
    """The labs whose layout module exists."""
    labs = []
    for lab in LABS:
        try:
            load_layout(lab)
        except LayoutNotFound:
            continue
        labs.append(lab)
    return labs


@dataclass(frozen=True)
class ModuleSource:
    """A lab module's source split into its import block and its top-level definitions."""

    imports: str
    definitions: dict[str, str]

    @classmethod
    def of(cls, module_name: str) -> "ModuleSource":
        source = inspect.getsource(importlib.import_module(module_name))
        lines = source.splitlines()
        imports: list[str] = []
        definitions: dict[str, str] = {}
        last_import_end = None
        for node in ast.parse(source).body:
            start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            text = "\n".join(lines[start - 1 : _end_with_comments(lines, node.end_lineno)])
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                if last_import_end is not None and start > last_import_end + 1:
                    imports.append("")
                imports.append(text)
                last_import_end = node.end_lineno
            for name in _defined_names(node):
                definitions[name] = text
        return cls("\n".join(imports), definitions)


def _end_with_comments(lines: list[str], end: int) -> int:
    """The last line of a definition, counting the indented comments that trail its body."""
    last = end
    for number in range(end + 1, len(lines) + 1):
        line = lines[number - 1]
        if line.strip() and not (line[0].isspace() and line.lstrip().startswith("#")):
            break
        if line.strip():
            last = number
    return last


def _defined_names(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def apply_fences(code: str, hints: dict[str, str] | None) -> tuple[str, list[str]]:
    """Resolve the fenced regions of `code`: stubs when `hints` is given, else the solution.

    Returns the new code and the question ids of the regions, in order.
    """
    out: list[str] = []
    qids: list[str] = []
    open_qid = None
    for number, line in enumerate(code.splitlines(), start=1):
        match = _FENCE.match(line)
        if match is None:
            if open_qid is None or hints is None:
                out.append(line)
            continue
        qid, edge = match["qid"], match["edge"]
        if edge == "begin":
            if open_qid is not None:
                raise ValueError(f"line {number}: TODO[{qid}] begins inside TODO[{open_qid}]")
            open_qid = qid
            qids.append(qid)
            if hints is not None:
                if qid not in hints:
                    raise ValueError(f"no hint for question {qid!r} in the layout")
                message = f"{qid}: {hints[qid]}"
                indent = match["indent"]
                out.append(f"{indent}# TODO: your code here (replace the raise)")
                out.append(f"{indent}raise NotImplementedError({message!r})")
        elif qid != open_qid:
            raise ValueError(f"line {number}: TODO[{qid}] end without its begin")
        else:
            open_qid = None
    if open_qid is not None:
        raise ValueError(f"TODO[{open_qid}] begins but never ends")
    return "\n".join(out), qids


def _code_cell(cell_id: str, text: str, tags: list[str]) -> NotebookNode:
    cell = new_code_cell(text, id=cell_id)
    if tags:
        cell.metadata["tags"] = tags
    return cell


def build_notebook(lab: str, *, solution: bool) -> NotebookNode:
    """The notebook of `lab`: with stubs for the starter, filled for the solution."""
    layout = load_layout(lab)
    module = ModuleSource.of(layout.module)
    hints = None if solution else dict(layout.hints)
    cells = []
    for cell in layout.cells:
        tags = list(cell.tags)
        if isinstance(cell, Markdown):
            md = new_markdown_cell(cell.text.rstrip("\n"), id=cell.id)
            if tags:
                md.metadata["tags"] = tags
            cells.append(md)
        elif isinstance(cell, Code):
            cells.append(_code_cell(cell.id, cell.text, tags))
        elif isinstance(cell, Imports):
            cells.append(_code_cell(cell.id, module.imports, tags))
        elif isinstance(cell, Source):
            missing = [n for n in cell.names if n not in module.definitions]
            if missing:
                raise ValueError(f"{layout.module} does not define {', '.join(missing)}")
            text = "\n\n\n".join(module.definitions[n] for n in cell.names)
            text, qids = apply_fences(text, hints)
            cells.append(_code_cell(cell.id, text, tags + [q for q in qids if q not in tags]))
        else:
            raise TypeError(f"unknown cell kind {type(cell).__name__} in layout {lab}")
    notebook = new_notebook(cells=cells, metadata={**_NOTEBOOK_METADATA, **layout.metadata})
    nbformat.validate(notebook)
    return notebook


def build_starter_notebook(lab: str) -> NotebookNode:
    """The starter notebook of `lab` (student regions replaced by stubs)."""
    return build_notebook(lab, solution=False)


def build_solution_notebook(lab: str) -> NotebookNode:
    """The solution notebook of `lab` (student regions filled from the solution module)."""
    return build_notebook(lab, solution=True)


def starter_text(lab: str) -> str:
    """The starter notebook of `lab` as the exact text that is committed."""
    return nbformat.writes(build_starter_notebook(lab))


def stale_starters(starter_dir: Path = STARTER_DIR) -> list[Path]:
    """The starter files that are missing or differ from a fresh build."""
    stale = []
    for lab in available_labs():
        path = starter_dir / load_layout(lab).notebook
        if not path.is_file() or path.read_text(encoding="utf-8") != starter_text(lab):
            stale.append(path)
    return stale


def write_starters(starter_dir: Path = STARTER_DIR) -> list[Path]:
    """Write the starter notebook of every lab that has a layout; returns the paths."""
    starter_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for lab in available_labs():
        path = starter_dir / load_layout(lab).notebook
        path.write_text(starter_text(lab), encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hw3_solution.notebooks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a committed starter is stale"
    )
    parser.add_argument(
        "--out", type=Path, default=STARTER_DIR, help="starter folder (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_starters(args.out)
        for path in stale:
            print(f"stale: {path} (run python -m hw3_solution.notebooks)", file=sys.stderr)
        if not stale:
            print(f"starters up to date: {', '.join(available_labs())}")
        return 1 if stale else 0
    for path in write_starters(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
