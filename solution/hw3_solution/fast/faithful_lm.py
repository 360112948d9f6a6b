"""The faithful mode of Lab 2's fine-tuning, instrumented for the benchmark.

It runs the reference recipe of `hw3_solution.lab_llm` unchanged (rows padded to the
tokenizer's maximum length, `DataCollatorForLanguageModeling`, `Trainer` with the handout's
arguments, fp32) with three additions that change no computation: the shuffled order comes
from the same seeded plan as the fast mode (so both modes see the same batches), a forward
hook keeps each step's loss, and a callback times every step (it may stop the run early,
the schedule still spanning all epochs, to extrapolate the full run from a few steps).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import Sampler
from transformers import TrainerCallback

from hw3_solution import lab_llm
from hw3_solution.fast.gpt2_forward import gpt2_lm_of


class PlanSampler(Sampler[int]):
    """Yields `orders[epoch]`: the seeded shuffle of each epoch, shared with the fast mode."""

    def __init__(self, orders: Sequence[torch.Tensor]) -> None:
        self.orders = [order.tolist() for order in orders]
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.orders[0])

    def __iter__(self):
        order = self.orders[min(self.epoch, len(self.orders) - 1)]
        self.epoch += 1
        return iter(order)


class _Clock(TrainerCallback):
    """Device-synchronized times of training start, each step end and each evaluation."""

    def __init__(self, max_steps: int | None) -> None:
        self.max_steps = max_steps
        self.step_ends: list[float] = []
        self.eval_spans: list[float] = []
        self._epoch_end = 0.0

    @staticmethod
    def now() -> float:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.step_ends.append(self.now())
        if self.max_steps is not None and state.global_step >= self.max_steps:
            control.should_training_stop = True

    def on_epoch_end(self, args, state, control, **kwargs):
        self._epoch_end = self.now()

    def on_evaluate(self, args, state, control, **kwargs):
        self.eval_spans.append(self.now() - self._epoch_end)


@dataclass
class FaithfulRun:
    """A faithful run's timings and losses; `estimated_seconds` extrapolates a cut run."""

    prep_seconds: float
    setup_seconds: float
    step_seconds: float
    eval_seconds: float
    steps_run: int
    total_steps: int
    epochs: int
    wall_seconds: float
    step_losses: list[float]
    eval_losses: list[float]
    train_losses: list[float]

    @property
    def truncated(self) -> bool:
        return self.steps_run < self.total_steps

    @property
    def estimated_seconds(self) -> float:
        """Training time of all epochs: setup + every step + one evaluation per epoch."""
        if not self.truncated:
            return self.wall_seconds
        return (self.setup_seconds + self.total_steps * self.step_seconds
                + self.epochs * self.eval_seconds)


def wikitext_dataset(train_texts: Sequence[str], eval_texts: Sequence[str]):
    """A `DatasetDict` with the handout's `train` and `validation` splits of text rows."""
    from datasets import Dataset, DatasetDict

    return DatasetDict({
        "train": Dataset.from_dict({"text": list(train_texts)}),
        "validation": Dataset.from_dict({"text": list(eval_texts)}),
    })


def prepare_faithful_data(tokenizer, train_texts: Sequence[str], eval_texts: Sequence[str]):
    """`lab_llm.prepare_data` on the rows (padded to the maximum length), and its time."""
    started = time.perf_counter()
    data = lab_llm.prepare_data(
        wikitext_dataset(train_texts, eval_texts),
        lab_llm.bind_tokenizer(lab_llm.tokenize_function, tokenizer), tokenizer,
    )
    return data, time.perf_counter() - started


def trainer_batch_losses(model: torch.nn.Module, data, batches: Sequence[torch.Tensor]
                         ) -> list[float]:
    """The Trainer's loss of each batch at the current weights, without dropout: the handout's
    collated rows (padded to the maximum length, with the attention mask) in fp32, summed
    next-token loss over the count of non-pad labels. A batch without tokens gives NaN."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    losses = []
    with torch.no_grad():
        for rows in batches:
            batch = data.data_collator([data.train_dataset[int(i)] for i in rows])
            labels = batch["labels"].to(device)
            logits = model(input_ids=batch["input_ids"].to(device),
                           attention_mask=batch["attention_mask"].to(device)).logits
            summed = torch.nn.functional.cross_entropy(
                logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), reduction="sum")
            losses.append(summed / labels.ne(-100).sum())
    model.train(was_training)
    return [float(loss) for loss in losses]


def run_faithful_training(
    model: torch.nn.Module,
    data,
    orders: Sequence[torch.Tensor],
    *,
    max_steps: int | None = None,
    output_dir: str | None = None,
    prep_seconds: float = 0.0,
) -> FaithfulRun:
    """Train with `lab_llm.make_trainer` on the plan's batches; stop after `max_steps` steps."""
    step_losses: list[torch.Tensor] = []

    def keep_loss(module, args, output):
        if module.training and getattr(output, "loss", None) is not None:
            step_losses.append(output.loss.detach())

    with tempfile.TemporaryDirectory() as scratch:
        trainer = lab_llm.make_trainer(model, data, output_dir or scratch)
        trainer._get_train_sampler = lambda *args, **kwargs: PlanSampler(orders)
        clock = _Clock(max_steps)
        trainer.add_callback(clock)
        hook = gpt2_lm_of(model).register_forward_hook(keep_loss)
        try:
            started = clock.now()
            trainer.train()
            wall = clock.now() - started
        finally:
            hook.remove()
    history = trainer.state.log_history
    gaps = [b - a for a, b in zip(clock.step_ends, clock.step_ends[1:])]
    step_seconds = statistics.median(gaps[3:] or gaps or [wall])
    setup = clock.step_ends[0] - started - step_seconds if clock.step_ends else wall
    return FaithfulRun(
        prep_seconds=prep_seconds,
        setup_seconds=max(0.0, setup),
        step_seconds=step_seconds,
        eval_seconds=statistics.mean(clock.eval_spans) if clock.eval_spans else 0.0,
        steps_run=trainer.state.global_step,
        total_steps=trainer.state.max_steps,
        epochs=int(trainer.args.num_train_epochs),
        wall_seconds=wall,
        step_losses=[float(loss) for loss in step_losses],
        eval_losses=[entry["eval_loss"] for entry in history if "eval_loss" in entry],
        train_losses=[entry["loss"] for entry in history if "loss" in entry],
    )
