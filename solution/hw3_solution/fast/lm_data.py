"""WikiText rows tokenized once into tensors, and the seeded batch plan of the fast mode."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

IGNORE_INDEX = -100


def read_wikitext_rows(path: str | Path) -> list[str]:
    """The rows of a WikiText raw file as the Hugging Face `wikitext` builder yields them.

    A blank line becomes "", any other line is kept with its trailing newline.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"WikiText raw file not found: {str(path)!r}")
    with path.open(encoding="utf-8") as handle:
        return [line if line.strip() else "" for line in handle]


@dataclass(frozen=True)
class TokenRows:
    """Token ids of text rows, right-padded with `pad_id` to the longest row, and the lengths."""

    ids: torch.Tensor
    lengths: torch.Tensor
    pad_id: int

    def __len__(self) -> int:
        return self.ids.shape[0]

    @property
    def real_tokens(self) -> int:
        """The number of real (non-pad) tokens over all rows."""
        return int(self.lengths.sum())

    def targets(self) -> torch.Tensor:
        """Next-token targets: `ids` shifted left by one, pad positions and the last set to -100.

        Pad positions are found by id, as `DataCollatorForLanguageModeling(mlm=False)` does.
        """
        targets = torch.full_like(self.ids, IGNORE_INDEX)
        following = self.ids[:, 1:]
        targets[:, :-1] = following.masked_fill(following == self.pad_id, IGNORE_INDEX)
        return targets

    def padded_to(self, width: int) -> TokenRows:
        """The same rows padded (never cut) to `width` columns."""
        if width < self.ids.shape[1]:
            raise ValueError(f"cannot pad rows of width {self.ids.shape[1]} down to {width}")
        extra = width - self.ids.shape[1]
        ids = torch.nn.functional.pad(self.ids, (0, extra), value=self.pad_id)
        return TokenRows(ids, self.lengths, self.pad_id)


def tokenize_rows(tokenizer, texts: Sequence[str], max_length: int | None = None) -> TokenRows:
    """Tokenize `texts` once, truncated like the handout (to `tokenizer.model_max_length`).

    Unlike the handout, rows are not padded to the maximum length: pad labels are ignored,
    so padding only to the longest row changes no loss.
    """
    if tokenizer.pad_token_id is None:
        raise ValueError(
            "the tokenizer has no pad token; set tokenizer.pad_token = tokenizer.eos_token "
            "as the handout does"
        )
    max_length = max_length or tokenizer.model_max_length
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    lengths = torch.tensor([len(row) for row in encoded], dtype=torch.long)
    width = max(1, int(lengths.max())) if len(encoded) else 1
    ids = torch.full((len(encoded), width), tokenizer.pad_token_id, dtype=torch.long)
    for row, tokens in enumerate(encoded):
        ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
    return TokenRows(ids, lengths, tokenizer.pad_token_id)


def bucket_width(length: int, multiple: int) -> int:
    """`length` rounded up to a multiple of `multiple` (at least one multiple): static widths."""
    if multiple < 1:
        raise ValueError(f"bucket multiple must be >= 1, got {multiple}")
    return multiple * max(1, math.ceil(length / multiple))


def epoch_orders(n_rows: int, epochs: int, seed: int) -> list[torch.Tensor]:
    """One seeded random permutation of the rows per epoch (the shuffled training order)."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randperm(n_rows, generator=generator) for _ in range(epochs)]


def batches_of(order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Split one epoch's order into batches (the last one may be short, as drop_last=False)."""
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    return list(order.split(batch_size))


@dataclass(frozen=True)
class PackedBatches:
    """Training batches with each batch's rows laid end to end in one sequence [steps, width].

    `positions` restart at 0 for every row, `segments` number the batch's rows (padding slots
    get the batch size), `targets` are each row's next tokens (-100 at a row's end, at pad ids
    and in padding). `widths` holds each step's length, a multiple of the packing multiple.
    """

    ids: torch.Tensor
    targets: torch.Tensor
    positions: torch.Tensor
    segments: torch.Tensor
    widths: list[int]
    tokens: list[int]  # real tokens of each batch


def pack_batches(rows: TokenRows, batches: Sequence[torch.Tensor], batch_size: int,
                 multiple: int) -> PackedBatches:
    """Pack every batch of row indices (at most `batch_size` rows) into one padded sequence."""
    targets = rows.targets()
    lengths = rows.lengths.tolist()
    tokens = [sum(lengths[i] for i in batch.tolist()) for batch in batches]
    widths = [bucket_width(total, multiple) for total in tokens]
    shape = (len(batches), max(widths, default=multiple))
    out_ids = torch.full(shape, rows.pad_id, dtype=torch.long)
    out_targets = torch.full(shape, IGNORE_INDEX, dtype=torch.long)
    out_positions = torch.zeros(shape, dtype=torch.long)
    out_segments = torch.full(shape, batch_size, dtype=torch.long)
    for step, batch in enumerate(batches):
        if len(batch) > batch_size:
            raise ValueError(f"a batch of {len(batch)} rows exceeds batch size {batch_size}")
        start = 0
        for segment, row in enumerate(batch.tolist()):
            stop = start + lengths[row]
            out_ids[step, start:stop] = rows.ids[row, : lengths[row]]
            out_targets[step, start:stop] = targets[row, : lengths[row]]
            out_positions[step, start:stop] = torch.arange(lengths[row])
            out_segments[step, start:stop] = segment
            start = stop
    return PackedBatches(out_ids, out_targets, out_positions, out_segments, widths, tokens)
