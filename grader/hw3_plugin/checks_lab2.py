"""Lab 2 checks: pure comparisons of probe data and notebook facts with the contract.

Expected values (token counts, perplexities of saved models) are computed by the grader
itself and passed in; nothing here runs student code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from .verdict import Verdict, fail, ok

# (a) generation -------------------------------------------------------------------------


def judge_generation(data: Mapping, prompt: str, max_length: int,
                     count_tokens: Callable[[str], int]) -> dict[str, Verdict]:
    """Text that starts with the prompt, goes on past it, and respects max_length."""
    text = data.get("returned") or data.get("printed") or ""
    text = text.strip()
    v: dict[str, Verdict] = {}
    starts = " ".join(text.split()).startswith(" ".join(prompt.split()))
    longer = len(text) > len(prompt.strip())
    v["lab2a.prompt"] = (ok if starts and longer else fail)(
        "expected generated text that begins with the prompt and continues it; saw "
        + (repr(text[:80]) if text else "no text returned or printed")
    )
    tokens = count_tokens(text) if text else 0
    v["lab2a.max_length"] = (ok if 0 < tokens <= max_length + 1 else fail)(
        f"expected at most max_length={max_length} tokens in the output; saw {tokens}"
    )
    return v


def judge_loading(facts: Mapping) -> dict[str, Verdict]:
    """GPT-2 loaded from the hub name with the pad token set to the end-of-text token, on
    the first tokenizer the notebook loaded: (a)'s, also when (b) loads another one under
    the same name (the Spring 2025 handout does); the global ones when none was seen."""
    tokenizers = facts.get("loaded_tokenizers", [])[:1] or facts.get("tokenizers", [])
    pad_ok = any(t["pad"] is not None and t["pad"] == t["eos"] for t in tokenizers)
    loaded = [x for x in facts.get("loaded", []) if "gpt2" in x["source"].lower()]
    return {
        "lab2a.pad_token": (ok if pad_ok else fail)(
            "expected tokenizer.pad_token set to the eos token; saw "
            + (", ".join(f"pad={t['pad']!r}" for t in tokenizers) or "no tokenizer")
        ),
        "lab2a.load": (ok if loaded else fail)(
            "expected GPT-2 loaded with from_pretrained('gpt2'); "
            + ("it was" if loaded else "no such load was seen")
        ),
    }


# (b) dataset preparation ----------------------------------------------------------------


def judge_tokenize_function(data: Mapping, reference_ids: Sequence[Sequence[int]],
                            pad_id: int) -> dict[str, Verdict]:
    """labels == input_ids, rows padded to one fixed length, the long row truncated to it.

    `reference_ids` are the untruncated, unpadded token ids of the probe rows.
    """
    cols = data["columns"]
    ids = cols.get("input_ids")
    v: dict[str, Verdict] = {}
    if not isinstance(ids, list) or not ids:
        msg = f"expected input_ids, attention_mask and labels; saw keys {sorted(cols)}"
        return {c: fail(msg) for c in ("lab2b.labels", "lab2b.padding", "lab2b.truncation")}
    v["lab2b.labels"] = (ok if cols.get("labels") == ids else fail)(
        "expected labels equal to input_ids (the collator masks padding later); "
        + ("labels missing" if "labels" not in cols else "they differ")
    )
    lengths = {len(r) for r in ids}
    width = max(lengths)
    longest = max(len(r) for r in reference_ids)
    fits = [i for i, r in enumerate(reference_ids) if len(r) <= width]
    padded_ok = (len(lengths) == 1 and all(
        ids[i][: len(reference_ids[i])] == list(reference_ids[i])
        and all(t == pad_id for t in ids[i][len(reference_ids[i]):]) for i in fits)
        and "attention_mask" in cols)
    v["lab2b.padding"] = (ok if padded_ok else fail)(
        "expected every row padded (with the eos/pad token, after the text) to the same "
        f"maximum length, with an attention mask; saw row lengths {sorted(lengths)}"
    )
    truncated = longest > width and all(
        ids[i] == list(reference_ids[i])[:width] for i in range(len(ids)) if i not in fits)
    v["lab2b.truncation"] = (ok if truncated and len(lengths) == 1 else fail)(
        f"expected a row longer than the maximum length cut to it; a {longest}-token row "
        f"gave {len(ids[-1])} tokens"
    )
    return v


def judge_datasets(facts: Mapping, train_rows: int, valid_rows: int) -> dict[str, Verdict]:
    """10% subsets, the text column gone, torch format, the collator masking padding."""
    sets = facts.get("datasets", [])
    tokenized = [d for d in sets if "input_ids" in d["columns"]]
    want = {"train": train_rows // 10, "validation": valid_rows // 10}
    found = {k: [d for d in tokenized if abs(d["rows"] - n) <= 1] for k, n in want.items()}
    v: dict[str, Verdict] = {}
    v["lab2b.subsets"] = (ok if all(found.values()) else fail)(
        f"expected tokenized 10% subsets of {want['train']} train and {want['validation']} "
        f"validation rows; saw tokenized datasets of {sorted(d['rows'] for d in tokenized)} rows"
    )
    chosen = [d for ds in found.values() for d in ds]
    clean = bool(chosen) and all(
        "text" not in d["columns"] and d["format"] == "torch" and d.get("labels_equal_ids", False)
        for d in chosen)
    v["lab2b.columns"] = (ok if clean else fail)(
        "expected the mapped datasets without the text column, with labels, in torch format; "
        f"saw {[(d['columns'], d['format']) for d in chosen][:2]}"
    )
    masks = [c for c in facts.get("collators", []) if not c["mlm"]
             and all(lab == -100 for row_ids, row_labels in zip(c["input_ids"], c["labels"])
                     for tok, lab in zip(row_ids, row_labels) if tok == c["pad"])]
    v["lab2b.collator"] = (ok if masks else fail)(
        "expected DataCollatorForLanguageModeling(tokenizer, mlm=False), which sets padded "
        "label positions to -100; " + ("none found" if not facts.get("collators")
                                        else "the collator found does not")
    )
    return v


# (c) perplexity -------------------------------------------------------------------------


def judge_perplexity(data: Mapping, reference: float) -> dict[str, Verdict]:
    """The student's perplexity equals the reference's on the same model and batches, and
    does not depend on the mode the model came in (the function switches to eval itself)."""
    seen, in_train = data.get("eval"), data.get("train")
    good = isinstance(seen, float) and math.isclose(seen, reference, rel_tol=1e-4)
    same = (isinstance(seen, float) and isinstance(in_train, float)
            and math.isclose(seen, in_train, rel_tol=1e-6))
    return {
        "lab2c.value": (ok if good else fail)(
            f"expected perplexity {reference:.4f} on the grader's model and batches (sum of "
            "token losses over the shifted labels, -100 ignored, divided by the attention "
            f"mask's sum); saw {_show(seen)}"),
        "lab2c.eval_mode": (ok if same else fail)(
            "expected the same perplexity for a model handed over in training mode (switch to "
            f"model.eval() and no_grad); saw {_show(seen)} in eval mode, {_show(in_train)} "
            "in training mode"),
    }


def _show(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else repr(value)


# (d) and (e) fine-tuning ----------------------------------------------------------------


def _train_losses(trainer: Mapping) -> list[float]:
    return [e["loss"] for e in trainer["log_history"] if isinstance(e.get("loss"), float)]


def _ran(trainer: Mapping) -> bool:
    return trainer["global_step"] > 0 and trainer["global_step"] >= trainer["max_steps"] > 0


def _moved(measured: float | None, pretrained: float) -> bool:
    """The grader's own measurement of the saved model differs from the pretrained one's
    (the kernel's word that it trained is not enough)."""
    return measured is not None and not math.isclose(measured, pretrained, rel_tol=1e-9)


NO_TRAINER = ("none was created, or its model was not saved where the grader could measure "
              "it")


def judge_full_finetune(facts: Mapping, perplexities: Mapping[int, float],
                        pretrained: float, band: Sequence[float] | None = None
                        ) -> dict[str, Verdict]:
    """Per-epoch eval and logging, training ran, model saved and reloaded, perplexity lower.

    `perplexities` maps a trainer's index to the grader's perplexity of its saved model.
    """
    trainers = [(i, t) for i, t in enumerate(facts.get("trainers", [])) if not t["peft"]]
    names = ("lab2d.eval_epoch", "lab2d.log_epoch", "lab2d.trained", "lab2d.reloaded",
             "lab2d.perplexity")
    if not trainers:
        return {c: fail(f"expected a Trainer fine-tuning the full GPT-2; {NO_TRAINER}")
                for c in names}
    ran = [(i, t) for i, t in trainers if _ran(t)]
    i, t = (ran or trainers)[-1]
    v = {
        "lab2d.eval_epoch": (ok if t["eval_strategy"] == "epoch" and t["has_eval_dataset"]
                             else fail)(
            f"expected evaluation every epoch on the validation set; saw eval_strategy="
            f"{t['eval_strategy']!r}"),
        "lab2d.log_epoch": (ok if t["logging_strategy"] == "epoch" else fail)(
            f"expected logging every epoch; saw logging_strategy={t['logging_strategy']!r}"),
    }
    losses = _train_losses(t)
    moved = _moved(perplexities.get(i), pretrained)
    v["lab2d.trained"] = (ok if ran and losses and moved else fail)(
        f"expected trainer.train() to run all {t['max_steps']} steps and log the loss; saw "
        f"{t['global_step']} steps, losses {[round(x, 3) for x in losses]}"
        + ("" if moved else ", and a saved model the grader measured as unchanged"))
    saved = set(facts.get("saved", []))
    reloads = [x for x in facts.get("loaded", [])
               if any(_same_dir(x["source"], s) for s in saved | {t["output_dir"]})]
    v["lab2d.reloaded"] = (ok if reloads else fail)(
        "expected the fine-tuned model saved and loaded back with from_pretrained(<its folder>)"
        f"; saved to {sorted(saved) or 'nowhere'}, loaded "
        f"{[x['source'] for x in facts.get('loaded', [])]}")
    v["lab2d.perplexity"] = _judge_lower(perplexities.get(i), pretrained, "full fine-tuning",
                                         band)
    return v


def judge_lora(facts: Mapping, perplexities: Mapping[int, float], pretrained: float,
               expected_trainable: int, lora: Mapping, band: Sequence[float] | None = None
               ) -> dict[str, Verdict]:
    """A LoRA model with the given r/alpha/dropout, only adapters trainable, trained, better."""
    trainers = [(i, t) for i, t in enumerate(facts.get("trainers", [])) if t["peft"]]
    names = ("lab2e.config", "lab2e.trainable", "lab2e.trained", "lab2e.perplexity")
    if not trainers:
        return {c: fail(f"expected a Trainer fine-tuning a peft LoRA model; {NO_TRAINER}")
                for c in names}
    ran = [(i, t) for i, t in trainers if _ran(t)]
    i, t = (ran or trainers)[-1]
    seen = t["lora"]
    wanted = {k: seen.get(k) == val if not isinstance(val, float)
              else math.isclose(seen.get(k, math.nan), val) for k, val in lora.items()}
    v = {
        "lab2e.config": (ok if all(wanted.values()) else fail)(
            f"expected LoraConfig {dict(lora)}; saw { {k: seen.get(k) for k in lora} }"),
        "lab2e.trainable": (ok if t["trainable_count"] == expected_trainable
                            and not t["trainable_non_lora"] else fail)(
            f"expected only the adapter weights trainable ({expected_trainable} parameters); "
            f"saw {t['trainable_count']}"
            + (f", including {t['trainable_non_lora']}" if t["trainable_non_lora"] else "")),
        "lab2e.trained": (ok if ran and _train_losses(t) and _moved(perplexities.get(i),
                                                                     pretrained) else fail)(
            f"expected trainer.train() to run on the LoRA model; saw {t['global_step']} of "
            f"{t['max_steps']} steps"
            + ("" if _moved(perplexities.get(i), pretrained)
               else ", and a saved adapter the grader measured as unchanged")),
        "lab2e.perplexity": _judge_lower(perplexities.get(i), pretrained, "LoRA", band),
    }
    return v


def _judge_lower(value: float | None, pretrained: float, what: str,
                 band: Sequence[float] | None = None) -> Verdict:
    """Lower than the pretrained model's; at full size also inside the real runs' band."""
    if value is None:
        return fail(f"expected a trained model to measure after {what}; none was saved")
    good = value < pretrained and (band is None or band[0] <= value <= band[1])
    return (ok if good else fail)(
        f"expected the validation perplexity after {what} below the pretrained model's "
        f"{pretrained:.3f}" + (f" and within {band[0]}-{band[1]} as in real runs" if band
                               else "") + f" (measured by the grader); saw {value:.3f}")


def _same_dir(a: str, b: str) -> bool:
    def norm(p: str) -> str:
        return p.rstrip("/").removeprefix("./")

    return norm(a) == norm(b) or norm(a).endswith("/" + norm(b)) or norm(b).endswith("/" + norm(a))
