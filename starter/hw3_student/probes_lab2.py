"""Lab 2 probes: run INSIDE the sandbox, call the student's functions, return plain data.

Self-contained (standard library, torch, transformers): copied into the sandbox, never
imports the grader or the solution. The model and tokenizer are the offline "gpt2" that the
sandbox's Hugging Face home serves; the grader recomputes every expected value itself.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any


def _load(name: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name)
    tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(name)
    model.eval()
    return model, tokenizer


def _ns(student: Any) -> dict:
    """The student module's globals: the engine's namespace mapping, a dict, or a module."""
    return student if hasattr(student, "__getitem__") else vars(student)


def _plain(value: Any) -> Any:
    """Tensors, arrays and BatchEncodings as nested lists and dicts."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict) or hasattr(value, "keys"):
        return {str(k): _plain(value[k]) for k in value.keys()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def generate(student: Any, args: dict) -> dict:
    """(a) generate_text on the handout's prompt: what it returned and printed, and the
    token count of every sequence ``model.generate`` returned."""
    ns = _ns(student)
    model, tokenizer = _load(args["model"])
    ns.setdefault("tokenizer", tokenizer)
    ns.setdefault("model", model)
    lengths: list[int] = []
    original = model.generate

    def generate(*a: Any, **k: Any) -> Any:  # records what was generated, token by token
        out = original(*a, **k)
        sequences = getattr(out, "sequences", out)
        if hasattr(sequences, "shape") and len(sequences.shape) == 2:
            lengths.append(int(sequences.shape[-1]))
        return out

    model.generate = generate
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        returned = ns["generate_text"](model, tokenizer, args["prompt"], args["max_length"])
    return {
        "returned": returned if isinstance(returned, str) else None,
        "printed": buffer.getvalue()[-20000:],
        "generated_lengths": lengths,
    }


def tokenize_function(student: Any, args: dict) -> dict:
    """(b) tokenize_function on probe rows, with the handout's global tokenizer in place."""
    ns = _ns(student)
    _, tokenizer = _load(args["model"])
    ns["tokenizer"] = tokenizer
    out = ns["tokenize_function"]({"text": list(args["texts"])})
    return {"columns": _plain(out)}


def perplexity(student: Any, args: dict) -> dict:
    """(c) evaluate_perplexity on fixed batches, with the model in eval and in train mode."""
    ns = _ns(student)
    import torch
    from torch.utils.data import DataLoader

    model, _ = _load(args["model"])
    batches = [{k: torch.tensor(v) for k, v in b.items()} for b in args["batches"]]
    loader = DataLoader(batches, batch_size=None)
    values = {}
    for mode in ("eval", "train"):
        torch.manual_seed(0)
        model.train(mode == "train")
        value = ns["evaluate_perplexity"](model, loader)
        values[mode] = float(value.item() if hasattr(value, "item") else value)
    return values
