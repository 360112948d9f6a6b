"""The public checks: one function per public check id, probe data in, a `Result` out.

The one source of these checks' logic and messages: the grader's Homework 3 plug-in calls
these functions for the same check ids (the plug-in may import this package; this package
imports nothing of the grader). Which checks are public is declared in the plug-in's
``rubric.toml`` (``public = [...]`` per item); a kit test holds that list and ``PUBLIC``
below equal, so a hidden check's logic never ships to students.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple


class Result(NamedTuple):
    """Whether a check passed and a message saying what was expected and what was seen."""

    passed: bool
    message: str


def _result(passed: bool, message: str) -> Result:
    return Result(bool(passed), message)


# (a) load_imdb --------------------------------------------------------------------------

SPLIT_FRACTIONS = (0.7, 0.1, 0.2)


def split_sizes(data: Mapping, total: int) -> Result:
    """lab1a.sizes: train/valid/test sizes 7:1:2 of `total` rows (within one row each), as
    many labels as reviews. `data`: the ``split`` probe's output."""
    sizes = [len(x) for x in data["x"]]
    label_sizes = [len(y) for y in data["y"]]
    expected = [round(total * f) for f in SPLIT_FRACTIONS]
    size_ok = all(abs(s - e) <= 1 for s, e in zip(sizes, expected)) and sizes == label_sizes
    if size_ok:
        return _result(True, f"train/valid/test sizes {sizes} are 7:1:2 of {total} rows, "
                       "with as many labels as reviews")
    return _result(False,
                   f"expected train/valid/test sizes near {expected} (7:1:2 of {total} rows) "
                   f"with as many labels as reviews; saw reviews {sizes} and labels "
                   f"{label_sizes}")


# (b) build_vocab ------------------------------------------------------------------------


def vocab_stop_words(data: Mapping, stop_words: Sequence[Sequence[str]]) -> Result:
    """lab1b.stop_words: none of each case's stop words in its vocabulary."""
    seen = sorted({w for voc, stops in zip(data["vocabs"], stop_words) for w in stops
                   if w in voc})
    return _result(not seen, f"expected no stop words in the vocabulary; saw {seen[:5]}"
                   if seen else "stop words are left out")


def vocab_special(data: Mapping, pad: str, unk: str) -> Result:
    """lab1b.special: PAD -> 0 and UNK -> 1 in every vocabulary built."""
    special = [(voc.get(pad), voc.get(unk)) for voc in data["vocabs"]]
    bad = [s for s in special if s != (0, 1)]
    return _result(False, f"expected {pad!r} -> 0 and {unk!r} -> 1; saw {bad[0]}") if bad \
        else _result(True, f"{pad!r} -> 0 and {unk!r} -> 1")


# (c) tokenize ---------------------------------------------------------------------------


def tokenize_ids(data: Mapping, expected: Sequence[Sequence[int]],
                 cases: Sequence[int]) -> Result:
    """lab1c.ids: the ids of the probe sentences numbered `cases` (known words only)
    equal `expected` (indexed like the probe's texts)."""
    seen = data["ids"]
    bad = [i for i in cases if list(seen[i]) != list(expected[i])]
    return _result(not bad, f"expected ids {expected[bad[0]]} for a probe sentence; saw "
                   f"{seen[bad[0]]}" if bad else "ids agree with the vocabulary")


# (d) IMDB.__getitem__ -------------------------------------------------------------------


def items_error(data: Mapping) -> str | None:
    """Why no run of the ``dataset_items`` probe produced items (every (d) check fails with
    it), or None."""
    if any("items" in r for r in data["runs"].values()):
        return None
    errors = [r["error"] for r in data["runs"].values() if "error" in r]
    return f"IMDB(...)[i] raised {errors[0]}"


def _best(data: Mapping, predicate: Callable[[Mapping, int], bool]) -> bool:
    """Whether one run (string or 0/1 labels) satisfies `predicate` on every item."""
    runs = [r for r in data["runs"].values() if "items" in r]
    return any(all(predicate(it, i) for i, it in enumerate(r["items"])) for r in runs)


def _first_items(data: Mapping) -> list[Mapping]:
    return next(r["items"] for r in data["runs"].values() if "items" in r)


def items_keys(data: Mapping) -> Result:
    """lab1d.keys: every item holds ids, length and label."""
    def keys_ok(it: Mapping, i: int) -> bool:
        return {"ids", "length", "label"} <= set(it["keys"])

    if _best(data, keys_ok):
        return _result(True, "items hold the keys ids, length and label")
    bad = next(it for i, it in enumerate(_first_items(data)) if not keys_ok(it, i))
    return _result(False, f"expected keys ids, length, label; saw {bad['keys']}")


def items_length(data: Mapping) -> Result:
    """lab1d.length: length == len(ids) for every item."""
    def length_ok(it: Mapping, i: int) -> bool:
        return it["length"] == len(it["ids"])

    if _best(data, length_ok):
        return _result(True, "length equals the number of ids")
    bad = next(it for i, it in enumerate(_first_items(data)) if not length_ok(it, i))
    return _result(False, f"expected length == len(ids); saw length {bad['length']} for "
                   f"{len(bad['ids'])} ids")


# (e) LSTM -------------------------------------------------------------------------------


def init_embedding(data: Mapping, configs: Sequence[Mapping]) -> Result:
    """lab1e_init.embedding: an embedding vocab_size x embedding_dim with the padding index,
    for each configuration."""
    problems = []
    for model, cfg in zip(data["models"], configs):
        emb = [e for e in model["layers"]["embedding"]
               if (e["num"], e["dim"]) == (cfg["vocab_size"], cfg["embedding_dim"])]
        if not emb:
            problems.append(f"no embedding of {cfg['vocab_size']} x {cfg['embedding_dim']}")
        elif emb[0]["padding_idx"] != cfg["pad_index"]:
            problems.append(
                f"embedding padding_idx {emb[0]['padding_idx']}, expected {cfg['pad_index']}")
    return (_result(False, "expected the layer sizes to follow the arguments; "
                    + "; ".join(problems)) if problems
            else _result(True, "embedding as specified"))


def forward_shape(data: Mapping, batch: int, output_dim: int) -> Result:
    """lab1e_forward.shape: finite logits [batch, output_dim]."""
    if data["shape"] == [batch, output_dim] and data["finite"]:
        return _result(True, f"finite outputs of shape {data['shape']}")
    return _result(False, f"expected finite logits of shape [{batch}, {output_dim}]; saw "
                   f"{data['shape']}" + ("" if data["finite"] else " with values that are "
                                         "not finite"))


# Lab 2 ----------------------------------------------------------------------------------


def generated_text(data: Mapping) -> str:
    """The text `generate_text` returned, else printed, stripped."""
    return (data.get("returned") or data.get("printed") or "").strip()


def generation_prompt(data: Mapping, prompt: str) -> Result:
    """lab2a.prompt: the generated text begins with the prompt and goes on past it."""
    text = generated_text(data)
    starts = " ".join(text.split()).startswith(" ".join(prompt.split()))
    longer = len(text) > len(prompt.strip())
    if starts and longer:
        return _result(True, f"the text begins with the prompt and continues it: "
                       f"{text[:80]!r}")
    return _result(False,
                   "expected generated text that begins with the prompt and continues it; saw "
                   + (repr(text[:80]) if text else "no text returned or printed"))


def tokenize_function_error(data: Mapping) -> str | None:
    """Why the ``tokenize_function`` probe's output has no input ids (every (b) probe check
    fails with it), or None."""
    cols = data["columns"]
    ids = cols.get("input_ids")
    if isinstance(ids, list) and ids:
        return None
    return f"expected input_ids, attention_mask and labels; saw keys {sorted(cols)}"


def tokenize_function_labels(data: Mapping) -> Result:
    """lab2b.labels: labels equal to input_ids."""
    cols = data["columns"]
    if cols.get("labels") == cols["input_ids"]:
        return _result(True, "labels equal input_ids (the collator masks padding later)")
    return _result(False,
                   "expected labels equal to input_ids (the collator masks padding later); "
                   + ("labels missing" if "labels" not in cols else "they differ"))


def show(value: object) -> str:
    """A perplexity as printed in messages."""
    return f"{value:.4f}" if isinstance(value, float) else repr(value)


def perplexity_value(data: Mapping, reference: float) -> Result:
    """lab2c.value: the perplexity equals `reference` (same model and batches) to 1e-4."""
    import math

    seen = data.get("eval")
    good = isinstance(seen, float) and math.isclose(seen, reference, rel_tol=1e-4)
    if good:
        return _result(True, f"perplexity {show(seen)} equals the reference's {reference:.4f} "
                       "on the grader's model and batches")
    return _result(False,
                   f"expected perplexity {reference:.4f} on the grader's model and batches "
                   "(sum of token losses over the shifted labels, -100 ignored, divided by "
                   f"the attention mask's sum); saw {show(seen)}")


# The public check ids and their functions (what the rubric's ``public`` lists must equal).
PUBLIC: dict[str, Callable[..., Result]] = {
    "lab1a.sizes": split_sizes,
    "lab1b.stop_words": vocab_stop_words,
    "lab1b.special": vocab_special,
    "lab1c.ids": tokenize_ids,
    "lab1d.keys": items_keys,
    "lab1d.length": items_length,
    "lab1e_init.embedding": init_embedding,
    "lab1e_forward.shape": forward_shape,
    "lab2a.prompt": generation_prompt,
    "lab2b.labels": tokenize_function_labels,
    "lab2c.value": perplexity_value,
}
