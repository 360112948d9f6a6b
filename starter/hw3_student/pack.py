"""Build ``code.zip`` as the handout requires, and check the report PDF as the grader does.

    hw3-pack [LabRNN.ipynb LabLLM.ipynb] [--report report.pdf] [--out code.zip]

``code.zip`` holds exactly ``LabRNN.ipynb`` and ``LabLLM.ipynb`` at its top level. Nothing is
written, and the reason is printed, when a notebook is missing, is named otherwise, cannot
be read, is still the untouched starter, or was not executed (a code cell never run); or
when the report PDF is unreadable or a notebook export (the grader's own test,
``pdfcheck``). Either breaks the form rule, which costs 20% of the grade.
"""

from __future__ import annotations

import argparse
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .added_code import definitions, starter_defs
from .pdfcheck import pdf_export_reason

NOTEBOOKS = ("LabRNN.ipynb", "LabLLM.ipynb")
# The functions students write in each notebook (the kit's starter names them so).
QUESTION_NAMES = {
    "LabRNN.ipynb": ("load_imdb", "build_vocab", "tokenize", "IMDB", "LSTM",
                     "train_and_test_model_with_hparams"),
    "LabLLM.ipynb": ("load_model_and_tokenizer", "generate_text", "tokenize_function",
                     "evaluate_perplexity", "make_trainer", "full_fine_tune", "lora_model",
                     "lora_fine_tune"),
}
# A definition that tells which lab a renamed notebook holds.
TELLTALE = {"LabRNN.ipynb": "load_imdb", "LabLLM.ipynb": "evaluate_perplexity"}


@dataclass
class PackCheck:
    """What packing found: reasons to refuse, and warnings that do not stop it."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _which_lab(path: Path, nb: nbformat.NotebookNode | None) -> str | None:
    if nb is not None:
        defs = definitions(nb)
        for name, telltale in TELLTALE.items():
            if telltale in defs:
                return name
    low = path.name.lower()
    return next((n for n in NOTEBOOKS if n.lower().removesuffix(".ipynb") in low), None)


def check_notebook(name: str, path: Path, nb: nbformat.NotebookNode, result: PackCheck) -> None:
    """The starter and execution tests of one notebook (its name already right)."""
    defs, given = definitions(nb), starter_defs()
    own = [n for n in QUESTION_NAMES[name] if n in defs and n in given]
    if own and all(defs[n] == given[n] for n in own):
        result.problems.append(f"{name} is still the untouched starter: none of "
                               f"{', '.join(own)} was written")
        return
    stubs = [n for n in own if defs[n] == given[n]]
    if stubs:
        result.warnings.append(f"{name}: still the starter's stub: {', '.join(stubs)}")
    code = [(i, c) for i, c in enumerate(nb.cells)
            if c.get("cell_type") == "code" and c.get("source", "").strip()]
    never = [i + 1 for i, c in code if c.get("execution_count") is None]
    if never:
        shown = ", ".join(map(str, never[:8])) + (" ..." if len(never) > 8 else "")
        result.problems.append(
            f"{name} is not executed: code cell(s) {shown} (counting all cells from 1) were "
            "never run. Run every cell (Run All) and save the notebook with its outputs")
    errors = [i + 1 for i, c in code
              if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    if errors:
        result.warnings.append(f"{name}: cell(s) {', '.join(map(str, errors))} end with an "
                               "error in their saved output")


def check_submission(paths: list[Path], report: Path | None) -> tuple[PackCheck,
                                                                      dict[str, Path]]:
    """Check the notebooks (matched by their exact names) and the report; returns the
    result and the notebooks to pack (name -> path)."""
    result, chosen = PackCheck(), {}
    for path in paths:
        if not path.is_file():
            result.problems.append(f"{path}: no such file")
            continue
        try:
            nb = nbformat.read(path, as_version=4)
        except (OSError, ValueError) as exc:
            result.problems.append(f"{path} cannot be read as a notebook ({exc})")
            continue
        if path.name not in NOTEBOOKS:
            lab = _which_lab(path, nb)
            wanted = lab or " or ".join(NOTEBOOKS)
            result.problems.append(f"{path.name} is renamed: name it {wanted} (the grader "
                                   "finds the notebooks by these exact names)")
            if lab:
                chosen.setdefault(lab, None)
            continue
        if path.name in chosen:
            result.problems.append(f"{path.name} is given twice")
            continue
        chosen[path.name] = path
        check_notebook(path.name, path, nb, result)
    for name in NOTEBOOKS:
        if name not in chosen:
            result.problems.append(f"{name} is missing")
    if report is None:
        result.warnings.append("no report PDF checked: give it with --report report.pdf "
                               "(it is handed in beside code.zip, not inside it)")
    elif not report.is_file():
        result.problems.append(f"{report}: no such file")
    else:
        reason = pdf_export_reason(report, NOTEBOOKS)
        if reason:
            result.problems.append(f"report: {reason}; write the report yourself (hw3-report "
                                   "makes a skeleton) instead of printing the notebook")
    return result, {k: v for k, v in chosen.items() if v is not None}


def pack(paths: list[Path], out: Path, report: Path | None = None) -> PackCheck:
    """Check, then write `out` (only when every check passed)."""
    result, chosen = check_submission(paths, report)
    if result.ok:
        tmp = out.with_name(out.name + ".part")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in NOTEBOOKS:
                zf.write(chosen[name], arcname=name)
        tmp.replace(out)
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="your two notebooks (default: LabRNN.ipynb and LabLLM.ipynb here)")
    parser.add_argument("--report", type=Path,
                        help="your report PDF, checked as the grader does (default: "
                             "report.pdf here, if there is one)")
    parser.add_argument("--out", type=Path, default=Path("code.zip"))


def main_args(args: argparse.Namespace) -> int:
    paths = args.notebooks or [Path(n) for n in NOTEBOOKS]
    report = args.report or (Path("report.pdf") if Path("report.pdf").is_file() else None)
    result = pack(paths, args.out, report)
    for warning in result.warnings:
        print(f"warning: {warning}")
    if not result.ok:
        for problem in result.problems:
            print(f"refused: {problem}")
        print(f"{args.out} was not written")
        return 1
    print(f"wrote {args.out} (LabRNN.ipynb, LabLLM.ipynb)"
          + (f"; {report} is an acceptable report PDF" if report else ""))
    return 0
