"""Lab 2 checks: pure comparisons of probe data and notebook facts with the contract.

Expected values (token counts, perplexities of saved models) are computed by the grader
itself and passed in; nothing here runs student code.

Hidden checks canary (hw3_solution.REFERENCE_CANARY): hw3-canary-7c1e5a90d24b4f3e
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from autograder.models import CheckResult
from hw3_solution.fast.trainer_recipe import REASONS
from hw3_student import checks as public

from .results import failed as fail
from .results import keyed, result
from .results import passed as ok

# The hub names of the pretrained GPT-2 small: `lab2a.load` wants exactly one of them (not
# distilgpt2, gpt2-medium, or a fine-tuned folder whose path contains "gpt2").
GPT2_NAMES = frozenset({"gpt2", "openai-community/gpt2"})

# (a) generation -------------------------------------------------------------------------


@keyed
def judge_generation(data: Mapping, prompt: str, max_length: int,
                     count_tokens: Callable[[str], int]) -> dict[str, CheckResult]:
    """Text that starts with the prompt, goes on past it, and respects max_length.

    The length is the token count of the sequences ``model.generate`` returned (the probe
    records them); only when generate was never called (a hand-written loop) is the text
    tokenized again, which may differ by a token from what was generated.
    """
    text = public.generated_text(data)
    v: dict[str, CheckResult] = {
        "lab2a.prompt": result("lab2a.prompt", *public.generation_prompt(data, prompt))}
    generated = data.get("generated_lengths") or []
    if generated:
        tokens, how, slack = max(generated), "generated", 0
    else:
        tokens, how, slack = (count_tokens(text) if text else 0), "in the text, re-tokenized", 1
    if 0 < tokens <= max_length + slack:
        v["lab2a.max_length"] = ok(f"{tokens} tokens {how}, within max_length={max_length}")
    else:
        v["lab2a.max_length"] = fail(
            f"expected at most max_length={max_length} tokens, prompt included; saw {tokens} "
            f"tokens {how}")
    return v


@keyed
def judge_loading(facts: Mapping) -> dict[str, CheckResult]:
    """GPT-2 loaded from the hub name with the pad token set to the end-of-text token, on
    the first tokenizer the notebook loaded: (a)'s, also when (b) loads another one under
    the same name (the Spring 2025 handout does); the global ones when none was seen."""
    tokenizers = facts.get("loaded_tokenizers", [])[:1] or facts.get("tokenizers", [])
    pad_ok = any(t["pad"] is not None and t["pad"] == t["eos"] for t in tokenizers)
    sources = [x["source"] for x in facts.get("loaded", [])]
    loaded = [x for x in sources if x.strip().rstrip("/") in GPT2_NAMES]
    return {
        "lab2a.pad_token": ok("tokenizer.pad_token is the eos token") if pad_ok else fail(
            "expected tokenizer.pad_token set to the eos token; saw "
            + (", ".join(f"pad={t['pad']!r}" for t in tokenizers) or "no tokenizer")),
        "lab2a.load": ok(f"GPT-2 was loaded with from_pretrained({loaded[0]!r})") if loaded
        else fail("expected GPT-2 loaded with from_pretrained('gpt2'); no such load was seen"
                  + (f" (loaded: {sorted(set(sources))[:4]})" if sources else "")),
    }


# (b) dataset preparation ----------------------------------------------------------------


@keyed
def judge_tokenize_function(data: Mapping, reference_ids: Sequence[Sequence[int]],
                            pad_id: int) -> dict[str, CheckResult]:
    """labels == input_ids, rows padded to one fixed length, the long row truncated to it.

    `reference_ids` are the untruncated, unpadded token ids of the probe rows.
    """
    cols = data["columns"]
    error = public.tokenize_function_error(data)
    if error:
        return {c: fail(error) for c in ("lab2b.labels", "lab2b.padding", "lab2b.truncation")}
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
    v["lab2b.padding"] = ok(
        f"every row is padded after its text to {width} tokens, with an attention mask"
    ) if padded_ok else fail(
        "expected every row padded (with the eos/pad token, after the text) to the same "
        f"maximum length, with an attention mask; saw row lengths {sorted(lengths)}"
        + ("" if "attention_mask" in cols else " and no attention_mask"))
    truncated = longest > width and all(
        ids[i] == list(reference_ids[i])[:width] for i in range(len(ids)) if i not in fits)
    v["lab2b.truncation"] = ok(
        f"a {longest}-token row is cut to the maximum length, {width} tokens"
    ) if truncated and len(lengths) == 1 else fail(
        f"expected a row longer than the maximum length cut to it; a {longest}-token row "
        f"gave {len(ids[-1])} tokens")
    return v


@keyed
def judge_datasets(facts: Mapping, train_rows: int, valid_rows: int) -> dict[str, CheckResult]:
    """10% subsets, the text column gone, torch format, the collator masking padding
    (``facts["collators"]``: the batches the measurement job measured)."""
    sets = facts.get("datasets", [])
    tokenized = [d for d in sets if "input_ids" in d["columns"]]
    want = {"train": train_rows // 10, "validation": valid_rows // 10}
    found = {k: [d for d in tokenized if abs(d["rows"] - n) <= 1] for k, n in want.items()}
    v: dict[str, CheckResult] = {}
    seen_rows = sorted(d["rows"] for d in tokenized)
    v["lab2b.subsets"] = ok(
        f"tokenized 10% subsets of {want['train']} train and {want['validation']} validation "
        "rows") if all(found.values()) else fail(
        f"expected tokenized 10% subsets of {want['train']} train and {want['validation']} "
        f"validation rows; saw tokenized datasets of {seen_rows or 'no'} rows")
    chosen = [d for ds in found.values() for d in ds]
    clean = bool(chosen) and all(
        "text" not in d["columns"] and d["format"] == "torch" and d.get("labels_equal_ids", False)
        for d in chosen)
    shown = [(d["columns"], d["format"]) for d in chosen][:2]
    v["lab2b.columns"] = ok(
        f"the mapped datasets drop the text column, keep labels, in torch format: {shown}"
    ) if clean else fail(
        "expected the mapped datasets without the text column, with labels, in torch format; "
        f"saw {shown}")
    batches = facts.get("collators", [])
    masks = [c for c in batches if c["rows_match"] and c["labels_masked"]
             and c["pad_positions"] > 0]
    if masks:
        v["lab2b.collator"] = ok(
            "a DataCollatorForLanguageModeling(tokenizer, mlm=False) set the padded label "
            "positions of a tokenized WikiText dataset's first rows to -100 and kept the "
            "others (measured on the batch it made)")
    else:
        if not batches:
            seen = ("no batch of a collator on a tokenized WikiText dataset was measured "
                    "(none found, or it could not collate the datasets' first rows)")
        elif not any(c["rows_match"] for c in batches):
            seen = ("the collated batches do not hold the datasets' first rows as they are (an "
                    "mlm=True collator replaces tokens)")
        elif not any(c["rows_match"] and c["labels_masked"] for c in batches):
            seen = ("the collated labels are not the input ids with the padded positions set "
                    "to -100")
        else:
            seen = "the collated rows hold no padding, so no masking was seen"
        v["lab2b.collator"] = fail(
            "expected DataCollatorForLanguageModeling(tokenizer, mlm=False), which sets "
            f"padded label positions to -100; {seen}")
    return v


# (c) perplexity -------------------------------------------------------------------------


@keyed
def judge_perplexity(data: Mapping, reference: float) -> dict[str, CheckResult]:
    """The student's perplexity equals the reference's on the same model and batches, and
    does not depend on the mode the model came in (the function switches to eval itself)."""
    seen, in_train = data.get("eval"), data.get("train")
    same = (isinstance(seen, float) and isinstance(in_train, float)
            and math.isclose(seen, in_train, rel_tol=1e-6))
    return {
        "lab2c.value": result("lab2c.value", *public.perplexity_value(data, reference)),
        "lab2c.eval_mode": ok(
            f"the same perplexity ({public.show(seen)}) for a model handed over in training mode"
        ) if same else fail(
            "expected the same perplexity for a model handed over in training mode (switch to "
            f"model.eval() and no_grad); saw {public.show(seen)} in eval mode, "
            f"{public.show(in_train)} "
            "in training mode"),
    }


# (d) and (e) fine-tuning ----------------------------------------------------------------


def _ran(trainer: Mapping) -> bool:
    return trainer["global_step"] > 0 and trainer["global_step"] >= trainer["max_steps"] > 0


def _moved(measured: float | None, pretrained: float) -> bool:
    """The grader's own measurement of the saved model differs from the pretrained one's
    (the kernel's word that it trained is not enough)."""
    return measured is not None and not math.isclose(measured, pretrained, rel_tol=1e-9)


NO_TRAINER = ("none was created, or its model was not saved where the grader could measure "
              "it")


@keyed
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
        return {c: fail(f"expected a Trainer fine-tuning the full GPT-2; {NO_TRAINER}")
                for c in names}
    ran = [(i, t) for i, t in trainers if _ran(t)]
    i, t = (ran or trainers)[-1]
    v = {"lab2d.eval_epoch": _judge_eval_epoch(t), "lab2d.log_epoch": _judge_log_epoch(t),
         "lab2d.trained": _judge_trained(t, bool(ran), perplexities.get(i), pretrained,
                                         "the full model")}
    saved = set(facts.get("saved", []))
    reloads = [x for x in facts.get("loaded", [])
               if any(_same_dir(x["source"], s) for s in saved | {t["output_dir"]})]
    v["lab2d.reloaded"] = ok(
        f"the fine-tuned model was saved and loaded back from {reloads[0]['source']!r}"
    ) if reloads else fail(
        "expected the fine-tuned model saved and loaded back with from_pretrained(<its folder>)"
        f"; saved to {sorted(saved) or 'nowhere'}, loaded "
        f"{[x['source'] for x in facts.get('loaded', [])]}")
    v["lab2d.perplexity"] = _judge_lower(perplexities.get(i), pretrained, "full fine-tuning",
                                         band)
    return v


@keyed
def judge_lora(facts: Mapping, perplexities: Mapping[int, float], pretrained: float,
               expected_trainable: int, lora: Mapping, band: Sequence[float] | None = None,
               on_full: Mapping[int, tuple[float, float]] | None = None
               ) -> dict[str, CheckResult]:
    """A LoRA model with the given r/alpha/dropout, only adapters trainable, trained, better,
    and trained on the pretrained GPT-2.

    `on_full` maps a LoRA trainer's index to (perplexity of the full fine-tuned model,
    perplexity of the adapter put on that model), both measured by the grader.
    """
    trainers = [(i, t) for i, t in enumerate(facts.get("trainers", [])) if t["peft"]]
    names = ("lab2e.config", "lab2e.trainable", "lab2e.trained", "lab2e.perplexity",
             "lab2e.base")
    if not trainers:
        return {c: fail(f"expected a Trainer fine-tuning a peft LoRA model; {NO_TRAINER}")
                for c in names}
    ran = [(i, t) for i, t in trainers if _ran(t)]
    i, t = (ran or trainers)[-1]
    seen = t["lora"]
    wanted = {k: seen.get(k) == val if not isinstance(val, float)
              else math.isclose(seen.get(k, math.nan), val) for k, val in lora.items()}
    v = {
        "lab2e.config": ok(f"LoraConfig {dict(lora)}") if all(wanted.values()) else fail(
            f"expected LoraConfig {dict(lora)}; saw { {k: seen.get(k) for k in lora} }"),
        "lab2e.trainable": ok(
            f"only the adapter weights are trainable ({expected_trainable} parameters)"
        ) if t["trainable_count"] == expected_trainable and not t["trainable_non_lora"]
        else fail(
            f"expected only the adapter weights trainable ({expected_trainable} parameters); "
            f"saw {t['trainable_count']}"
            + (f", including {t['trainable_non_lora']}" if t["trainable_non_lora"] else "")),
        "lab2e.trained": _judge_trained(t, bool(ran), perplexities.get(i), pretrained,
                                        "the LoRA model"),
        "lab2e.perplexity": _judge_lower(perplexities.get(i), pretrained, "LoRA", band),
        "lab2e.base": _judge_base(perplexities.get(i), pretrained, (on_full or {}).get(i)),
    }
    return v


def _judge_base(on_pretrained: float | None, pretrained: float,
                on_full: tuple[float, float] | None) -> CheckResult:
    """The adapter was trained on the pretrained GPT-2. Such an adapter lowers the
    pretrained model's perplexity far more than the fine-tuned model's, which already
    learned the data (on the fixtures 161.8 -> 74.3 against 17.1 -> 18.6, a loss); one
    trained on the fine-tuned model learns a small correction that helps both about as
    much (161.8 -> 157.9 and 17.1 -> 16.7). It fails when its gain on the fine-tuned model,
    as a log ratio, is at least half its gain on the pretrained one. An adapter that
    changes nothing is `lab2e.trained`'s business, not this check's."""
    if on_pretrained is None or on_full is None:
        return ok("the adapter is judged by its own perplexity alone: the comparison with the "
                  "full fine-tuned model applies once both are saved")
    full, adapter_on_full = on_full
    gain_pretrained = math.log(pretrained / on_pretrained)
    gain_full = math.log(full / adapter_on_full)
    shown = (f"on the pretrained model {pretrained:.3f} -> {on_pretrained:.3f}, on the full "
             f"fine-tuned model {full:.3f} -> {adapter_on_full:.3f}")
    if gain_full <= 1e-9 or gain_full < gain_pretrained / 2:
        return ok("the adapter helps the pretrained GPT-2 far more than the fine-tuned model, "
                  f"as one trained on the pretrained model does ({shown})")
    return fail("expected the LoRA adapters trained on a fresh pretrained GPT-2; they help the "
                f"already fine-tuned model about as much as the pretrained one ({shown}): load the "
                "model again with from_pretrained('gpt2') before get_peft_model")


def _judge_eval_epoch(t: Mapping) -> CheckResult:
    if t["eval_strategy"] == "epoch" and t["has_eval_dataset"]:
        return ok("the validation set is evaluated every epoch")
    return fail("expected evaluation every epoch on the validation set; saw eval_strategy="
                f"{t['eval_strategy']!r}"
                + ("" if t["has_eval_dataset"] else " and no eval_dataset"))


def _judge_log_epoch(t: Mapping) -> CheckResult:
    if t["logging_strategy"] == "epoch":
        return ok("the loss is logged every epoch")
    return fail(f"expected logging every epoch; saw logging_strategy={t['logging_strategy']!r}")


def _judge_trained(t: Mapping, ran: bool, measured: float | None, pretrained: float,
                   what: str) -> CheckResult:
    """trainer.train() ran every step and the grader measured the saved model as changed.
    How often the loss was logged is `log_epoch`'s business (one mistake, one deduction)."""
    steps = f"{t['global_step']} of {t['max_steps']} steps"
    if ran and _moved(measured, pretrained):
        return ok(f"trainer.train() ran {steps} on {what}, and the saved weights changed"
                  + _how_trained(t))
    why = [] if ran else [f"it ran {steps}" if t["max_steps"] else "train() was never called"]
    if not _moved(measured, pretrained):
        why.append("the grader measured the saved weights as unchanged")
    return fail(f"expected trainer.train() to run every step on {what}; " + " and ".join(why)
                + _how_trained(t))


def _how_trained(t: Mapping) -> str:
    """Which training ran, where the grader offered its fast path: the fast path (the
    Trainer was the handout's recipe) or the student's own ``train()`` and why. The reason
    is shown only when it is one of the fast path's own phrases (facts are the kernel's
    word)."""
    training = t.get("training")
    if not isinstance(training, Mapping):
        return ""
    if training.get("mode") == "fast":
        return FAST_NOTE
    why = training.get("why")
    if why is None:  # the grader offered no fast path
        return ""
    return FAITHFUL_NOTE.format(why if why in REASONS else "not the handout's recipe")


FAST_NOTE = (" (trained through the grader's fast path: this Trainer is the handout's recipe, "
             "so the same batches and objective as its own train())")
FAITHFUL_NOTE = " (its own train() ran, not the grader's fast path: {})"
# Every note `_how_trained` can add: grader text only, so students may read it.
TRAINING_NOTES = (FAST_NOTE, *(FAITHFUL_NOTE.format(why) for why in
                               sorted({*REASONS, "not the handout's recipe"})))


def _judge_lower(value: float | None, pretrained: float, what: str,
                 band: Sequence[float] | None = None) -> CheckResult:
    """Lower than the pretrained model's; at full size also inside the real runs' band."""
    if value is None:
        return fail(f"expected a trained model to measure after {what}; none was saved")
    good = value < pretrained and (band is None or band[0] <= value <= band[1])
    if good:
        return ok(f"the validation perplexity after {what}, {value:.3f} (measured by the "
                  f"grader), is below the pretrained model's {pretrained:.3f}"
                  + (f" and within {band[0]}-{band[1]} as in real runs" if band else ""))
    return fail(
        f"expected the validation perplexity after {what} below the pretrained model's "
        f"{pretrained:.3f}" + (f" and within {band[0]}-{band[1]} as in real runs" if band
                               else "") + f" (measured by the grader); saw {value:.3f}")


def _same_dir(a: str, b: str) -> bool:
    def norm(p: str) -> str:
        return p.rstrip("/").removeprefix("./")

    return norm(a) == norm(b) or norm(a).endswith("/" + norm(b)) or norm(b).endswith("/" + norm(a))
