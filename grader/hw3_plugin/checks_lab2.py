"""Lab 2 checks: pure comparisons of probe data and notebook facts with the contract.

Expected values (token counts, perplexities of saved models) are computed by the grader
itself and passed in; nothing here runs student code.

Hidden checks canary (hw3_solution.REFERENCE_CANARY): hw3-canary-7c1e5a90d24b4f3e
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from autograder.models import CheckResult
from hw3_student import checks as public

from .results import fail, result

# (a) generation -------------------------------------------------------------------------


def judge_generation(data: Mapping, prompt: str, max_length: int,
                     count_tokens: Callable[[str], int]) -> dict[str, CheckResult]:
    """Text that starts with the prompt, goes on past it, and respects max_length."""
    text = public.generated_text(data)
    v: dict[str, CheckResult] = {
        "lab2a.prompt": result("lab2a.prompt", *public.generation_prompt(data, prompt))}
    tokens = count_tokens(text) if text else 0
    v["lab2a.max_length"] = result("lab2a.max_length", 0 < tokens <= max_length + 1,
        f"expected at most max_length={max_length} tokens in the output; saw {tokens}"
    )
    return v


def judge_loading(facts: Mapping) -> dict[str, CheckResult]:
    """GPT-2 loaded from the hub name with the pad token set to the end-of-text token."""
    tokenizers = facts.get("tokenizers", [])
    pad_ok = any(t["pad"] is not None and t["pad"] == t["eos"] for t in tokenizers)
    loaded = [x for x in facts.get("loaded", []) if "gpt2" in x["source"].lower()]
    return {
        "lab2a.pad_token": result("lab2a.pad_token", pad_ok,
            "expected tokenizer.pad_token set to the eos token; saw "
            + (", ".join(f"pad={t['pad']!r}" for t in tokenizers) or "no tokenizer")
        ),
        "lab2a.load": result("lab2a.load", loaded,
            "expected GPT-2 loaded with from_pretrained('gpt2'); "
            + ("it was" if loaded else "no such load was seen")
        ),
    }


# (b) dataset preparation ----------------------------------------------------------------


def judge_tokenize_function(data: Mapping, reference_ids: Sequence[Sequence[int]],
                            pad_id: int) -> dict[str, CheckResult]:
    """labels == input_ids, rows padded to one fixed length, the long row truncated to it.

    `reference_ids` are the untruncated, unpadded token ids of the probe rows.
    """
    cols = data["columns"]
    error = public.tokenize_function_error(data)
    if error:
        return {c: fail(c, error) for c in ("lab2b.labels", "lab2b.padding", "lab2b.truncation")}
    ids = cols["input_ids"]
    v: dict[str, CheckResult] = {
        "lab2b.labels": result("lab2b.labels", *public.tokenize_function_labels(data))}
    lengths = {len(r) for r in ids}
    width = max(lengths)
    longest = max(len(r) for r in reference_ids)
    fits = [i for i, r in enumerate(reference_ids) if len(r) <= width]
    padded_ok = (len(lengths) == 1 and all(
        ids[i][: len(reference_ids[i])] == list(reference_ids[i])
        and all(t == pad_id for t in ids[i][len(reference_ids[i]):]) for i in fits)
        and "attention_mask" in cols)
    v["lab2b.padding"] = result("lab2b.padding", padded_ok,
        "expected every row padded (with the eos/pad token, after the text) to the same "
        f"maximum length, with an attention mask; saw row lengths {sorted(lengths)}"
    )
    truncated = longest > width and all(
        ids[i] == list(reference_ids[i])[:width] for i in range(len(ids)) if i not in fits)
    v["lab2b.truncation"] = result("lab2b.truncation", truncated and len(lengths) == 1,
        f"expected a row longer than the maximum length cut to it; a {longest}-token row "
        f"gave {len(ids[-1])} tokens"
    )
    return v


def judge_datasets(facts: Mapping, train_rows: int, valid_rows: int) -> dict[str, CheckResult]:
    """10% subsets, the text column gone, torch format, the collator masking padding."""
    sets = facts.get("datasets", [])
    tokenized = [d for d in sets if "input_ids" in d["columns"]]
    want = {"train": train_rows // 10, "validation": valid_rows // 10}
    found = {k: [d for d in tokenized if abs(d["rows"] - n) <= 1] for k, n in want.items()}
    v: dict[str, CheckResult] = {}
    v["lab2b.subsets"] = result("lab2b.subsets", all(found.values()),
        f"expected tokenized 10% subsets of {want['train']} train and {want['validation']} "
        f"validation rows; saw tokenized datasets of {sorted(d['rows'] for d in tokenized)} rows"
    )
    chosen = [d for ds in found.values() for d in ds]
    clean = bool(chosen) and all(
        "text" not in d["columns"] and d["format"] == "torch" and d.get("labels_equal_ids", False)
        for d in chosen)
    v["lab2b.columns"] = result("lab2b.columns", clean,
        "expected the mapped datasets without the text column, with labels, in torch format; "
        f"saw {[(d['columns'], d['format']) for d in chosen][:2]}"
    )
    masks = [c for c in facts.get("collators", []) if not c["mlm"]
             and all(lab == -100 for row_ids, row_labels in zip(c["input_ids"], c["labels"])
                     for tok, lab in zip(row_ids, row_labels) if tok == c["pad"])]
    v["lab2b.collator"] = result("lab2b.collator", masks,
        "expected DataCollatorForLanguageModeling(tokenizer, mlm=False), which sets padded "
        "label positions to -100; " + ("none found" if not facts.get("collators")
                                        else "the collator found does not")
    )
    return v


# (c) perplexity -------------------------------------------------------------------------


def judge_perplexity(data: Mapping, reference: float) -> dict[str, CheckResult]:
    """The student's perplexity equals the reference's on the same model and batches, and
    does not depend on the mode the model came in (the function switches to eval itself)."""
    seen, in_train = data.get("eval"), data.get("train")
    same = (isinstance(seen, float) and isinstance(in_train, float)
            and math.isclose(seen, in_train, rel_tol=1e-6))
    return {
        "lab2c.value": result("lab2c.value", *public.perplexity_value(data, reference)),
        "lab2c.eval_mode": result("lab2c.eval_mode", same,
            "expected the same perplexity for a model handed over in training mode (switch to "
            f"model.eval() and no_grad); saw {public.show(seen)} in eval mode, "
            f"{public.show(in_train)} "
            "in training mode"),
    }


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
                        ) -> dict[str, CheckResult]:
    """Per-epoch eval and logging, training ran, model saved and reloaded, perplexity lower.

    `perplexities` maps a trainer's index to the grader's perplexity of its saved model.
    """
    trainers = [(i, t) for i, t in enumerate(facts.get("trainers", [])) if not t["peft"]]
    names = ("lab2d.eval_epoch", "lab2d.log_epoch", "lab2d.trained", "lab2d.reloaded",
             "lab2d.perplexity")
    if not trainers:
        return {c: fail(c, f"expected a Trainer fine-tuning the full GPT-2; {NO_TRAINER}")
                for c in names}
    ran = [(i, t) for i, t in trainers if _ran(t)]
    i, t = (ran or trainers)[-1]
    v = {
        "lab2d.eval_epoch": result(
            "lab2d.eval_epoch", t["eval_strategy"] == "epoch" and t["has_eval_dataset"],
            f"expected evaluation every epoch on the validation set; saw eval_strategy="
            f"{t['eval_strategy']!r}"),
        "lab2d.log_epoch": result("lab2d.log_epoch", t["logging_strategy"] == "epoch",
            f"expected logging every epoch; saw logging_strategy={t['logging_strategy']!r}"),
    }
    losses = _train_losses(t)
    moved = _moved(perplexities.get(i), pretrained)
    v["lab2d.trained"] = result("lab2d.trained", ran and losses and moved,
        f"expected trainer.train() to run all {t['max_steps']} steps and log the loss; saw "
        f"{t['global_step']} steps, losses {[round(x, 3) for x in losses]}"
        + ("" if moved else ", and a saved model the grader measured as unchanged"))
    saved = set(facts.get("saved", []))
    reloads = [x for x in facts.get("loaded", [])
               if any(_same_dir(x["source"], s) for s in saved | {t["output_dir"]})]
    v["lab2d.reloaded"] = result("lab2d.reloaded", reloads,
        "expected the fine-tuned model saved and loaded back with from_pretrained(<its folder>)"
        f"; saved to {sorted(saved) or 'nowhere'}, loaded "
        f"{[x['source'] for x in facts.get('loaded', [])]}")
    v["lab2d.perplexity"] = _judge_lower("lab2d.perplexity", perplexities.get(i), pretrained,
                                         "full fine-tuning", band)
    return v


def judge_lora(facts: Mapping, perplexities: Mapping[int, float], pretrained: float,
               expected_trainable: int, lora: Mapping, band: Sequence[float] | None = None
               ) -> dict[str, CheckResult]:
    """A LoRA model with the given r/alpha/dropout, only adapters trainable, trained, better."""
    trainers = [(i, t) for i, t in enumerate(facts.get("trainers", [])) if t["peft"]]
    names = ("lab2e.config", "lab2e.trainable", "lab2e.trained", "lab2e.perplexity")
    if not trainers:
        return {c: fail(c, f"expected a Trainer fine-tuning a peft LoRA model; {NO_TRAINER}")
                for c in names}
    ran = [(i, t) for i, t in trainers if _ran(t)]
    i, t = (ran or trainers)[-1]
    seen = t["lora"]
    wanted = {k: seen.get(k) == val if not isinstance(val, float)
              else math.isclose(seen.get(k, math.nan), val) for k, val in lora.items()}
    v = {
        "lab2e.config": result("lab2e.config", all(wanted.values()),
            f"expected LoraConfig {dict(lora)}; saw { {k: seen.get(k) for k in lora} }"),
        "lab2e.trainable": result("lab2e.trainable", t["trainable_count"] == expected_trainable
                            and not t["trainable_non_lora"],
            f"expected only the adapter weights trainable ({expected_trainable} parameters); "
            f"saw {t['trainable_count']}"
            + (f", including {t['trainable_non_lora']}" if t["trainable_non_lora"] else "")),
        "lab2e.trained": result(
            "lab2e.trained", ran and _train_losses(t) and _moved(perplexities.get(i), pretrained),
            f"expected trainer.train() to run on the LoRA model; saw {t['global_step']} of "
            f"{t['max_steps']} steps"
            + ("" if _moved(perplexities.get(i), pretrained)
               else ", and a saved adapter the grader measured as unchanged")),
        "lab2e.perplexity": _judge_lower("lab2e.perplexity", perplexities.get(i), pretrained,
                                         "LoRA", band),
    }
    return v


def _judge_lower(check_id: str, value: float | None, pretrained: float, what: str,
                 band: Sequence[float] | None = None) -> CheckResult:
    """Lower than the pretrained model's; at full size also inside the real runs' band."""
    if value is None:
        return fail(check_id, f"expected a trained model to measure after {what}; none was "
                    "saved")
    good = value < pretrained and (band is None or band[0] <= value <= band[1])
    return result(check_id, good,
        f"expected the validation perplexity after {what} below the pretrained model's "
        f"{pretrained:.3f}" + (f" and within {band[0]}-{band[1]} as in real runs" if band
                               else "") + f" (measured by the grader); saw {value:.3f}")


def _same_dir(a: str, b: str) -> bool:
    def norm(p: str) -> str:
        return p.rstrip("/").removeprefix("./")

    return norm(a) == norm(b) or norm(a).endswith("/" + norm(b)) or norm(b).endswith("/" + norm(a))
