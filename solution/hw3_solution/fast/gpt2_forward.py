"""A lean forward pass of a Hugging Face GPT-2 (plain or wrapped by peft) to next-token logits.

It calls the model's own modules (so LoRA layers take part) with the same arithmetic as
`GPT2LMHeadModel.forward`, but without the library's per-call host work: no padding mask
(rows are right-padded and attention is causal, so a real token never sees a pad), SDPA
with `is_causal=True` (flash attention on CUDA) and a one-kernel tanh GELU, and an output
layer whose vocabulary is padded to a multiple of 64 rows (GPT-2's 50,257 words make the
library fall back to slow unaligned matrix kernels). Pad positions get finite logits that
the loss ignores. Rows may also be packed end to end in one sequence, with a
block-diagonal causal mask and positions restarting per row.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_TANH_GELUS = {"gelu_new", "gelu_pytorch_tanh", "gelu_fast"}
VOCAB_ALIGNMENT = 64  # rows of the output layer's weight, padded to a multiple of this


def gpt2_lm_of(model: torch.nn.Module) -> torch.nn.Module:
    """The `GPT2LMHeadModel` inside `model` (a peft model is unwrapped); clear error otherwise."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    if getattr(config, "model_type", None) != "gpt2" or not hasattr(base, "transformer"):
        raise TypeError(
            f"the fast mode runs GPT-2 language models only, got {type(base).__name__} "
            f"(model_type {getattr(config, 'model_type', None)!r})"
        )
    if config.add_cross_attention:
        raise ValueError("the fast mode does not support GPT-2 with cross-attention")
    return base


def _scaling(config, layer_idx: int) -> float:
    scale = (config.n_embd // config.n_head) ** -0.5 if config.scale_attn_weights else 1.0
    if config.scale_attn_by_inverse_layer_idx:
        scale /= float(layer_idx + 1)
    return scale


def causal_lm_logits(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    positions: torch.Tensor | None = None,
    segments: torch.Tensor | None = None,
) -> torch.Tensor:
    """Logits [batch, seq, vocab] of right-padded `input_ids` [batch, seq].

    For packed rows, `segments` [batch, seq] numbers the row each token belongs to (a token
    attends only to earlier tokens of its own row) and `positions` restart at 0 for each row.
    """
    lm = gpt2_lm_of(model)
    config, transformer = lm.config, lm.transformer
    batch, seq = input_ids.shape
    heads = config.n_head
    head_dim = config.n_embd // heads
    dropout_p = config.attn_pdrop if lm.training else 0.0
    index = torch.arange(seq, device=input_ids.device)
    positions = index if positions is None else positions
    hidden = transformer.drop(transformer.wte(input_ids) + transformer.wpe(positions))
    mask = None
    if segments is not None:
        same_row = segments[:, :, None] == segments[:, None, :]
        mask = (same_row & (index[:, None] >= index[None, :]))[:, None]
    for layer_idx, block in enumerate(transformer.h):
        attn, mlp = block.attn, block.mlp
        query, key, value = attn.c_attn(block.ln_1(hidden)).split(config.n_embd, dim=2)
        query, key, value = (
            part.view(batch, seq, heads, head_dim).transpose(1, 2) for part in (query, key, value)
        )
        context = F.scaled_dot_product_attention(
            query, key, value, attn_mask=mask, dropout_p=dropout_p, is_causal=mask is None,
            scale=_scaling(config, layer_idx),
        )
        context = context.transpose(1, 2).reshape(batch, seq, config.n_embd)
        hidden = hidden + attn.resid_dropout(attn.c_proj(context))
        inner = mlp.c_fc(block.ln_2(hidden))
        if config.activation_function in _TANH_GELUS:
            inner = F.gelu(inner, approximate="tanh")
        else:
            inner = mlp.act(inner)
        hidden = hidden + mlp.dropout(mlp.c_proj(inner))
    return output_logits(lm.lm_head, transformer.ln_f(hidden))


def output_logits(head: torch.nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """`head(hidden)`; a plain bias-free linear layer computes it through its weight padded
    with zero rows to a multiple of `VOCAB_ALIGNMENT`, and the pad logits are sliced off."""
    pad = -head.out_features % VOCAB_ALIGNMENT if type(head) is torch.nn.Linear else 0
    if not pad or head.bias is not None:
        return head(hidden)
    device = hidden.device.type
    weight = head.weight
    if torch.is_autocast_enabled(device):  # pad the low-precision copy, not the fp32 weight
        weight = weight.to(torch.get_autocast_dtype(device))
    return F.linear(hidden, F.pad(weight, (0, 0, 0, pad)))[..., : head.out_features]
