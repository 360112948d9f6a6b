"""A student's `Trainer` run through the fast mode when it is the handout's recipe.

`fast_train(trainer)` is called in place of `trainer.train()` (the grader's kernel hook, on
the GPU at full size). It first reads the Trainer as it stands and names the first way it
departs from what the fast mode reproduces exactly (`recipe_deviation`); then it either
returns that reason and trains nothing (the caller runs the student's own `train()`), or it
trains through `lm_train.train_causal_lm` on:

- the Trainer's own shuffled order, read from its own train dataloader epoch by epoch (the
  seeded sampler `train()` would draw from, at the same moment);
- the Trainer's own rows (its `train_dataset`, right-padded, as its collator gives them);
- the same objective: the collator's labels must be the input ids with every pad id set to
  -100 (`DataCollatorForLanguageModeling(mlm=False)`), AdamW with the arguments' learning
  rate, betas, epsilon and weight decay, the linear schedule with its warm-up, clipping at
  `max_grad_norm`, dropout;

and leaves the Trainer as `train()` would for what a notebook reads afterwards: the model
trained in place, `trainer.state` (global step, epoch, `log_history` with a `loss` entry per
logging window, an `eval_loss` entry per evaluated epoch, the closing `train_loss` entry),
and the returned `TrainOutput`. Checkpoints (`save_steps`) are not written and callbacks are
not called: neither changes the weights.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import torch

from hw3_solution.fast.lm_data import IGNORE_INDEX, TokenRows, batches_of
from hw3_solution.fast.lm_train import (
    FastTrainConfig,
    FastTrainResult,
    linear_schedule,
    logged_mean,
    train_causal_lm,
)

MODEL_INPUTS = {"input_ids", "attention_mask", "labels"}  # what the fast forward reads
RECORD_MODULE = "hw3_kernel_record"  # the grader's kernel record (kernel_hooks.py)
CHECKED_BATCHES = 4  # batches of the first epoch run through the student's collator
# TrainingArguments that must keep these values (their defaults): each changes the batches,
# the objective or the optimizer in a way the fast mode does not reproduce.
FIXED_ARGUMENTS = {
    "gradient_accumulation_steps": 1,
    "label_smoothing_factor": 0.0,
    "neftune_noise_alpha": None,
    "dataloader_drop_last": False,
    "full_determinism": False,
    "eval_on_start": False,
    "load_best_model_at_end": False,
    "torch_compile": False,
    "use_liger_kernel": False,
    "dataloader_num_workers": 0,
    "eval_delay": 0,
}
SAVE_STRATEGIES = {"steps", "no"}  # the fast path writes no checkpoint: at most the last
SEEDED_SAMPLER = "SeedableRandomSampler"  # accelerate's: its order can be read beforehand
OPTIMIZERS = {"adamw_torch", "adamw_torch_fused"}
EVAL_STRATEGIES = {"epoch", "no"}
LOGGING_STRATEGIES = {"epoch", "steps", "no"}

# Why a run is not the recipe: fixed phrases (the notebook's facts are the student's word,
# so the grader shows a reason only when it is one of these, never text from the kernel).
WHY = {
    "epochs": 'a run that is not a whole number of epochs (max_steps or num_train_epochs)',
    "optim": 'an optimizer other than AdamW (optim)',
    "schedule": 'a schedule other than the linear one',
    "clipping": 'no gradient clipping',
    "eval_strategy": "an eval_strategy other than 'epoch' or 'no'",
    "logging_strategy": "a logging_strategy other than 'epoch', 'steps' or 'no'",
    "devices": 'more than one device',
    "subclass": 'a Trainer subclass',
    "model_init": 'a model_init or compute_loss_func',
    "own_optimizer": 'an optimizer or scheduler of its own',
    "callbacks": "callbacks other than the Trainer's own (progress, printing)",
    "model": 'a model other than GPT-2',
    "peft": 'peft adapters other than one LoRA adapter',
    "no_input_ids": 'a train or eval dataset without an input_ids column',
    "ragged": 'rows of different lengths (padded by the collator)',
    "unreadable": 'rows the fast mode cannot read as one tensor',
    "shape": 'an empty dataset or rows of another shape',
    "mask": "an attention mask that does not cover each row's first tokens",
    "pad_id": "rows padded with another id than the tokenizer's pad token",
    "too_long": "rows longer than the model's positions",
    "collator_output": 'a collator that gives no input_ids and labels tensors',
    "collator_ids": "a collator that changes the rows' input ids",
    "no_pad": 'no tokenizer with a pad token in the collator or processing_class',
    "no_eval_dataset": "eval_strategy='epoch' without an eval_dataset",
    "sampler": 'a sampler that does not draw every row once an epoch',
    "labels": "labels that keep the padding (the handout's "
              "DataCollatorForLanguageModeling(tokenizer, mlm=False) masks it with -100)",
    "arguments": 'train() called with arguments',
    "failed": "the fast path failed; the student's own train() ran instead",
    "unreadable_trainer": "a Trainer whose data or collator the fast path could not read",
    "save_strategy": "a save_strategy other than 'steps' or 'no'",
    "metrics": "compute_metrics or preprocess_logits_for_metrics",
    "model_replaced": "trainer.model replaced after the Trainer was made",
    "second_call": "a Trainer that has trained before (a second train() call)",
    "checkpoints": "a notebook that reads the Trainer's checkpoints",
    "extra_inputs": "batches with inputs other than input_ids, attention_mask and labels",
}
REASONS = frozenset([*WHY.values(), *(f"TrainingArguments({name}) other than {wanted!r}"
                                      for name, wanted in FIXED_ARGUMENTS.items())])


def _name(value: Any) -> str:
    return str(getattr(value, "value", value)).lower()


def _argument_deviation(args: Any) -> str | None:
    for name, wanted in FIXED_ARGUMENTS.items():
        if getattr(args, name, wanted) != wanted:
            return f"TrainingArguments({name}) other than {wanted!r}"
    epochs = float(args.num_train_epochs)
    if args.max_steps > 0 or epochs < 1 or not epochs.is_integer():
        return WHY["epochs"]
    checks = (
        (_name(args.optim) in OPTIMIZERS, WHY["optim"]),
        (_name(args.lr_scheduler_type) == "linear", WHY["schedule"]),
        (args.max_grad_norm is not None and args.max_grad_norm > 0, WHY["clipping"]),
        (_name(args.eval_strategy) in EVAL_STRATEGIES,
         WHY["eval_strategy"]),
        (_name(args.logging_strategy) in LOGGING_STRATEGIES,
         WHY["logging_strategy"]),
        (_name(args.save_strategy) in SAVE_STRATEGIES, WHY["save_strategy"]),
        (args.n_gpu <= 1 and args.world_size == 1, WHY["devices"]),
    )
    return next((why for good, why in checks if not good), None)


def _trainer_deviation(trainer: Any) -> str | None:
    from transformers import Trainer
    from transformers.trainer_callback import (
        DefaultFlowCallback,
        PrinterCallback,
        ProgressCallback,
    )
    from transformers.utils.notebook import NotebookProgressCallback

    if type(trainer) is not Trainer:
        return WHY["subclass"]
    if trainer.model_init is not None or getattr(trainer, "compute_loss_func", None):
        return WHY["model_init"]
    if trainer.optimizer is not None or trainer.lr_scheduler is not None \
            or getattr(trainer, "optimizer_cls_and_kwargs", None) is not None:
        return WHY["own_optimizer"]
    if trainer.compute_metrics is not None or trainer.preprocess_logits_for_metrics is not None:
        return WHY["metrics"]
    plain = (DefaultFlowCallback, PrinterCallback, ProgressCallback, NotebookProgressCallback)
    if any(type(c) not in plain for c in trainer.callback_handler.callbacks):
        return WHY["callbacks"]
    if trainer.model_wrapped is not trainer.model:
        return WHY["model_replaced"]
    if trainer.state.global_step > 0:
        return WHY["second_call"]
    if getattr(sys.modules.get(RECORD_MODULE), "FAST_OFF", None):
        return WHY["checkpoints"]
    return _argument_deviation(trainer.args)


def _model_deviation(model: Any) -> str | None:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    if getattr(config, "model_type", None) != "gpt2" or not hasattr(base, "transformer") \
            or getattr(config, "add_cross_attention", False):
        return WHY["model"]
    if hasattr(model, "peft_config"):
        kinds = {_name(c.peft_type) for c in model.peft_config.values()}
        if kinds != {"lora"} or len(model.peft_config) != 1:
            return WHY["peft"]
    return None


def token_rows(dataset: Any, pad_id: int, max_positions: int) -> TokenRows | str:
    """The rows of a tokenized dataset (``input_ids``, optional ``attention_mask``) as
    right-padded `TokenRows`, or why they are not rows the fast mode takes: a row's real
    tokens are those its attention mask covers (all of them without a mask); the mask must
    cover a prefix, and everything after it must be the pad id."""
    columns = getattr(dataset, "column_names", None)
    if not columns or "input_ids" not in columns:
        return WHY["no_input_ids"]
    plain = dataset.with_format("torch", columns=[c for c in ("input_ids", "attention_mask")
                                                  if c in columns])
    try:
        table = plain[0:len(plain)]
        ids = table["input_ids"]
        if not isinstance(ids, torch.Tensor):
            return WHY["ragged"]
        mask = table.get("attention_mask", torch.ones_like(ids))
    except (TypeError, ValueError, RuntimeError):
        return WHY["unreadable"]
    if ids.dim() != 2 or ids.shape[0] == 0 or mask.shape != ids.shape:
        return WHY["shape"]
    lengths = mask.long().sum(dim=1)
    slots = torch.arange(ids.shape[1]).expand_as(ids)
    prefix = slots < lengths[:, None]
    if not torch.equal(mask.bool(), prefix):
        return WHY["mask"]
    if bool((ids[~prefix] != pad_id).any()):
        return WHY["pad_id"]
    if int(lengths.max()) > max_positions:
        return WHY["too_long"]
    width = max(1, int(lengths.max()))
    return TokenRows(ids[:, :width].long().contiguous(), lengths, pad_id)


def _collator_deviation(loader: Any, rows: TokenRows, batches: list[torch.Tensor]
                        ) -> str | None:
    """The Trainer's own collation (its loader's dataset, unused columns removed, and
    collate function) of the first batches, of the longest rows and of the last, short
    batch: only input_ids, attention_mask and labels; the input ids are the rows (any
    padding after them is the pad id), the attention mask covers each row's tokens, and the
    labels are the ids with every pad set to -100."""
    longest = torch.argsort(rows.lengths, descending=True, stable=True)[:len(batches[0])]
    width = rows.ids.shape[1]
    for batch in [*batches[:CHECKED_BATCHES], longest, batches[-1]]:
        collated = loader.collate_fn([loader.dataset[int(i)] for i in batch])
        if not set(collated) <= MODEL_INPUTS:
            return WHY["extra_inputs"]
        ids, labels = collated.get("input_ids"), collated.get("labels")
        if not isinstance(ids, torch.Tensor) or not isinstance(labels, torch.Tensor):
            return WHY["collator_output"]
        ids, labels = ids.cpu(), labels.cpu()
        expected = torch.full((len(batch), max(width, ids.shape[1])), rows.pad_id)
        expected[:, :width] = rows.ids[batch]
        if ids.shape[1] < width or not torch.equal(ids, expected[:, :ids.shape[1]]):
            return WHY["collator_ids"]
        mask = collated.get("attention_mask")
        if mask is not None and not torch.equal(mask.cpu().bool(), torch.arange(
                ids.shape[1]).expand_as(ids) < rows.lengths[batch][:, None]):
            return WHY["mask"]
        if not torch.equal(labels, ids.masked_fill(ids == rows.pad_id, IGNORE_INDEX)):
            return WHY["labels"]
    return None


def trainer_batches(loader: Any, epochs: int) -> list[list[torch.Tensor]] | str:
    """The batches of row indices of each epoch as the Trainer's own train dataloader draws
    them (accelerate's seeded sampler, epoch by epoch, as `train()` sets it), or why they
    cannot be read beforehand."""
    sampler = getattr(loader, "batch_sampler", None)
    inner = getattr(sampler, "sampler", None)
    if type(inner).__name__ != SEEDED_SAMPLER:
        return WHY["sampler"]
    epochs_drawn = []
    for epoch in range(epochs):
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        for target in (sampler, getattr(sampler, "batch_sampler", None), inner):
            if hasattr(target, "set_epoch"):
                target.set_epoch(epoch)
        epochs_drawn.append([torch.tensor([int(i) for i in batch]) for batch in sampler])
    return epochs_drawn


def _pad_id(trainer: Any) -> int | None:
    """The pad id: the collator's or processing class's tokenizer's, else the model's
    (its pad id, else its end-of-text id: the handout pads GPT-2 with it)."""
    for holder in (trainer.data_collator, trainer.processing_class):
        tokenizer = getattr(holder, "tokenizer", holder)
        pad = getattr(tokenizer, "pad_token_id", None)
        if isinstance(pad, int):
            return pad
    config = getattr(trainer.model, "config", None)
    for name in ("pad_token_id", "eos_token_id"):
        if isinstance(getattr(config, name, None), int):
            return getattr(config, name)
    return None


@dataclass(frozen=True)
class _Plan:
    """What a recognised run trains on."""

    rows: TokenRows
    eval_rows: TokenRows | None
    orders: list[torch.Tensor]  # each epoch's row order, as the Trainer's sampler draws it
    config: FastTrainConfig


def plan_fast_run(trainer: Any) -> _Plan | str:
    """The fast run reproducing ``trainer.train()``, or why there is none (first reason)."""
    why = _trainer_deviation(trainer) or _model_deviation(trainer.model)
    if why:
        return why
    args = trainer.args
    pad = _pad_id(trainer)
    if pad is None:
        return WHY["no_pad"]
    positions = int(getattr(getattr(trainer.model, "config", None), "n_positions", 1024))
    rows = token_rows(trainer.train_dataset, pad, positions)
    if isinstance(rows, str):
        return rows
    eval_rows = None
    if _name(args.eval_strategy) == "epoch":
        if trainer.eval_dataset is None:
            return WHY["no_eval_dataset"]
        eval_rows = token_rows(trainer.eval_dataset, pad, positions)
        if isinstance(eval_rows, str):
            return eval_rows
    epochs = int(args.num_train_epochs)
    loader = trainer.get_train_dataloader()
    drawn = trainer_batches(loader, epochs)
    if isinstance(drawn, str):
        return drawn
    batch = len(drawn[0][0])
    orders = [torch.cat(batches) for batches in drawn]
    if any(sorted(o.tolist()) != list(range(len(rows))) for o in orders) or any(
            [len(b) for b in batches] != [len(b) for b in batches_of(o, batch)]
            for batches, o in zip(drawn, orders)):
        return WHY["sampler"]
    why = _collator_deviation(loader, rows, drawn[0])
    if why:
        return why
    steps = epochs * math.ceil(len(rows) / batch)
    config = FastTrainConfig(
        epochs=epochs, batch_size=batch, learning_rate=args.learning_rate,
        warmup_steps=args.get_warmup_steps(steps), weight_decay=args.weight_decay,
        adam_betas=(args.adam_beta1, args.adam_beta2), adam_eps=args.adam_epsilon,
        max_grad_norm=args.max_grad_norm, seed=args.seed)
    return _Plan(rows, eval_rows, orders, config)


def fast_train(trainer: Any, *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
    """``(TrainOutput, None)`` after training ``trainer`` through the fast mode, or
    ``(None, why)`` with the Trainer as it was: the caller then runs the student's own
    ``train()``. Never raises: reading a Trainer it cannot read, or a fault of the fast mode
    midway, gives the weights and torch's generators back (reading the Trainer runs the
    student's collator; training seeds). ``why`` is one of `REASONS`."""
    if args or kwargs:
        return None, WHY["arguments"]
    cpu_rng = torch.random.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    before = None
    try:
        plan = plan_fast_run(trainer)
        if isinstance(plan, str):
            why = plan
        else:
            why = WHY["failed"]
            model = trainer.model.to(trainer.args.device)
            before = {name: value.detach().clone() for name, value in model.state_dict().items()}
            started = time.time()
            result = train_causal_lm(model, plan.rows, plan.eval_rows, plan.config,
                                     orders=plan.orders)
            return _leave_state(trainer, plan, result, time.time() - started), None
    except Exception:  # noqa: BLE001 - the fast path must never cost the student
        why = WHY["unreadable_trainer"] if before is None else WHY["failed"]
        if before is not None:
            trainer.model.load_state_dict(before)
    torch.random.set_rng_state(cpu_rng)
    if cuda_rng is not None:
        torch.cuda.set_rng_state_all(cuda_rng)
    return None, why


def _log_windows(args: Any, total: int, per_epoch: int) -> list[int]:
    """The steps after which `train()` logs the training loss."""
    strategy = _name(args.logging_strategy)
    first = [1] if args.logging_first_step else []
    if strategy == "epoch":
        return sorted({*first, *range(per_epoch, total + 1, per_epoch)})
    if strategy == "no":
        return first
    every = args.logging_steps if args.logging_steps >= 1 else math.ceil(total *
                                                                        args.logging_steps)
    return sorted({*first, *range(int(every), total + 1, int(every))})


def _leave_state(trainer: Any, plan: _Plan, result: FastTrainResult, seconds: float) -> Any:
    """The model, ``trainer.state`` and the `TrainOutput` as `train()` leaves them."""
    from transformers.trainer_callback import TrainerState
    from transformers.trainer_utils import TrainOutput

    args, config = trainer.args, plan.config
    per_epoch = math.ceil(len(plan.rows) / config.batch_size)
    total = result.steps
    losses = result.step_losses
    tokens = [int(plan.rows.lengths[b].sum()) for order in plan.orders
              for b in batches_of(order, config.batch_size)][:total]
    # the learning rate logged after s steps: the one step s - 1 ran at
    lr_at = [0.0, *(config.learning_rate * f
                    for f in linear_schedule(total, config.warmup_steps))]
    history: list[dict[str, float]] = []
    windows = _log_windows(args, total, per_epoch)
    events = [(s, "log") for s in windows] + [(s, "eval") for s, _ in result.evals]
    last, logged = 0, 0.0
    evals = dict(result.evals)
    for step, kind in sorted(events, key=lambda e: (e[0], e[1] == "eval")):
        epoch = step / per_epoch
        if kind == "log":
            loss = logged_mean(losses[last:step], tokens[last:step])
            history.append({"loss": loss, "learning_rate": lr_at[step], "epoch": epoch,
                            "step": step})
            logged += loss * (step - last)
            last = step
        else:
            history.append({"eval_loss": evals[step].trainer_eval_loss(
                args.per_device_eval_batch_size), "epoch": epoch, "step": step})
    if last < total:  # what train() sums after the last log
        logged += logged_mean(losses[last:], tokens[last:]) * (total - last)
    train_loss = logged / max(1, total)
    metrics = {"train_runtime": round(seconds, 4),
               "train_samples_per_second": round(len(plan.rows) * config.epochs / seconds, 3),
               "train_steps_per_second": round(total / seconds, 3),
               "total_flos": 0.0, "train_loss": train_loss, "epoch": float(config.epochs)}
    history.append({**metrics, "step": total})
    logging_steps = windows[1] - windows[0] if len(windows) > 1 else args.logging_steps
    state = TrainerState(epoch=float(config.epochs), global_step=total, max_steps=total,
                         num_train_epochs=config.epochs, logging_steps=logging_steps,
                         eval_steps=args.eval_steps or logging_steps,
                         save_steps=args.save_steps, train_batch_size=config.batch_size)
    state.log_history = history
    trainer.state = state
    model = trainer.model
    model.zero_grad(set_to_none=True)  # train() leaves no gradients behind
    if result.evals and result.evals[-1][0] == total:
        model.eval()  # train() ends in its last evaluation's mode
    _align_special_tokens(trainer)
    return TrainOutput(total, train_loss, metrics)


def _align_special_tokens(trainer: Any) -> None:
    """What `train()` does first with a processing class: the model's configuration takes
    the tokenizer's pad, bos and eos ids (saved with the model)."""
    try:
        from transformers.trainer_utils import align_special_tokens
    except ImportError:  # an older release: train() does not do it either
        return
    if trainer.processing_class is not None:
        align_special_tokens(trainer.model, trainer.processing_class)
