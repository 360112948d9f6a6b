"""Your report skeleton from your executed notebooks, as Markdown and as a PDF (Typst).

    hw3-report LabRNN.ipynb LabLLM.ipynb [--answers answers.toml] [--student NAME]
               [--out report]          # writes report.md and report.pdf

In the homework's order: the ten True/False statements with your answers (from
``answers.toml``, else blanks to fill in), then per question the code you added (your lines,
not the given code), the results the question asks for read from your notebook's saved
outputs (missing ones are marked), the Lab 1 loss/accuracy plot, and a marked place for
each written answer. ``answers.toml``::

    [tf."1.3"]
    answer = "True"            # or "False"
    justification = "one or two sentences"

Nothing is executed; the PDF is not a notebook export, so it passes the form rule.
"""

from __future__ import annotations

import argparse
import datetime
import json
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from . import added_code, results

DATA = Path(__file__).resolve().parent / "data"
TEMPLATES = DATA / "templates"
TITLE = "Homework 3: RNN and Transformers (report)"
NOTICE = ("Skeleton made by hw3-report from your executed notebooks. Check every value, fill "
          "in each marked answer, and keep the code under each question. Hand in two files: "
          "this report as a PDF and code.zip holding exactly LabRNN.ipynb and LabLLM.ipynb "
          "(hw3-pack builds it). A PDF printed from a notebook breaks the form rule and "
          "costs 20% of the grade.")

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
BLANK = "____"


@dataclass(frozen=True)
class Question:
    tag: str
    title: str
    points: int
    functions: tuple[str, ...] = ()
    written: str = ""  # the written part the student must add
    markers: tuple[str, ...] = ()  # top-level calls that answer it (the handout's script)


LABS = (
    ("LabRNN.ipynb", "Part 2: Lab 1, LSTM sentiment classifier on IMDB (35 points)", (
        Question("lab1a", "(a) Data loader", 5, ("load_imdb",)),
        Question("lab1b", "(b) Vocabulary", 5, ("build_vocab",)),
        Question("lab1c", "(c) Tokenize", 5, ("tokenize",)),
        Question("lab1d", "(d) Dataset __getitem__", 5, ("IMDB",)),
        Question("lab1e", "(e) LSTM __init__ and forward", 10, ("LSTM",)),
        Question("lab1f", "(f) Training run and observations", 5,
                 ("train_and_test_model_with_hparams",),
                 "observations: training and validation loss and accuracy per epoch, the best "
                 "epoch, over-fitting, the test accuracy and the prediction"),
    )),
    ("LabLLM.ipynb", "Part 3: Lab 2, GPT-2 with Hugging Face (45 points)", (
        Question("lab2a", "(a) Load GPT-2 and generate text", 10,
                 ("load_model_and_tokenizer", "generate_text"), markers=("from_pretrained(",)),
        Question("lab2b", "(b) Dataset preparation", 10, ("tokenize_function", "prepare_data"),
                 markers=("DataCollatorForLanguageModeling(",)),
        Question("lab2c", "(c) Perplexity", 10, ("evaluate_perplexity",)),
        Question("lab2d", "(d) Full fine-tuning", 5, ("make_trainer", "full_fine_tune"),
                 markers=("Trainer(",)),
        Question("lab2e", "(e) LoRA fine-tuning", 5, ("lora_model", "lora_fine_tune"),
                 markers=("get_peft_model(",)),
        Question("lab2f", "(f) Comparison", 5, (),
                 "compare the fine-tuning times, the perplexities and the generated texts of "
                 "full and LoRA fine-tuning, and explain the differences"),
    )),
)


class AnswersError(ValueError):
    """The answers file is not in the expected form (the message says where)."""


def read_answers(path: Path | None) -> dict[str, dict[str, str]]:
    """Statement number -> {"answer": "True"|"False", "justification": str}."""
    if path is None:
        return {}
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AnswersError(f"{path}: {exc}") from None
    table = data.get("tf", {})
    known = {n for n, _ in STATEMENTS}
    unknown = sorted(set(table) - known)
    if unknown:
        raise AnswersError(f"{path}: no statement {unknown} (statements: "
                           f"{', '.join(n for n, _ in STATEMENTS)}; write [tf.\"1.3\"])")
    out = {}
    for number, entry in table.items():
        answer = str(entry.get("answer", "")).strip().capitalize()
        if answer not in ("True", "False", ""):
            raise AnswersError(f'{path}: [tf."{number}"] answer must be "True" or "False", '
                               f"not {entry.get('answer')!r}")
        out[number] = {"answer": answer or BLANK,
                       "justification": " ".join(str(entry.get("justification", "")).split())}
    return out


def _results_of(tag: str, r1: results.Lab1Results | None, r2: results.Lab2Results | None,
                plot: str | None) -> dict[str, Any]:
    """A question's results: label/value lines, tables, texts, the plot."""
    out: dict[str, Any] = {"results": [], "tables": [], "texts": [], "plot": None}

    def line(label: str, value: Any) -> None:
        out["results"].append({"label": label, "value": value})

    if r1 is not None and tag == "lab1a":
        for part in ("train", "valid", "test"):
            line(f"{part} rows", r1.split_sizes.get(part))
    elif r1 is not None and tag == "lab1b":
        line("vocabulary size", r1.vocab_size)
    elif r1 is not None and tag == "lab1e":
        line("trainable parameters", r1.parameters)
    elif r1 is not None and tag == "lab1f":
        cols = ("epoch", "train_loss", "train_acc", "valid_loss", "valid_acc")
        out["tables"].append({
            "caption": "Per-epoch loss and accuracy",
            "header": ["epoch", "train loss", "train acc", "valid loss", "valid acc"],
            "rows": [[_fmt(row.get(c)) for c in cols] for row in r1.epochs]
            or [[None] * len(cols)]})
        out["plot"] = plot
        line("best epoch" + (f" ({r1.best_epoch_source})" if r1.best_epoch_source else ""),
             r1.best_epoch)
        line("test loss", _fmt(r1.test_loss))
        line("test accuracy", _fmt(r1.test_accuracy))
        out["texts"].append({"label": "Prediction on the first test review",
                             "text": r1.prediction})
    elif r2 is not None and tag == "lab2a":
        out["texts"].append({"label": "Generated text (pretrained GPT-2)",
                             "text": r2.pretrained_text})
    elif r2 is not None and tag == "lab2c":
        line("perplexity before fine-tuning", _fmt(r2.initial_perplexity))
    elif r2 is not None and tag in ("lab2d", "lab2e"):
        run, name = (r2.full, "full fine-tuning") if tag == "lab2d" else (r2.lora, "LoRA")
        epochs = max(len(run.train_loss), len(run.valid_loss), 1)
        out["tables"].append({
            "caption": f"Trainer losses per epoch ({name})",
            "header": ["epoch", "training loss", "validation loss"],
            "rows": [[e + 1, _fmt(_at(run.train_loss, e)), _fmt(_at(run.valid_loss, e))]
                     for e in range(epochs)]})
        line(f"perplexity after {name}", _fmt(run.perplexity))
        if tag == "lab2e":
            line("trainable parameters", run.trainable)
        out["texts"].append({"label": f"Generated text after {name}", "text": run.text})
    elif r2 is not None and tag == "lab2f":
        out["tables"].append({
            "caption": "Full fine-tuning vs LoRA",
            "header": ["method", "training time (s)", "trainable parameters", "perplexity"],
            "rows": [[m, _fmt(run.seconds, 1), run.trainable, _fmt(run.perplexity)]
                     for m, run in (("full", r2.full), ("LoRA", r2.lora))]})
        out["texts"] += [{"label": "Generated text before fine-tuning",
                          "text": r2.pretrained_text},
                         {"label": "after full fine-tuning", "text": r2.full.text},
                         {"label": "after LoRA fine-tuning", "text": r2.lora.text}]
    return out


def _at(values: list, i: int) -> Any:
    return values[i] if i < len(values) else None


def _fmt(value: float | int | None, digits: int = 4) -> str | None:
    if value is None:
        return None
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def plot_epochs(epochs: list[dict[str, float]], path: Path) -> Path | None:
    """Loss and accuracy per epoch (train and valid) as a PNG at `path`; None when the
    notebook printed no epoch table."""
    if not epochs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(8, 3), constrained_layout=True)
    x = [row["epoch"] for row in epochs]
    for ax, kind in ((ax_loss, "loss"), (ax_acc, "acc")):
        for part, style in (("train", "o-"), ("valid", "s--")):
            ys = [row.get(f"{part}_{kind}") for row in epochs]
            if any(y is not None for y in ys):
                ax.plot(x, [float("nan") if y is None else y for y in ys], style, label=part)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss" if kind == "loss" else "accuracy")
        ax.set_xticks(x)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def build(notebooks: dict[str, Path], answers: dict[str, dict[str, str]] | None = None,
          student: str = "", plot_dir: Path | None = None) -> dict[str, Any]:
    """The report's content as plain data (what both templates render)."""
    answers = answers or {}
    data: dict[str, Any] = {
        "title": TITLE, "student": student, "notice": NOTICE,
        "made_on": datetime.date.today().isoformat(),
        "tf": [{"number": n, "statement": s,
                "answer": answers.get(n, {}).get("answer", BLANK),
                "justification": answers.get(n, {}).get("justification", "")}
               for n, s in STATEMENTS],
        "labs": [],
    }
    for name, title, questions in LABS:
        lab: dict[str, Any] = {"title": title, "notebook": name, "problem": None,
                               "questions": []}
        nb = None
        path = notebooks.get(name)
        if path is None:
            lab["problem"] = f"{name} was not given: its code and results are missing."
        else:
            try:
                nb = nbformat.read(path, as_version=4)
            except (OSError, ValueError) as exc:  # NotJSONError is a ValueError
                lab["problem"] = f"{path.name} could not be read as a notebook: {exc}"
        r1 = results.lab1_results(nb) if nb is not None and name == "LabRNN.ipynb" else None
        r2 = results.lab2_results(nb) if nb is not None and name == "LabLLM.ipynb" else None
        plot = None
        if r1 is not None and plot_dir is not None:
            made = plot_epochs(r1.epochs, plot_dir / "lab1_epochs.png")
            plot = made.name if made else None
        for q in questions:
            blocks = added_code.blocks_for(nb, q.functions, q.markers) if nb else []
            lab["questions"].append({
                "tag": q.tag, "title": q.title, "points": q.points, "written": q.written,
                "has_code": bool(q.functions or q.markers),
                "blocks": [{"where": b.where, "code": b.code} for b in blocks],
                **_results_of(q.tag, r1, r2, plot)})
        data["labs"].append(lab)
    return data


def markdown(data: dict[str, Any]) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             keep_trailing_newline=True, autoescape=False)
    return env.get_template("report.md.j2").render(**data)


def pdf(data: dict[str, Any], out: Path, workdir: Path) -> Path:
    """Compile the Typst template with `data` into `out` (the plot, if any, in `workdir`)."""
    import shutil

    import typst

    shutil.copy2(TEMPLATES / "report.typ", workdir / "report.typ")
    (workdir / "report.json").write_text(json.dumps(data), encoding="utf-8")
    typst.compile(str(workdir / "report.typ"), output=str(out), root=str(workdir),
                  sys_inputs={"data": "report.json"})
    return out


def write(notebooks: dict[str, Path], out: Path, answers: Path | None = None,
          student: str = "") -> tuple[Path, Path]:
    """Write ``<out>.md`` and ``<out>.pdf``; returns their paths."""
    parsed = read_answers(answers)
    md_path, pdf_path = out.with_suffix(".md"), out.with_suffix(".pdf")
    with tempfile.TemporaryDirectory() as tmp:
        data = build(notebooks, parsed, student, Path(tmp))
        md_path.write_text(markdown(data), encoding="utf-8")
        pdf(data, pdf_path.resolve(), Path(tmp))
    return md_path, pdf_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="LabRNN.ipynb and LabLLM.ipynb (default: those in this folder)")
    parser.add_argument("--answers", type=Path,
                        help='your True/False answers: TOML, [tf."1.3"] answer = "True", '
                             'justification = "..."')
    parser.add_argument("--student", default="", help="your name, printed at the top")
    parser.add_argument("--out", type=Path, default=Path("report"),
                        help="output name without extension (default: report -> report.md, "
                             "report.pdf)")


def main_args(args: argparse.Namespace) -> int:
    known = {name.lower(): name for name, _, _ in LABS}
    paths = args.notebooks or [Path(n) for n in known.values() if Path(n).is_file()]
    given = {}
    for path in paths:
        if not path.is_file():
            print(f"{path}: no such file")
            return 2
        if path.name.lower() not in known:
            print(f"{path}: expected LabRNN.ipynb or LabLLM.ipynb")
            return 2
        given[known[path.name.lower()]] = path
    try:
        md_path, pdf_path = write(given, args.out, args.answers, args.student)
    except AnswersError as exc:
        print(f"answers: {exc}")
        return 2
    print(f"wrote {md_path} and {pdf_path}")
    return 0
