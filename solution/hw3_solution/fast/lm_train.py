"""Fast fine-tuning of a GPT-2 language model with the objective of the handout's `Trainer` run.

Kept from the handout (TrainingArguments defaults plus its given arguments): the batches
(batch 8, a seeded shuffle per epoch, the short last batch), the per-token loss as the
Trainer computes it (transformers >= 4.46 passes `num_items_in_batch`, the count of every
non-pad label, position 0 included, so a step's loss is the batch's summed next-token
cross-entropy over its number of real tokens), AdamW
(lr 5e-5, betas (0.9, 0.999), eps 1e-8, weight decay 0, decay-free biases and LayerNorms),
the linear schedule with 500 warm-up steps over all epochs (step k uses lr * factor(k)),
gradient clipping at norm 1.0, dropout, evaluation after every epoch.

Changed, none of which moves the objective: rows are tokenized once, and each batch's rows
are packed end to end into one sequence (a block-diagonal causal mask, positions restarting
per row) padded to a multiple of `pack_multiple` (512), so a step computes ~800 slots instead
of 8 x 1024 (the handout) or 8 x the longest row; bf16 autocast; SDPA attention; fused AdamW;
on CUDA each packed width's whole step (forward, backward, clipping, AdamW and the
schedule) is captured once as a CUDA graph and replayed, with no host sync until an
evaluation. A batch without any real token gets loss 0 instead of the Trainer's NaN (its
gradient is zero in both).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from hw3_solution.fast.gpt2_forward import causal_lm_logits
from hw3_solution.fast.lm_data import (
    IGNORE_INDEX,
    TokenRows,
    batches_of,
    epoch_orders,
    pack_batches,
)
from hw3_solution.fast.lm_eval import RowLosses, row_losses


@dataclass(frozen=True)
class FastTrainConfig:
    """Settings of a fast run; the defaults are the handout's `TrainingArguments`."""

    epochs: int = 3
    batch_size: int = 8
    learning_rate: float = 5e-5
    warmup_steps: int = 500
    weight_decay: float = 0.0
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    max_grad_norm: float = 1.0
    seed: int = 42
    pack_multiple: int = 512  # few packed widths: few CUDA graphs to warm up and capture
    max_steps: int | None = None  # stop after this many steps; the schedule still spans all epochs
    bf16: bool | None = None  # None: on CUDA only
    cuda_graphs: bool | None = None  # None: on CUDA only
    extra_eval_steps: tuple[int, ...] = ()  # also evaluate after these step counts


@dataclass
class FastTrainResult:
    """What a fast run did: per-step losses, evaluations and timings."""

    step_losses: list[float]
    epoch_train_losses: list[float]
    evals: list[tuple[int, RowLosses]]  # (steps done, per-row losses) after each evaluation
    steps: int
    real_tokens: int
    seconds: float
    capture_seconds: float = 0.0
    graph_widths: list[int] = field(default_factory=list)


def linear_schedule(total_steps: int, warmup_steps: int) -> list[float]:
    """`get_linear_schedule_with_warmup`'s factor for each step 0..total_steps-1."""
    return [
        step / max(1, warmup_steps)
        if step < warmup_steps
        else max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
        for step in range(total_steps)
    ]


def logged_mean(losses: list[float], tokens: list[int]) -> float:
    """The Trainer's logged loss over a window: a step without tokens (NaN there) counts as
    the mean of the window's earlier steps (`logging_nan_inf_filter`)."""
    total = 0.0
    for done, (loss, count) in enumerate(zip(losses, tokens)):
        total += loss if count else total / (1 + done)
    return total / len(losses)


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Trainable parameters, biases and LayerNorm weights without weight decay (as the Trainer)."""
    no_decay = {
        id(param)
        for module in model.modules()
        if isinstance(module, torch.nn.LayerNorm)
        for param in module.parameters(recurse=False)
    }
    decay, plain = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (plain if "bias" in name or id(param) in no_decay else decay).append(param)
    if not decay and not plain:
        raise ValueError("the model has no trainable parameter")
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]


class _Stepper:
    """One optimizer step on a batch, with the lr read on the device from the schedule."""

    def __init__(self, model: torch.nn.Module, config: FastTrainConfig, total_steps: int,
                 device: torch.device, bf16: bool, capturable: bool, pad_id: int) -> None:
        self.model, self.config, self.device, self.bf16 = model, config, device, bf16
        self.pad_id = pad_id
        self.params = [p for p in model.parameters() if p.requires_grad]
        factors = linear_schedule(total_steps, config.warmup_steps) + [0.0]  # last: warm-ups
        self.schedule = torch.tensor(factors, device=device) * config.learning_rate
        self.counter = torch.zeros(1, dtype=torch.long, device=device)
        self.losses = torch.zeros(total_steps + 1, device=device)
        self.warmup_slot = total_steps
        self.optimizer = torch.optim.AdamW(
            _param_groups(model, config.weight_decay),
            lr=torch.zeros((), device=device), betas=config.adam_betas, eps=config.adam_eps,
            fused=True, capturable=capturable,
        )
        self.lr_tensors = list({id(g["lr"]): g["lr"] for g in self.optimizer.param_groups}.values())

    def __call__(self, ids: torch.Tensor, targets: torch.Tensor, positions: torch.Tensor,
                 segments: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=False)
        lr = torch.index_select(self.schedule, 0, self.counter).view(())
        for tensor in self.lr_tensors:
            tensor.copy_(lr)
        autocast = (
            torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=False)
            if self.bf16 else nullcontext()
        )
        with autocast:
            logits = causal_lm_logits(self.model, ids, positions, segments)
        loss_sum = F.cross_entropy(
            logits.flatten(0, 1).float(), targets.flatten(),
            ignore_index=IGNORE_INDEX, reduction="sum",
        )
        real = (segments < self.config.batch_size) & (ids != self.pad_id)
        loss = loss_sum / real.sum().clamp(min=1)
        loss.backward()
        if self.config.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(self.params, self.config.max_grad_norm, foreach=True)
        self.optimizer.step()
        self.losses.index_copy_(0, self.counter, loss.detach().view(1))
        self.counter.add_(1)

    def reset_after_warmup(self) -> None:
        """Forget the warm-up steps (run at lr 0, so the weights never moved)."""
        for state in self.optimizer.state.values():
            for value in state.values():
                if torch.is_tensor(value):
                    value.zero_()
        self.counter.zero_()
        self.losses.zero_()


def _capture(stepper: _Stepper, buffers: dict[int, tuple[torch.Tensor, ...]]
             ) -> dict[int, torch.cuda.CUDAGraph]:
    """Warm each width up at lr 0 on a side stream, then capture one graph per width."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for warmups, tensors in enumerate(buffers.values()):
            for _ in range(2 if warmups == 0 else 1):
                stepper.counter.fill_(stepper.warmup_slot)
                stepper(*tensors)
    torch.cuda.current_stream().wait_stream(side)
    grad_ptrs = [p.grad.data_ptr() for p in stepper.params]
    graphs, pool = {}, None
    for width, tensors in buffers.items():
        stepper.counter.fill_(stepper.warmup_slot)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=pool):
            stepper(*tensors)
        pool = graph.pool()
        graphs[width] = graph
    if [p.grad.data_ptr() for p in stepper.params] != grad_ptrs:
        raise RuntimeError("gradients moved during CUDA graph capture; run with cuda_graphs=False")
    stepper.reset_after_warmup()
    return graphs


def train_causal_lm(
    model: torch.nn.Module,
    train: TokenRows,
    eval_rows: TokenRows | None = None,
    config: FastTrainConfig | None = None,
    orders: Sequence[torch.Tensor] | None = None,
) -> FastTrainResult:
    """Fine-tune `model` (GPT-2, plain or peft) on `train` in place; evaluate after each epoch.

    `orders`: each epoch's shuffled row order (default: `epoch_orders` with the config's
    seed); a Trainer's own order comes from `trainer_recipe.trainer_orders`.
    """
    config = config or FastTrainConfig()
    if len(train) == 0:
        raise ValueError("no training rows")
    device = next(model.parameters()).device
    on_cuda = device.type == "cuda"
    bf16 = on_cuda if config.bf16 is None else config.bf16
    use_graphs = on_cuda if config.cuda_graphs is None else config.cuda_graphs
    if use_graphs and not on_cuda:
        raise ValueError("CUDA graphs need the model on a CUDA device")
    torch.manual_seed(config.seed)

    plan = [
        batch
        for order in (orders if orders is not None
                      else epoch_orders(len(train), config.epochs, config.seed))
        for batch in batches_of(order, config.batch_size)
    ]
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    run_steps = len(plan) if config.max_steps is None else min(config.max_steps, len(plan))
    packed = pack_batches(train, plan[:run_steps], config.batch_size, config.pack_multiple)
    widths = packed.widths
    on_device = [t.to(device) for t in (packed.ids, packed.targets, packed.positions,
                                         packed.segments)]

    model.train()
    stepper = _Stepper(model, config, len(plan), device, bf16, use_graphs, train.pad_id)
    if on_cuda:
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    graphs: dict[int, torch.cuda.CUDAGraph] = {}
    buffers: dict[int, tuple[torch.Tensor, ...]] = {}
    if use_graphs:
        for width in sorted(set(widths)):
            buffers[width] = tuple(t[:1, :width].clone() for t in on_device)
        graphs = _capture(stepper, buffers)
        torch.cuda.synchronize(device)
    capture_seconds = time.perf_counter() - started

    evals: list[tuple[int, RowLosses]] = []
    for step in range(run_steps):
        width = widths[step]
        step_tensors = [t[step : step + 1, :width] for t in on_device]
        if use_graphs:
            for buffer, tensor in zip(buffers[width], step_tensors):
                buffer.copy_(tensor)
            graphs[width].replay()
        else:
            stepper(*step_tensors)
        done = step + 1
        evaluate = done % steps_per_epoch == 0 or done == run_steps
        if eval_rows is not None and (evaluate or done in config.extra_eval_steps):
            evals.append((done, row_losses(model, eval_rows, bf16=bf16)))
            model.train()
    if on_cuda:
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started

    step_losses = stepper.losses[:run_steps].tolist()
    tokens = packed.tokens
    epoch_train_losses = [
        logged_mean(step_losses[i : i + steps_per_epoch], tokens[i : i + steps_per_epoch])
        for i in range(0, run_steps, steps_per_epoch)
    ]
    return FastTrainResult(
        step_losses=step_losses,
        epoch_train_losses=epoch_train_losses,
        evals=evals,
        steps=run_steps,
        real_tokens=sum(tokens),
        seconds=seconds,
        capture_seconds=capture_seconds,
        graph_widths=sorted(graphs),
    )
