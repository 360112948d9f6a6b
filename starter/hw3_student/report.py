"""A student's report skeleton: the questions, the True/False statements, and under each
question the code the student wrote for it with its saved output.

    python -m hw3_student.report LabRNN.ipynb LabLLM.ipynb [--out report.md]

Code is found from the cells tagged with the question id, else the cells that define the
question's functions (read with ``ast``, shell and magic lines skipped). Nothing is executed.
This package imports nothing of the grader or the solution.
"""

from __future__ import annotations

import argparse
import ast
import datetime
from dataclasses import dataclass
from pathlib import Path

import jinja2
import nbformat

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "report_template"
OUTPUT_LIMIT = 1500  # characters of a cell's saved output kept in the report

STATEMENTS = (
    ("1.1", "The LSTM forget gate cannot be emulated by the other parameters of a cell."),
    ("1.2", "Multi-head attention keeps the O(n^2 d) cost of attention."),
    ("1.3", "BPE is bottom-up, is used in GPT and BERT, shrinks the vocabulary and handles "
            "unknown words."),
    ("1.4", "Positional embeddings are multiplied onto the token embeddings."),
    ("1.5", "In the decoder's cross-attention the encoder supplies the Query and the Value."),
    ("1.6", "In LLMs a token is a word."),
    ("1.7", "Computing Q, K and V in one decoding forward pass of one layer costs O((N+M)d)."),
    ("1.8", "FlashAttention improves the locality of the attention computation."),
    ("1.9", "In RLHF humans take part directly in training."),
    ("1.10", "A KV cache does not help training."),
)


@dataclass(frozen=True)
class Question:
    tag: str
    title: str
    points: int
    functions: tuple[str, ...]
    written: str = ""  # the written part the student must add


LABS = (
    ("LabRNN.ipynb", "Part 2: Lab 1, LSTM sentiment classifier on IMDB (35 points)", (
        Question("lab1a", "(a) Data loader", 5, ("load_imdb",)),
        Question("lab1b", "(b) Vocabulary", 5, ("build_vocab",)),
        Question("lab1c", "(c) Tokenize", 5, ("tokenize",)),
        Question("lab1d", "(d) Dataset `__getitem__`", 5, ("IMDB",)),
        Question("lab1e", "(e) LSTM `__init__` and `forward`", 10, ("LSTM",)),
        Question("lab1f", "(f) Training run", 5, ("train_and_test_model_with_hparams",),
                 "Observations (training and validation loss and accuracy per epoch, the "
                 "best epoch, over-fitting, the test accuracy and the prediction)"),
    )),
    ("LabLLM.ipynb", "Part 3: Lab 2, GPT-2 with Hugging Face (45 points)", (
        Question("lab2a", "(a) Load GPT-2 and generate text", 10,
                 ("load_model_and_tokenizer", "generate_text")),
        Question("lab2b", "(b) Dataset preparation", 10, ("tokenize_function", "prepare_data")),
        Question("lab2c", "(c) Perplexity", 10, ("evaluate_perplexity",)),
        Question("lab2d", "(d) Full fine-tuning", 5, ("make_trainer", "full_fine_tune")),
        Question("lab2e", "(e) LoRA fine-tuning", 5, ("lora_model", "lora_fine_tune")),
        Question("lab2f", "(f) Comparison", 5, (),
                 "Compare the fine-tuning times, the perplexities and the generated texts of "
                 "full and LoRA fine-tuning, and explain the differences"),
    )),
)


def _output_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append("".join(out.get("text", "")))
        elif "data" in out and "text/plain" in out["data"]:
            parts.append("".join(out["data"]["text/plain"]))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
    text = "".join(parts).strip()
    return text if len(text) <= OUTPUT_LIMIT else text[:OUTPUT_LIMIT] + "\n[... cut ...]"


def _python_lines(source: str) -> str:
    """A code cell's text without IPython's shell (``!``) and magic (``%``) lines."""
    return "\n".join(line for line in source.splitlines()
                     if not line.lstrip().startswith(("!", "%")))


def _defined_names(source: str) -> set[str]:
    """Names of the functions and classes a cell defines at its top level."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.name for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}


def _cells_for(nb: nbformat.NotebookNode, question: Question) -> list[dict]:
    chosen = []
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        source = _python_lines(cell.get("source", ""))
        tags = cell.get("metadata", {}).get("tags", [])
        tagged = any(t == question.tag or t.startswith(question.tag + "_") for t in tags)
        if tagged or _defined_names(source) & set(question.functions):
            chosen.append({"source": source.strip(), "output": _output_text(cell)})
    return chosen


def render(notebooks: dict[str, Path], student: str = "") -> str:
    """The report skeleton in Markdown for the notebooks given (file name -> path)."""
    labs = []
    for name, title, questions in LABS:
        path = notebooks.get(name)
        lab = {"title": title, "notebook": name, "found": False, "problem": "not given",
               "questions": []}
        nb = None
        if path is not None:
            try:
                nb = nbformat.read(path, as_version=4)
                lab["found"] = True
            except (OSError, ValueError) as exc:  # nbformat's NotJSONError is a ValueError
                lab["problem"] = f"{path.name} could not be read as a notebook: {exc}"
        for q in questions:
            lab["questions"].append({"title": q.title, "points": q.points,
                                     "written": q.written,
                                     "cells": _cells_for(nb, q) if nb else []})
        labs.append(lab)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
                             keep_trailing_newline=True, autoescape=False)
    return env.get_template("report.md.j2").render(
        student=student, made_on=datetime.date.today().isoformat(),
        statements=STATEMENTS, labs=labs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a report skeleton from your notebooks.")
    parser.add_argument("notebooks", nargs="+", type=Path,
                        help="LabRNN.ipynb and/or LabLLM.ipynb (matched by file name)")
    parser.add_argument("--out", type=Path, default=Path("report.md"))
    parser.add_argument("--student", default="", help="your name, printed at the top")
    args = parser.parse_args(argv)
    known = {name.lower(): name for name, _, _ in LABS}
    given = {}
    for path in args.notebooks:
        if not path.is_file():
            parser.error(f"{path}: no such file")
        if path.name.lower() not in known:
            parser.error(f"{path}: expected LabRNN.ipynb or LabLLM.ipynb")
        given[known[path.name.lower()]] = path
    args.out.write_text(render(given, args.student), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
