"""The benchmark's table and its goals, read from the report dictionary only."""

from __future__ import annotations

# The issue's goals: fine-tuning >= 20x faster and under 15 s; Lab 1's epochs under 10 s;
# per-step losses within 1%, final evaluation losses within 2%.
MIN_SPEEDUP = 20.0
MAX_FINETUNE_SECONDS = 15.0
MAX_LAB1_EPOCH_SECONDS = 10.0
STEP_LOSS_TOLERANCE = 0.01
EVAL_LOSS_TOLERANCE = 0.02


def _check(name: str, passed: bool, seen: str) -> dict:
    return {"goal": name, "passed": bool(passed), "seen": seen}


def goals(report: dict) -> list[dict]:
    """Each goal that the report's items can answer, with what was seen."""
    out = []
    for result in report["results"]:
        if "error" in result:
            out.append(_check(f"{result['item']}: ran", False, result["error"]))
            continue
        item, fast, agree = result["item"], result["fast"], result["agreement"]
        if item in ("full", "lora"):
            out.append(_check(
                f"{item}: fast >= {MIN_SPEEDUP:g}x faithful and < {MAX_FINETUNE_SECONDS:g} s",
                result["speedup"] >= MIN_SPEEDUP and fast["seconds"] < MAX_FINETUNE_SECONDS,
                f"{result['speedup']:.1f}x, {fast['seconds']:.1f} s",
            ))
            steps = agree["objective_first_batches"]
            out.append(_check(
                f"{item}: per-token losses of the first batches within {STEP_LOSS_TOLERANCE:.0%}",
                steps["max"] <= STEP_LOSS_TOLERANCE,
                f"max {steps['max']:.3%} over {steps['steps']} batches at the same weights",
            ))
            if "final_eval_loss" in agree:
                diff, label = agree["final_eval_loss"], "final eval loss"
            else:
                cut = agree["eval_loss_after_steps"]
                diff, label = cut["diff"], f"eval loss after {cut['steps']} steps"
            out.append(_check(f"{item}: {label} within {EVAL_LOSS_TOLERANCE:.0%}",
                              diff <= EVAL_LOSS_TOLERANCE, f"{diff:.2%}"))
        elif item == "lab1":
            steps = agree["objective_first_batches"]
            out.append(_check(
                f"lab1: per-batch losses of the first batches within {STEP_LOSS_TOLERANCE:.0%}",
                steps["max"] <= STEP_LOSS_TOLERANCE,
                f"max {steps['max']:.3%} over {steps['steps']} batches at the same weights",
            ))
            out.append(_check(
                f"lab1: the training epochs < {MAX_LAB1_EPOCH_SECONDS:g} s (prep apart)",
                fast["train_seconds"] < MAX_LAB1_EPOCH_SECONDS, f"{fast['train_seconds']:.1f} s",
            ))
            out.append(_check(
                f"lab1: final validation loss within {EVAL_LOSS_TOLERANCE:.0%}",
                agree["final_valid_loss"] <= EVAL_LOSS_TOLERANCE,
                f"{agree['final_valid_loss']:.2%}",
            ))
        elif item == "perplexity":
            out.append(_check(
                f"perplexity: per-token loss within {STEP_LOSS_TOLERANCE:.0%}",
                agree["log_perplexity"] <= STEP_LOSS_TOLERANCE, f"{agree['log_perplexity']:.3%}",
            ))
    return out


def merge_reports(reports: list[dict]) -> dict:
    """One report from runs of different items on the same device and data (a later run's
    item replaces an earlier one's); the goals are computed again."""
    first = reports[0]
    for other in reports[1:]:
        for key in ("device", "data", "versions", "faithful_steps"):
            if other[key] != first[key]:
                raise ValueError(f"cannot merge runs with different {key}: "
                                 f"{first[key]!r} and {other[key]!r}")
    items = {result["item"]: result for report in reports for result in report["results"]}
    merged = {**first, "results": list(items.values())}
    merged["goals"] = goals(merged)
    return merged


def _agreement_text(result: dict) -> str:
    agree = result["agreement"]
    if result["item"] == "lab1":
        return (f"objective of {agree['objective_first_batches']['steps']} batches max "
                f"{agree['objective_first_batches']['max']:.3%}; "
                f"epoch-1 train loss {agree['first_epoch_train_loss']:.2%}, "
                f"final valid loss {agree['final_valid_loss']:.2%}")
    if result["item"] == "perplexity":
        return (f"ppl {result['faithful']['perplexity']:.4g} vs {result['fast']['perplexity']:.4g}"
                f" (log {agree['log_perplexity']:.3%})")
    objective, steps = agree["objective_first_batches"], agree["training_steps"]
    text = (f"objective of {objective['steps']} batches max {objective['max']:.3%}; "
            f"{steps['steps']} training steps mean {steps['mean']:.2%}")
    if "final_eval_loss" in agree:
        return text + f", final eval loss {agree['final_eval_loss']:.2%}"
    cut = agree["eval_loss_after_steps"]
    return text + f", eval loss after {cut['steps']} steps {cut['diff']:.2%}"


def _gib(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_report(report: dict) -> str:
    """A plain-text table: one row per item and mode, then the goals."""
    lines = [
        f"Device: {report['device']}; data: {report['data']}; "
        + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
        f"{'item':<11} {'mode':<9} {'seconds':>9} {'prep s':>7} {'tokens/s':>10} "
        f"{'peak GiB':>8} {'speedup':>8}  loss agreement",
    ]
    notes = []
    for result in report["results"]:
        if "error" in result:
            lines.append(f"{result['item']:<11} failed: {result['error']}")
            continue
        faithful, fast = result["faithful"], result["fast"]
        cut = faithful.get("estimated_from_steps")
        mark = "*" if cut else ""
        if cut:
            notes.append(f"* {result['item']}: faithful time extrapolated from {cut} of "
                         f"{faithful['total_steps']} steps ({faithful['step_seconds']:.3f} s a "
                         f"step, {faithful['eval_seconds']:.1f} s an evaluation, "
                         f"{faithful['setup_seconds']:.1f} s setup)")
        lines.append(
            f"{result['item']:<11} {'faithful':<9} {faithful['seconds']:>8.1f}{mark:1} "
            f"{faithful['prep_seconds']:>7.1f} {faithful['tokens_per_second']:>10.0f} "
            f"{_gib(faithful['peak_gib']):>8}"
        )
        lines.append(
            f"{'':<11} {'fast':<9} {fast['seconds']:>8.1f}  {fast['prep_seconds']:>7.1f} "
            f"{fast['tokens_per_second']:>10.0f} {_gib(fast['peak_gib']):>8} "
            f"{result['speedup']:>7.1f}x  {_agreement_text(result)}"
        )
    lines += notes
    lines.append("Goals:")
    lines += [f"  [{'PASS' if g['passed'] else 'FAIL'}] {g['goal']}: {g['seen']}"
              for g in report["goals"]]
    return "\n".join(lines)
