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
import time
from typing import Any

import torch

from hw3_solution.fast.lm_data import TokenRows, batches_of
from hw3_solution.fast.lm_train import (
    FastTrainConfig,
    FastTrainResult,
    linear_schedule,
    train_causal_lm,
)

IGNORE = -100
CHECKED_BATCHES = 4  # batches of the first epoch run through the student's collator
# TrainingArguments that must keep these values (their defaults): each changes the batches,
# the objective or the optimizer in a way the fast mode does not reproduce.
FIXED_ARGUMENTS = {
    "gradient_accumulation_steps": 1,
    "label_smoothing_factor": 0.0,
    "neftune_noise_alpha": None,
    "dataloader_drop_last": False,
    "group_by_length": False,
    "full_determinism": False,
    "eval_on_start": False,
    "load_best_model_at_end": False,
    "past_index": -1,
}
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
    if trainer.optimizer is not None or trainer.lr_scheduler is not None:
        return WHY["own_optimizer"]
    plain = (DefaultFlowCallback, PrinterCallback, ProgressCallback, NotebookProgressCallback)
    if any(not isinstance(c, plain) for c in trainer.callback_handler.callbacks):
        return WHY["callbacks"]
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


def _collator_deviation(trainer: Any, rows: TokenRows, batches: list[torch.Tensor]
                        ) -> str | None:
    """The student's collator on the first batches: its input ids must be the rows (any
    padding after them must be the pad id) and its labels the ids with pads set to -100."""
    for batch in batches[:CHECKED_BATCHES]:
        features = [trainer.train_dataset[int(i)] for i in batch]
        collated = trainer.data_collator(features)
        ids, labels = collated.get("input_ids"), collated.get("labels")
        if not isinstance(ids, torch.Tensor) or not isinstance(labels, torch.Tensor):
            return WHY["collator_output"]
        width = rows.ids.shape[1]
        expected = torch.full((len(batch), max(width, ids.shape[1])), rows.pad_id)
        expected[:, :width] = rows.ids[batch]
        if ids.shape[1] < width or not torch.equal(ids.cpu(), expected[:, :ids.shape[1]]):
            return WHY["collator_ids"]
        if not torch.equal(labels.cpu(), ids.cpu().masked_fill(ids.cpu() == rows.pad_id,
                                                                IGNORE)):
            return WHY["labels"]
    return None


def trainer_orders(trainer: Any, epochs: int) -> list[torch.Tensor]:
    """The shuffled row order of each epoch as the Trainer's own train dataloader draws it
    (its sampler, seeded as `train()` would seed it, epoch by epoch)."""
    loader = trainer.get_train_dataloader()
    orders = []
    for epoch in range(epochs):
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        sampler = getattr(loader, "batch_sampler", None)
        inner = getattr(sampler, "batch_sampler", None)
        for target in (sampler, inner, getattr(sampler, "sampler", None)):
            if hasattr(target, "set_epoch"):
                target.set_epoch(epoch)
        orders.append(torch.tensor([int(i) for batch in sampler for i in batch]))
    return orders


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


class _Plan:
    """What a recognised run trains on."""

    def __init__(self, rows: TokenRows, eval_rows: TokenRows | None, orders: list[torch.Tensor],
                 config: FastTrainConfig) -> None:
        self.rows, self.eval_rows, self.orders, self.config = rows, eval_rows, orders, config


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
    batch = args.per_device_train_batch_size
    orders = trainer_orders(trainer, epochs)
    if any(sorted(o.tolist()) != list(range(len(rows))) for o in orders):
        return WHY["sampler"]
    why = _collator_deviation(trainer, rows, batches_of(orders[0], batch))
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
    ``(None, why)`` with the Trainer as it was (its weights put back if the fast run
    failed midway): the caller then runs the student's own ``train()``. ``why`` is one of
    `REASONS`."""
    if args or kwargs:
        return None, WHY["arguments"]
    # Reading the Trainer runs the student's collator: whatever it draws from torch's
    # generators is given back, so a run left to train() draws what it would have drawn.
    cpu_rng = torch.random.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        plan = plan_fast_run(trainer)
    except Exception:  # noqa: BLE001 - an odd Trainer is the student's train()'s business
        plan = WHY["unreadable_trainer"]
    if isinstance(plan, str):
        torch.random.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        return None, plan
    model = trainer.model.to(trainer.args.device)
    before = {name: value.detach().clone() for name, value in model.state_dict().items()}
    started = time.time()
    try:
        result = train_causal_lm(model, plan.rows, plan.eval_rows, plan.config,
                                 orders=plan.orders)
    except Exception:  # noqa: BLE001 - a fault of the fast mode must not cost the student
        model.load_state_dict(before)
        return None, WHY["failed"]
    return _leave_state(trainer, plan, result, time.time() - started), None


def _log_windows(args: Any, total: int, per_epoch: int) -> list[int]:
    """The steps after which `train()` logs the training loss."""
    strategy = _name(args.logging_strategy)
    if strategy == "epoch":
        return list(range(per_epoch, total + 1, per_epoch))
    if strategy == "no":
        return []
    every = args.logging_steps if args.logging_steps >= 1 else math.ceil(total *
                                                                        args.logging_steps)
    first = [1] if args.logging_first_step else []
    return sorted({*first, *range(int(every), total + 1, int(every))})


def _leave_state(trainer: Any, plan: _Plan, result: FastTrainResult, seconds: float) -> Any:
    """``trainer.state`` and the `TrainOutput` as `train()` leaves them."""
    from transformers.trainer_callback import TrainerState
    from transformers.trainer_utils import TrainOutput

    args, config = trainer.args, plan.config
    per_epoch = math.ceil(len(plan.rows) / config.batch_size)
    total = result.steps
    losses = result.step_losses
    # the learning rate logged after s steps: the one step s - 1 ran at
    lr_at = [0.0, *(config.learning_rate * f
                    for f in linear_schedule(total, config.warmup_steps))]
    history: list[dict[str, float]] = []
    events = [(s, "log") for s in _log_windows(args, total, per_epoch)]
    events += [(s, "eval") for s, _ in result.evals]
    last = 0
    evals = dict(result.evals)
    for step, kind in sorted(events, key=lambda e: (e[0], e[1] == "eval")):
        epoch = step / per_epoch
        if kind == "log":
            window = [x if math.isfinite(x) else 0.0 for x in losses[last:step]]
            history.append({"loss": sum(window) / max(1, step - last),
                            "learning_rate": lr_at[step], "epoch": epoch, "step": step})
            last = step
        else:
            history.append({"eval_loss": evals[step].trainer_eval_loss(
                args.per_device_eval_batch_size), "epoch": epoch, "step": step})
    train_loss = sum(x for x in losses if math.isfinite(x)) / max(1, total)
    metrics = {"train_runtime": round(seconds, 4),
               "train_samples_per_second": round(len(plan.rows) * config.epochs / seconds, 3),
               "train_steps_per_second": round(total / seconds, 3),
               "total_flos": 0.0, "train_loss": train_loss, "epoch": float(config.epochs)}
    history.append({**metrics, "step": total})
    state = TrainerState(epoch=float(config.epochs), global_step=total, max_steps=total,
                         num_train_epochs=config.epochs, logging_steps=args.logging_steps,
                         eval_steps=args.eval_steps, save_steps=args.save_steps,
                         train_batch_size=config.batch_size)
    state.log_history = history
    trainer.state = state
    return TrainOutput(total, train_loss, metrics)

