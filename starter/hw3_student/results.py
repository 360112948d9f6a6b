"""The results each question asks for, read from an executed notebook's saved outputs.

Tolerant of how students print: numbers are found by the words around them (``train loss``,
``valid_acc``, ``Perplexity after LoRA``...), case and punctuation aside; the Trainer's
per-epoch table is read from its HTML output or from printed log dictionaries. What is not
found stays ``None`` and the report marks the place for the student to fill in.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import nbformat

NUMBER = r"[-+]?\d[\d,]*\.?\d*(?:[eE][-+]?\d+)?"


def _float(text: str) -> float:
    return float(text.replace(",", ""))


def cell_outputs(cell: nbformat.NotebookNode) -> str:
    """A code cell's printed text: streams, text/plain results, error names."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append("".join(out.get("text", "")))
        elif "data" in out:
            data = out["data"]
            if "text/html" in data and "<table" in "".join(data["text/html"]):
                continue  # tables are read by `trainer_tables`
            parts.append("".join(data.get("text/plain", "")))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
    return "\n".join(p.rstrip("\n") for p in parts if p)


def all_text(nb: nbformat.NotebookNode) -> str:
    """Everything the notebook's code cells printed, in order."""
    return "\n".join(t for c in nb.cells if c.get("cell_type") == "code"
                     and (t := cell_outputs(c)))


def html_tables(nb: nbformat.NotebookNode) -> list[list[list[str]]]:
    """Every HTML table in the outputs (as the Trainer's notebook progress shows), as rows of
    cell texts, header row first."""
    tables = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            markup = "".join(out.get("data", {}).get("text/html", ""))
            for table in re.findall(r"<table.*?</table>", markup, flags=re.S | re.I):
                rows = []
                for row in re.findall(r"<tr.*?</tr>", table, flags=re.S | re.I):
                    cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S | re.I)
                    rows.append([html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
                                 for c in cells])
                if rows:
                    tables.append(rows)
    return tables


# Lab 1 ----------------------------------------------------------------------------------


@dataclass
class Lab1Results:
    """Lab 1's numbers as the notebook printed them (None: not found)."""

    split_sizes: dict[str, int] = field(default_factory=dict)  # train/valid/test -> rows
    vocab_size: int | None = None
    parameters: int | None = None  # the model's trainable parameters, as printed
    epochs: list[dict[str, float]] = field(default_factory=list)  # epoch, train_loss, ...
    best_epoch: int | None = None
    best_epoch_source: str = ""  # "printed" or "lowest validation loss in the table"
    test_accuracy: float | None = None
    test_loss: float | None = None
    prediction: str | None = None


_METRIC = re.compile(r"(train|valid|val|validation)[\s_]*(loss|acc|accuracy)\w*[\s:=|]*("
                     + NUMBER + ")", re.I)


def epoch_table(text: str) -> list[dict[str, float]]:
    """One row per printed line that names an epoch and at least one train/valid metric."""
    rows: dict[int, dict[str, float]] = {}
    for line in text.splitlines():
        match = re.search(r"epoch\W*(\d+)", line, re.I)
        metrics = _METRIC.findall(line)
        if not match or not metrics:
            continue
        row = rows.setdefault(int(match.group(1)), {"epoch": int(match.group(1))})
        for part, kind, value in metrics:
            part = "train" if part.lower() == "train" else "valid"
            kind = "loss" if kind.lower() == "loss" else "acc"
            row[f"{part}_{kind}"] = _float(value)
    return [rows[e] for e in sorted(rows)]


def lab1_results(nb: nbformat.NotebookNode) -> Lab1Results:
    text = all_text(nb)
    r = Lab1Results()
    for line in text.splitlines():
        part = re.search(r"\b(train|valid|val|validation|test)\w*", line, re.I)
        size = re.search(r"\((\d+),?\s*\d*\)", line)
        if part and size and re.search(r"shape|size|len", line, re.I):
            key = {"val": "valid", "validation": "valid"}.get(part.group(1).lower(),
                                                             part.group(1).lower())
            r.split_sizes.setdefault(key, int(size.group(1)))
    vocab = re.search(r"vocab\w*[^\n\d]{0,40}?(\d[\d,]*)", text, re.I)
    r.vocab_size = int(vocab.group(1).replace(",", "")) if vocab else None
    params = re.search(r"(\d[\d,]*)\s+trainable\s+param", text, re.I)
    r.parameters = int(params.group(1).replace(",", "")) if params else None
    r.epochs = epoch_table(text)
    best = re.search(r"best[\s_]*epoch\W*(\d+)", text, re.I)
    if best:
        r.best_epoch, r.best_epoch_source = int(best.group(1)), "printed"
    elif any("valid_loss" in row for row in r.epochs):
        row = min((x for x in r.epochs if "valid_loss" in x), key=lambda x: x["valid_loss"])
        r.best_epoch, r.best_epoch_source = row["epoch"], "lowest validation loss in the table"
    acc = re.findall(r"test[\s_]*acc\w*['\"]?[\s:=]*(" + NUMBER + ")", text, re.I)
    r.test_accuracy = _float(acc[-1]) if acc else None
    loss = re.findall(r"test[\s_]*loss['\"]?[\s:=]*(" + NUMBER + ")", text, re.I)
    r.test_loss = _float(loss[-1]) if loss else None
    lines = [ln.strip() for ln in text.splitlines()
             if re.search(r"predict|probab|sentiment", ln, re.I)]
    r.prediction = "\n".join(lines[-3:]) if lines else None
    return r


# Lab 2 ----------------------------------------------------------------------------------


@dataclass
class FineTune:
    """One fine-tuning run's numbers (None: not found)."""

    perplexity: float | None = None
    seconds: float | None = None
    trainable: int | None = None
    train_loss: list[float] = field(default_factory=list)  # per epoch
    valid_loss: list[float] = field(default_factory=list)
    text: str | None = None  # generated after fine-tuning


@dataclass
class Lab2Results:
    pretrained_text: str | None = None
    initial_perplexity: float | None = None
    full: FineTune = field(default_factory=FineTune)
    lora: FineTune = field(default_factory=FineTune)


# Lines that end a generated text: logs and prints of the surrounding code.
_NOT_GENERATED = re.compile(r"^(Perplexity|Using |Found |Map|DatasetDict|Dataset\(|\{'|\[|"
                            r"trainable params|epoch|Generating|Downloading|Some weights|"
                            r"Setting `pad_token_id`)", re.I)


def generated_texts(nb: nbformat.NotebookNode, prompt_start: str = "GPT-2 is a language"
                    ) -> list[str]:
    """The generated texts in print order: each starts with the prompt's first words and
    runs to a blank line, a log line or the end of its cell's output."""
    found = []
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        text = cell_outputs(cell)
        for match in re.finditer(re.escape(prompt_start), text):
            kept = []
            for line in text[match.start():].splitlines():
                if kept and (not line.strip() or _NOT_GENERATED.match(line.strip())):
                    break
                kept.append(line.rstrip())
            found.append("\n".join(kept)[:1000])
    return found


def _trainer_losses(table: list[list[str]]) -> tuple[list[float], list[float]] | None:
    header = [h.lower() for h in table[0]]
    if "epoch" not in header or not any("loss" in h for h in header):
        return None
    train_col = next((i for i, h in enumerate(header) if "train" in h and "loss" in h), None)
    valid_col = next((i for i, h in enumerate(header)
                      if ("valid" in h or "eval" in h) and "loss" in h), None)

    def column(i: int | None) -> list[float]:
        values = []
        for row in table[1:]:
            try:
                values.append(_float(row[i]))
            except (TypeError, ValueError, IndexError):
                pass
        return values

    return column(train_col), column(valid_col)


def _logged_losses(text: str) -> list[tuple[list[float], list[float]]]:
    """Per-run (train, valid) loss lists from printed Trainer log dictionaries; a new run
    starts where the epoch number goes back."""
    runs: list[tuple[list[float], list[float]]] = []
    last_epoch = None
    for match in re.finditer(r"\{[^{}]*'(eval_loss|loss)'[^{}]*\}", text):
        entry = match.group(0)
        epoch = re.search(r"'epoch':\s*(" + NUMBER + ")", entry)
        value = re.search(r"'" + match.group(1) + r"':\s*(" + NUMBER + ")", entry)
        if not epoch or not value:
            continue
        e = _float(epoch.group(1))
        if last_epoch is None or e < last_epoch:
            runs.append(([], []))
        last_epoch = e
        runs[-1][1 if match.group(1) == "eval_loss" else 0].append(_float(value.group(1)))
    return runs


def _comparison_rows(text: str) -> dict[str, list[str]]:
    """Rows of a printed full-vs-LoRA table (a row label, then one value per method)."""
    rows = {}
    for key in ("train seconds", "trainable parameters", "perplexity after",
                "train loss per epoch", "valid loss per epoch"):
        match = re.search(re.escape(key) + r"\s+(.+)", text, re.I)
        if match:
            rows[key] = re.findall(r"\[[^\]]*\]|" + NUMBER, match.group(1))
    return rows


def lab2_results(nb: nbformat.NotebookNode) -> Lab2Results:
    text = all_text(nb)
    r = Lab2Results()
    texts = generated_texts(nb)
    if texts:
        r.pretrained_text = texts[0]
    if len(texts) > 1:
        r.full.text = texts[1]
    if len(texts) > 2:
        r.lora.text = texts[2]
    for line in text.splitlines():  # one perplexity printed on its own line; first wins
        match = re.fullmatch(r"[^\d]*perplexity[^\d]*?(" + NUMBER + r")\s*", line, re.I)
        if not match:
            continue
        value, low = _float(match.group(1)), line.lower()
        if any(w in low for w in ("before", "initial", "pretrained", "base")):
            r.initial_perplexity = r.initial_perplexity or value
        elif "lora" in low:
            r.lora.perplexity = r.lora.perplexity or value
        elif any(w in low for w in ("full", "after", "fine-tun", "finetun")):
            r.full.perplexity = r.full.perplexity or value
        elif r.initial_perplexity is None:
            r.initial_perplexity = value
    runs = [x for t in html_tables(nb) if (x := _trainer_losses(t))] or _logged_losses(text)
    for run, losses in zip((r.full, r.lora), runs):
        run.train_loss, run.valid_loss = losses
    lora_params = re.search(r"trainable params:\s*([\d,]+)\s*\|\|\s*all params:\s*([\d,]+)",
                            text)
    if lora_params:
        r.lora.trainable = int(lora_params.group(1).replace(",", ""))
        r.full.trainable = (int(lora_params.group(2).replace(",", ""))
                            - r.lora.trainable)  # GPT-2's own weights: all of them train
    times = re.findall(r"'train_runtime':\s*(" + NUMBER + ")", text)
    for run, value in zip((r.full, r.lora), times):
        run.seconds = _float(value)
    rows = _comparison_rows(text)
    for i, run in enumerate((r.full, r.lora)):
        def cell(key: str, i: int = i) -> str | None:
            values = rows.get(key, [])
            return values[i] if len(values) > i else None

        if run.seconds is None and cell("train seconds"):
            run.seconds = _float(cell("train seconds"))
        if cell("trainable parameters"):
            run.trainable = int(_float(cell("trainable parameters")))
        if run.perplexity is None and cell("perplexity after"):
            run.perplexity = _float(cell("perplexity after"))
        for key, attr in (("train loss per epoch", "train_loss"),
                          ("valid loss per epoch", "valid_loss")):
            if not getattr(run, attr) and cell(key):
                setattr(run, attr, [_float(x) for x in re.findall(NUMBER, cell(key))])
    return r
