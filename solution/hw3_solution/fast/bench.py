"""Faithful vs fast mode, side by side in one run: `python -m hw3_solution.fast.bench`.

Items: Lab 1's training run (IMDB, fixed hyperparameters), Lab 2's perplexity evaluation
of the 10% validation rows, and 3 epochs of full and of LoRA fine-tuning. On a CUDA GPU it
reads the real data (`--data-dir`, the layout of ../shared/data; GPT-2 124M with random
weights beside the real tokenizer, `wiki.test.raw` standing in for the train split); with
no GPU it says so and runs the CPU-sized version on the fixtures. It prints a table and
writes it as JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from hw3_solution.fast.bench_report import format_report, goals, merge_reports
from hw3_solution.fast.lm_data import epoch_orders, read_wikitext_rows, tokenize_rows
from hw3_solution.fast.lm_eval import batch_losses, row_losses
from hw3_solution.fast.lm_train import FastTrainConfig, train_causal_lm

ITEMS = ("lab1", "perplexity", "full", "lora")
OBJECTIVE_BATCHES = 60  # batches whose loss both modes compute at the same weights
REAL_TRAIN_ROWS = 3671  # the handout's first 10% of the 36,718-row train split
HANDOUT_FRACTION = 0.1
LM_EPOCHS = 3
SEED = 42


@dataclass(frozen=True)
class BenchSetup:
    """What one benchmark run reads and how far it runs the faithful mode."""

    source: object  # hw3_fixtures.sources.DataSource
    device: torch.device
    device_name: str
    train_rows: int
    rnn_epochs: int
    faithful_steps: int | None  # None: every step of the faithful fine-tuning


def now(device: torch.device) -> float:
    """A host clock read after the device's queued work is done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def fresh_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def rel_diff(a: float, b: float) -> float:
    """|a - b| / |a| (a is the faithful value)."""
    return abs(a - b) / abs(a) if a else float("inf")


def bench_lab1(setup: BenchSetup) -> dict:
    """Lab 1: the reference run and the fast run, same seed, same epochs."""
    from hw3_solution import lab_rnn
    from hw3_solution.fast.rnn import train_and_test_fast

    hparams = lab_rnn.HyperParams()
    hparams.N_EPOCHS = setup.rnn_epochs
    csv = str(setup.source.imdb_csv)
    started = now(setup.device)
    x_train, _, _, y_train, _, _ = lab_rnn.load_imdb(csv)
    vocab = lab_rnn.build_vocab(x_train, hparams=hparams)
    faithful_prep = now(setup.device) - started
    objective = lab1_objective(hparams, vocab, x_train, y_train, setup.device)

    fresh_memory(setup.device)
    started = now(setup.device)
    ref = lab_rnn.train_and_test_model_with_hparams(hparams, csv_path=csv)
    faithful_seconds = now(setup.device) - started - faithful_prep
    faithful_peak = peak_gib(setup.device)

    fresh_memory(setup.device)
    fast = train_and_test_fast(hparams, csv_path=csv, device=setup.device)
    tokens = fast["tokens_per_epoch"] * setup.rnn_epochs
    fast_seconds = fast["seconds"] - fast["prep_seconds"]
    first, last = ref["history"][0], ref["history"][-1]
    return {
        "item": "lab1",
        "what": f"Lab 1: {setup.rnn_epochs} epochs + test, IMDB {setup.source.name}",
        "faithful": {"seconds": faithful_seconds, "prep_seconds": faithful_prep,
                     "tokens_per_second": tokens / faithful_seconds, "peak_gib": faithful_peak,
                     "history": ref["history"], "test_acc": ref["test_acc"],
                     "best_epoch": ref["best_epoch"]},
        "fast": {"seconds": fast_seconds, "prep_seconds": fast["prep_seconds"],
                 "train_seconds": fast["train_seconds"],
                 "tokens_per_second": tokens / fast_seconds, "peak_gib": peak_gib(setup.device),
                 "history": fast["history"], "test_acc": fast["test_acc"],
                 "best_epoch": fast["best_epoch"]},
        "speedup": faithful_seconds / fast_seconds,
        "agreement": {
            "objective_first_batches": objective,
            "first_epoch_train_loss": rel_diff(first["train_loss"],
                                               fast["history"][0]["train_loss"]),
            "final_valid_loss": rel_diff(last["valid_loss"], fast["history"][-1]["valid_loss"]),
            "test_acc": abs(ref["test_acc"] - fast["test_acc"]),
        },
    }


def lab1_objective(hparams, vocab: dict, x_train: list, y_train: list,
                   device: torch.device) -> dict:
    """The loss of the first training batches at the same (initial) weights: the reference
    `LSTM.forward` (packed) against the fast mode's (read at each row's last token)."""
    from hw3_solution.fast.rnn import encode_split, hparams_model, lstm_logits

    size = hparams.BATCH_SIZE
    split = encode_split(x_train[: OBJECTIVE_BATCHES * size], y_train[: OBJECTIVE_BATCHES * size],
                         vocab, hparams).to(device)
    torch.manual_seed(hparams.SEED)
    model = hparams_model(hparams, len(vocab)).to(device).eval()
    faithful, fast = [], []
    with torch.no_grad():
        for start in range(0, len(split), size):
            lengths = split.lengths[start : start + size]
            ids = split.ids[start : start + size, : int(lengths.max())]
            labels = split.labels[start : start + size]
            faithful.append(float(F.cross_entropy(model(ids, lengths), labels)))
            fast.append(float(F.cross_entropy(lstm_logits(model, ids, lengths), labels)))
    return loss_agreement(faithful, fast, [1] * len(faithful))


@dataclass
class LMInputs:
    """Lab 2's data in both modes' forms, prepared once."""

    tokenizer: object
    train_texts: list[str]
    eval_texts: list[str]
    faithful_data: object
    faithful_prep: float
    train_rows: object
    eval_rows: object
    fast_prep: float


def lm_inputs(setup: BenchSetup) -> LMInputs:
    from transformers import AutoTokenizer

    from hw3_solution.fast.faithful_lm import prepare_faithful_data

    tokenizer = AutoTokenizer.from_pretrained(setup.source.gpt2_dir)
    tokenizer.pad_token = tokenizer.eos_token
    wikitext = setup.source.wikitext_dir
    train_texts = read_wikitext_rows(wikitext / "wiki.train.raw")[: setup.train_rows]
    valid = read_wikitext_rows(wikitext / "wiki.valid.raw")
    eval_texts = valid[: int(len(valid) * HANDOUT_FRACTION + 1e-9)]
    data, faithful_prep = prepare_faithful_data(tokenizer, train_texts, eval_texts)
    started = time.perf_counter()
    train_rows, eval_rows = tokenize_rows(tokenizer, train_texts), tokenize_rows(tokenizer,
                                                                                 eval_texts)
    fast_prep = time.perf_counter() - started
    return LMInputs(tokenizer, train_texts, eval_texts, data, faithful_prep, train_rows,
                    eval_rows, fast_prep)


def load_lm(setup: BenchSetup, method: str) -> torch.nn.Module:
    """The handout's model for `method` ('full': the model; 'lora': with adapters, seeded)."""
    from transformers import AutoModelForCausalLM

    from hw3_solution import lab_llm

    torch.manual_seed(SEED)
    if method == "lora":
        return lab_llm.lora_model(str(setup.source.gpt2_dir))
    return AutoModelForCausalLM.from_pretrained(setup.source.gpt2_dir)


def bench_perplexity(setup: BenchSetup, lm: LMInputs) -> dict:
    """`evaluate_perplexity` on the padded loader vs the fast per-row evaluation."""
    from hw3_solution import lab_llm

    model = load_lm(setup, "full").to(setup.device)
    fresh_memory(setup.device)
    started = now(setup.device)
    faithful_ppl = lab_llm.evaluate_perplexity(model, lm.faithful_data.eval_dataloader)
    faithful_seconds = now(setup.device) - started
    faithful_peak = peak_gib(setup.device)
    fresh_memory(setup.device)
    started = now(setup.device)
    fast_ppl = row_losses(model, lm.eval_rows).handout_perplexity()
    fast_seconds = now(setup.device) - started
    tokens = lm.eval_rows.real_tokens
    return {
        "item": "perplexity",
        "what": f"Lab 2 (c): perplexity of {len(lm.eval_rows)} validation rows",
        "faithful": {"seconds": faithful_seconds, "prep_seconds": lm.faithful_prep,
                     "tokens_per_second": tokens / faithful_seconds, "peak_gib": faithful_peak,
                     "perplexity": faithful_ppl},
        "fast": {"seconds": fast_seconds, "prep_seconds": lm.fast_prep,
                 "tokens_per_second": tokens / fast_seconds, "peak_gib": peak_gib(setup.device),
                 "perplexity": fast_ppl},
        "speedup": faithful_seconds / fast_seconds,
        "agreement": {"log_perplexity": rel_diff(math.log(faithful_ppl), math.log(fast_ppl))},
    }


def loss_agreement(faithful: list[float], fast: list[float], tokens: list[int]) -> dict:
    """Relative differences of paired per-batch losses, over the batches holding tokens."""
    diffs = [rel_diff(a, b) for a, b, n in zip(faithful, fast, tokens) if n]
    return {"steps": len(diffs), "max": max(diffs), "mean": sum(diffs) / len(diffs)}


def bench_finetune(setup: BenchSetup, lm: LMInputs, method: str) -> dict:
    """3 epochs of `method` fine-tuning, faithful (maybe cut and extrapolated) and fast.

    Agreement: the objective of the first batches at the initial weights in both modes'
    arithmetic (fp32 padded to the maximum length vs bf16 packed rows); the training
    losses of the steps both ran (dropout masks differ between the modes); the evaluation
    loss after the faithful run's last step.
    """
    from hw3_solution.fast.faithful_lm import run_faithful_training, trainer_batch_losses

    orders = epoch_orders(len(lm.train_texts), LM_EPOCHS, SEED)
    config = FastTrainConfig(epochs=LM_EPOCHS, seed=SEED)
    plan = [batch for order in orders for batch in order.split(config.batch_size)]
    batch_tokens = [int(lm.train_rows.lengths[batch].sum()) for batch in plan]
    model = load_lm(setup, method)
    fresh_memory(setup.device)
    faithful = run_faithful_training(model, lm.faithful_data, orders,
                                     max_steps=setup.faithful_steps,
                                     prep_seconds=lm.faithful_prep)
    faithful_peak = peak_gib(setup.device)
    del model

    model = load_lm(setup, method).to(setup.device)
    check = plan[: min(OBJECTIVE_BATCHES, faithful.steps_run)]
    objective = loss_agreement(trainer_batch_losses(model, lm.faithful_data, check),
                               batch_losses(model, lm.train_rows, check), batch_tokens)
    fresh_memory(setup.device)
    cut = faithful.steps_run if faithful.truncated else None
    if cut:
        config = FastTrainConfig(epochs=LM_EPOCHS, seed=SEED, extra_eval_steps=(cut,))
    fast = train_causal_lm(model, lm.train_rows, lm.eval_rows, config)
    fast_peak = peak_gib(setup.device)
    del model
    fresh_memory(setup.device)

    tokens = sum(batch_tokens)
    fast_eval_losses = [losses.trainer_eval_loss(config.batch_size) for _, losses in fast.evals]
    agreement = {
        "objective_first_batches": objective,
        "training_steps": loss_agreement(faithful.step_losses, fast.step_losses, batch_tokens),
    }
    if cut:
        agreement["eval_loss_after_steps"] = {
            "steps": cut,
            "diff": rel_diff(faithful.eval_losses[-1],
                             dict(fast.evals)[cut].trainer_eval_loss(config.batch_size)),
        }
    else:
        agreement["final_eval_loss"] = rel_diff(faithful.eval_losses[-1], fast_eval_losses[-1])
    faithful_seconds = faithful.estimated_seconds
    return {
        "item": method,
        "what": f"Lab 2 ({'d' if method == 'full' else 'e'}): {method} fine-tuning, "
                f"{LM_EPOCHS} epochs of {len(lm.train_texts)} rows",
        "faithful": {"seconds": faithful_seconds, "prep_seconds": lm.faithful_prep,
                     "estimated_from_steps": faithful.steps_run if faithful.truncated else None,
                     "step_seconds": faithful.step_seconds, "eval_seconds": faithful.eval_seconds,
                     "setup_seconds": faithful.setup_seconds, "total_steps": faithful.total_steps,
                     "tokens_per_second": tokens / faithful_seconds, "peak_gib": faithful_peak,
                     "eval_losses": faithful.eval_losses, "train_losses": faithful.train_losses,
                     "step_losses": faithful.step_losses},
        "fast": {"seconds": fast.seconds, "prep_seconds": lm.fast_prep,
                 "capture_seconds": fast.capture_seconds, "graph_widths": fast.graph_widths,
                 "tokens_per_second": tokens / fast.seconds, "peak_gib": fast_peak,
                 "eval_losses": fast_eval_losses, "train_losses": fast.epoch_train_losses,
                 "step_losses": fast.step_losses[: faithful.steps_run]},
        "speedup": faithful_seconds / fast.seconds,
        "agreement": agreement,
    }


def choose_setup(args: argparse.Namespace) -> BenchSetup:
    """Real data on a CUDA GPU (unless --data fixtures); the fixtures on a CPU."""
    from hw3_fixtures.sources import DataSource

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    data = args.data if args.data != "auto" else ("real" if cuda else "fixtures")
    if not cuda:
        print("No CUDA GPU here: running the CPU-sized version on the fixtures.")
    if data == "real":
        work = Path(args.work_dir or tempfile.mkdtemp(prefix="hw3-bench-"))
        source = DataSource.real(Path(args.data_dir), work)
        train_rows = REAL_TRAIN_ROWS
    else:
        source = DataSource.fixtures()
        rows = len(read_wikitext_rows(source.wikitext_dir / "wiki.train.raw"))
        train_rows = int(rows * HANDOUT_FRACTION + 1e-9)
    name = torch.cuda.get_device_name(device) if cuda else f"CPU ({platform.processor() or 'cpu'})"
    return BenchSetup(source, device, name, args.train_rows or train_rows,
                      args.rnn_epochs or 5, args.faithful_steps)


def use_fixture_stop_words(source) -> None:
    """NLTK's English stop words from the source's NLTK folder (no download)."""
    import nltk

    from hw3_solution import lab_rnn

    nltk.data.path.insert(0, str(source.nltk_dir))
    lab_rnn.english_stop_words.cache_clear()


def warm_up(device: torch.device) -> None:
    """Create the CUDA context and library handles before anything is timed."""
    if device.type == "cuda":
        matrix = torch.randn(1024, 1024, device=device)
        (matrix @ matrix).sum().item()


def run(args: argparse.Namespace) -> dict:
    """Run the chosen items; the JSON at `args.out` is rewritten after each one."""
    setup = choose_setup(args)
    use_fixture_stop_words(setup.source)
    warm_up(setup.device)
    items = [item for item in args.only.split(",") if item] if args.only else list(ITEMS)
    unknown = set(items) - set(ITEMS)
    if unknown:
        raise SystemExit(f"--only: unknown item(s) {sorted(unknown)}; choose from {ITEMS}")
    import transformers

    report = {
        "device": setup.device_name,
        "data": setup.source.name,
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                     "transformers": transformers.__version__},
        "faithful_steps": setup.faithful_steps,
        "results": [],
    }
    runners: dict[str, Callable[[], dict]] = {"lab1": lambda: bench_lab1(setup)}
    if set(items) - {"lab1"}:
        lm = lm_inputs(setup)
        runners |= {"perplexity": lambda: bench_perplexity(setup, lm),
                    "full": lambda: bench_finetune(setup, lm, "full"),
                    "lora": lambda: bench_finetune(setup, lm, "lora")}
    for item in items:
        print(f"-- {item} ...", flush=True)
        try:
            report["results"].append(runners[item]())
        except Exception as error:  # one item's failure is reported; the others still run
            traceback.print_exc()
            report["results"].append({"item": item, "error": f"{type(error).__name__}: {error}"})
        report["goals"] = goals(report)
        write_json(report, args.out)  # after every item: a run cut short keeps what it did
    return report


def write_json(report: dict, path: str) -> None:
    Path(path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("auto", "real", "fixtures"), default="auto",
                        help="auto: real on a CUDA GPU, the fixtures otherwise")
    parser.add_argument("--data-dir", default="../shared/data",
                        help="the real data (layout of ../shared/data)")
    parser.add_argument("--work-dir", help="where the real data is staged (default: a temp dir)")
    parser.add_argument("--faithful-steps", type=int,
                        help="run only this many faithful fine-tuning steps and extrapolate")
    parser.add_argument("--rnn-epochs", type=int, help="Lab 1 epochs (default 5)")
    parser.add_argument("--train-rows", type=int,
                        help="WikiText training rows (default: the handout's 10%% of the split)")
    parser.add_argument("--only", help=f"comma-separated items out of {','.join(ITEMS)}")
    parser.add_argument("--out", default="bench-results.json", help="the JSON report")
    parser.add_argument("--merge", nargs="+", metavar="JSON",
                        help="run nothing: merge these reports (runs of different --only "
                             "items on one device) into --out and print the table")
    args = parser.parse_args(argv)
    if args.merge:
        try:
            report = merge_reports([json.loads(Path(name).read_text(encoding="utf-8"))
                                    for name in args.merge])
        except (OSError, ValueError, KeyError) as error:
            raise SystemExit(f"--merge: {error}") from None
        write_json(report, args.out)
    else:
        report = run(args)
    print(format_report(report))
    print(f"JSON: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
