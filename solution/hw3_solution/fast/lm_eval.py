"""Evaluation of a GPT-2 language model in the fast mode, in the handout's two protocols.

Each row's loss is independent of the rows beside it (causal attention, right padding,
pad labels ignored), so rows are evaluated in length-sorted chunks and the sums are then
grouped as the handout's loaders would group them.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from hw3_solution.fast.gpt2_forward import causal_lm_logits
from hw3_solution.fast.lm_data import IGNORE_INDEX, TokenRows, pack_batches


@dataclass(frozen=True)
class RowLosses:
    """Per-row summed next-token cross-entropy, predicted-token counts and row lengths."""

    sums: torch.Tensor
    counts: torch.Tensor
    lengths: torch.Tensor

    def per_token_loss(self) -> float:
        """Total loss over total predicted tokens."""
        return float(self.sums.sum() / self.counts.sum().clamp(min=1))

    def trainer_eval_loss(self, batch_size: int) -> float:
        """`Trainer.evaluate()`'s eval_loss in transformers 5.x: the row-weighted mean over
        batches of consecutive rows of (summed loss / real tokens of the batch).

        A batch without any token is left out (the Trainer would report NaN).
        """
        per_batch = [
            (len(s), float(s.sum() / n.sum()))
            for s, n in zip(self.sums.split(batch_size), self.lengths.split(batch_size))
            if n.sum() > 0
        ]
        if not per_batch:
            raise ValueError("no evaluation batch holds a token")
        return sum(rows * loss for rows, loss in per_batch) / sum(rows for rows, _ in per_batch)

    def handout_perplexity(self) -> float:
        """`evaluate_perplexity`'s value: exp(summed loss / summed attention mask)."""
        return math.exp(float(self.sums.sum() / self.lengths.sum().clamp(min=1)))


def row_losses(
    model: torch.nn.Module,
    rows: TokenRows,
    *,
    token_budget: int = 8192,
    bf16: bool | None = None,
) -> RowLosses:
    """Evaluate every row (eval mode, no grad) in length-sorted chunks of <= token_budget slots."""
    device = next(model.parameters()).device
    bf16 = device.type == "cuda" if bf16 is None else bf16
    ids = rows.ids.to(device)
    targets = rows.targets().to(device)
    order = torch.argsort(rows.lengths, descending=True, stable=True)
    sums = torch.zeros(len(rows), dtype=torch.float32, device=device)
    counts = torch.zeros(len(rows), dtype=torch.long, device=device)
    lengths_sorted = rows.lengths[order].tolist()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    was_training = model.training
    model.eval()
    start = 0
    with torch.inference_mode(), autocast:
        while start < len(rows):
            width = max(1, lengths_sorted[start])
            stop = min(len(rows), start + max(1, token_budget // width))
            chunk = order[start:stop].to(device)
            chunk_targets = targets[chunk, :width]
            logits = causal_lm_logits(model, ids[chunk, :width])
            losses = F.cross_entropy(
                logits.flatten(0, 1).float(), chunk_targets.flatten(),
                ignore_index=IGNORE_INDEX, reduction="none",
            )
            sums[chunk] = losses.view(chunk_targets.shape).sum(dim=1)
            counts[chunk] = (chunk_targets != IGNORE_INDEX).sum(dim=1)
            start = stop
    model.train(was_training)
    return RowLosses(sums.cpu(), counts.cpu(), rows.lengths.clone())


def batch_losses(
    model: torch.nn.Module,
    rows: TokenRows,
    batches: list[torch.Tensor],
    *,
    batch_size: int = 8,
    pack_multiple: int = 256,
    bf16: bool | None = None,
) -> list[float]:
    """The training objective of each batch at the current weights, without dropout, in the
    fast mode's arithmetic (rows packed, bf16 on CUDA): summed next-token loss over the
    batch's real tokens. A batch without tokens gives NaN (the Trainer's value for it)."""
    device = next(model.parameters()).device
    bf16 = device.type == "cuda" if bf16 is None else bf16
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    packed = pack_batches(rows, batches, batch_size, pack_multiple)
    tensors = [t.to(device) for t in (packed.ids, packed.targets, packed.positions,
                                      packed.segments)]
    was_training = model.training
    model.eval()
    losses = []
    with torch.inference_mode(), autocast:
        for step, width in enumerate(packed.widths):
            ids, targets, positions, segments = (t[step : step + 1, :width] for t in tensors)
            summed = F.cross_entropy(
                causal_lm_logits(model, ids, positions, segments).flatten(0, 1).float(),
                targets.flatten(), ignore_index=IGNORE_INDEX, reduction="sum",
            )
            real = (segments < batch_size) & (ids != rows.pad_id)
            losses.append(summed / real.sum())
    model.train(was_training)
    return [float(loss) for loss in losses]
