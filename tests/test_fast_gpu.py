"""CUDA-only tests of the fast mode: captured CUDA-graph steps equal eager steps."""

import math

import pytest
import torch
from hw3_fixtures.sources import DataSource
from hw3_solution.fast.lm_data import read_wikitext_rows, tokenize_rows
from hw3_solution.fast.lm_eval import batch_losses
from hw3_solution.fast.lm_train import FastTrainConfig, train_causal_lm
from transformers import AutoModelForCausalLM, AutoTokenizer

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
SOURCE = DataSource.fixtures()


def _run(rows, eval_rows, **config) -> tuple:
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(
        SOURCE.gpt2_dir, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0).cuda()
    result = train_causal_lm(model, rows, eval_rows, FastTrainConfig(
        **{"epochs": 2, "warmup_steps": 5, "learning_rate": 1e-3, "pack_multiple": 64,
           **config}))
    return result, model


def test_cuda_graph_steps_equal_eager_steps():
    tokenizer = AutoTokenizer.from_pretrained(SOURCE.gpt2_dir)
    tokenizer.pad_token = tokenizer.eos_token
    rows = tokenize_rows(tokenizer, read_wikitext_rows(SOURCE.wikitext_dir / "wiki.train.raw")[:96])
    eval_rows = tokenize_rows(tokenizer,
                              read_wikitext_rows(SOURCE.wikitext_dir / "wiki.valid.raw")[:32])
    eager, eager_model = _run(rows, eval_rows, cuda_graphs=False, bf16=False)
    graphed, graphed_model = _run(rows, eval_rows, cuda_graphs=True, bf16=False)
    assert graphed.graph_widths and not eager.graph_widths
    assert graphed.step_losses == pytest.approx(eager.step_losses, rel=1e-4, abs=1e-6)
    for (name, a), b in zip(eager_model.named_parameters(), graphed_model.parameters()):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-5), name
    # bf16 against fp32 at the same weights (trajectories of this tiny model at this lr
    # amplify rounding, so they are compared in the benchmark at the real size instead).
    batches = [b for b in torch.arange(96).split(8) if rows.lengths[b].sum() > 0]
    fp32_losses = batch_losses(eager_model, rows, batches, bf16=False)
    assert batch_losses(eager_model, rows, batches, bf16=True) == pytest.approx(
        fp32_losses, rel=1e-2)
    # bf16 autocast and graphs, at the handout's learning rate (at 1e-3 this 2-layer model's
    # bf16 trajectory diverged to non-finite losses on the H200, 2026-11-30)
    default, _ = _run(rows, eval_rows, learning_rate=5e-5)
    assert all(math.isfinite(loss) for loss in default.step_losses)


def test_a_recipe_trainer_on_cuda_trains_to_the_faithful_losses(tmp_path):
    """The grader's fast path on the GPU (bf16, CUDA graphs): the Trainer's own batches give
    per-epoch training losses within 1% and a final evaluation loss within 2% of the
    Trainer's own train() (tests/test_fast_recipe.py holds the CPU version)."""
    from hw3_solution.fast.trainer_recipe import fast_train
    from test_fast_recipe import make_trainer, recipe_data

    data = recipe_data()
    faithful = make_trainer(data, tmp_path, "faithful")
    faithful.train()
    fast = make_trainer(data, tmp_path, "fast")
    output, why = fast_train(fast)
    assert why is None and output.global_step == faithful.state.global_step
    for key, tolerance in (("loss", 0.01), ("eval_loss", 0.02)):
        want = [e[key] for e in faithful.state.log_history if key in e]
        got = [e[key] for e in fast.state.log_history if key in e]
        assert got == pytest.approx(want, rel=tolerance), key

