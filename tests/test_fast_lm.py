"""Tests of Lab 2's fast mode (hw3_solution.fast) against the faithful recipe, on the fixtures."""

import math

import pytest
import torch
from hw3_fixtures.sources import DataSource
from hw3_solution import lab_llm
from hw3_solution.fast.faithful_lm import prepare_faithful_data, run_faithful_training
from hw3_solution.fast.gpt2_forward import causal_lm_logits
from hw3_solution.fast.lm_data import (
    TokenRows,
    batches_of,
    bucket_width,
    epoch_orders,
    pack_batches,
    read_wikitext_rows,
    tokenize_rows,
)
from hw3_solution.fast.lm_eval import batch_losses, row_losses
from hw3_solution.fast.lm_train import FastTrainConfig, linear_schedule, train_causal_lm
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

SOURCE = DataSource.fixtures()
NO_DROPOUT = {"resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}


@pytest.fixture(scope="module")
def tokenizer():
    tokenizer = AutoTokenizer.from_pretrained(SOURCE.gpt2_dir)
    tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


@pytest.fixture(scope="module")
def texts():
    """Fixture WikiText rows (blank, heading and text rows) for training and evaluation."""
    train = read_wikitext_rows(SOURCE.wikitext_dir / "wiki.train.raw")[:40]
    valid = read_wikitext_rows(SOURCE.wikitext_dir / "wiki.valid.raw")[:16]
    assert "" in train and any(row.startswith(" = ") for row in train)
    return train, valid


def fixture_model(**overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(SOURCE.gpt2_dir, **overrides)


def test_read_wikitext_rows_as_the_hub_builder(tmp_path):
    path = tmp_path / "wiki.valid.raw"
    path.write_text(" \n = Title = \n Some text .\n", encoding="utf-8")
    assert read_wikitext_rows(path) == ["", " = Title = \n", " Some text .\n"]
    with pytest.raises(FileNotFoundError, match="wiki.missing.raw"):
        read_wikitext_rows(tmp_path / "wiki.missing.raw")


def test_tokenize_rows_truncates_like_the_handout_but_pads_only_to_the_longest(tokenizer):
    long_row = " the ship was built" * 200 + "\n"
    rows = tokenize_rows(tokenizer, ["", " = Title = \n", long_row])
    assert rows.lengths.tolist()[0] == 0 and rows.lengths[2] == tokenizer.model_max_length
    assert rows.ids.shape == (3, tokenizer.model_max_length)
    expected = tokenizer(" = Title = \n")["input_ids"]
    assert rows.ids[1, : len(expected)].tolist() == expected
    assert (rows.ids[1, len(expected):] == tokenizer.pad_token_id).all()
    targets = rows.targets()
    assert targets[1, : len(expected) - 1].tolist() == expected[1:]
    assert (targets[1, len(expected) - 1:] == -100).all() and (targets[0] == -100).all()
    assert rows.real_tokens == int(rows.lengths.sum())


def test_tokenize_rows_needs_a_pad_token():
    bare = AutoTokenizer.from_pretrained(SOURCE.gpt2_dir)
    bare.pad_token = None
    with pytest.raises(ValueError, match="pad_token = tokenizer.eos_token"):
        tokenize_rows(bare, ["text"])


def test_buckets_plan_and_schedule():
    assert [bucket_width(n, 64) for n in (0, 1, 64, 65, 542)] == [64, 64, 64, 128, 576]
    with pytest.raises(ValueError, match="bucket multiple"):
        bucket_width(10, 0)
    first, again = epoch_orders(10, 3, seed=42), epoch_orders(10, 3, seed=42)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert sorted(first[0].tolist()) == list(range(10)) and not torch.equal(first[0], first[1])
    assert [len(b) for b in batches_of(first[0], 4)] == [4, 4, 2]
    factors = linear_schedule(10, 4)
    assert factors[:5] == [0.0, 0.25, 0.5, 0.75, 1.0] and factors[-1] == pytest.approx(1 / 6)


def test_lean_forward_matches_the_model_plain_and_with_lora():
    model = fixture_model().eval()
    ids = torch.randint(0, model.config.vocab_size, (3, 20))
    with torch.no_grad():
        assert torch.allclose(causal_lm_logits(model, ids), model(ids).logits, atol=1e-5)
        lora = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, task_type="CAUSAL_LM"))
        for name, param in lora.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(param)  # adapters that change the output
        lora.eval()
        assert torch.allclose(causal_lm_logits(lora, ids), lora(ids).logits, atol=1e-5)
    with pytest.raises(TypeError, match="GPT-2 language models only"):
        causal_lm_logits(torch.nn.Linear(2, 2), ids)


def test_output_layer_padded_to_aligned_rows_gives_the_same_logits_and_gradients():
    """GPT-2's 50,257 words are not a multiple of 64: the padded path must change nothing."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=1001, n_positions=32, n_embd=32, n_layer=2, n_head=4,
                        **NO_DROPOUT)
    model = GPT2LMHeadModel(config)
    ids = torch.randint(0, config.vocab_size, (2, 12))
    fast = causal_lm_logits(model, ids)
    assert fast.shape == (2, 12, 1001)
    fast.square().mean().backward()
    fast_grad = model.lm_head.weight.grad.clone()
    model.zero_grad()
    reference = model(ids).logits
    reference.square().mean().backward()
    assert torch.allclose(fast, reference, atol=1e-5)
    assert torch.allclose(fast_grad, model.lm_head.weight.grad, atol=1e-6)


def _handout_batch(tokenizer, texts):
    """Rows as the handout's loaders give them: padded to the maximum length, collated."""
    data, _ = prepare_faithful_data(tokenizer, texts, texts)
    return next(iter(torch.utils.data.DataLoader(
        data.train_dataset, batch_size=len(texts), collate_fn=data.data_collator)))


def test_dynamic_padding_gives_the_same_loss_as_padding_to_max_length(tokenizer, texts):
    model = fixture_model().eval()
    batch_texts = texts[0][:8]
    handout = _handout_batch(tokenizer, batch_texts)
    assert handout["input_ids"].shape[1] == tokenizer.model_max_length
    labels = handout["labels"]
    with torch.no_grad():
        # What the Trainer optimises: summed loss over its count of non-pad labels.
        trainer_loss = model(**handout, num_items_in_batch=labels.ne(-100).sum()).loss
        mean_loss = model(**handout).loss  # the model's own mean over predicted tokens
        rows = tokenize_rows(tokenizer, batch_texts)
        assert rows.ids.shape[1] < tokenizer.model_max_length
        for width in (rows.ids.shape[1], bucket_width(rows.ids.shape[1], 64)):
            padded = rows.padded_to(width)
            targets = padded.targets()
            summed = torch.nn.functional.cross_entropy(
                causal_lm_logits(model, padded.ids).flatten(0, 1), targets.flatten(),
                ignore_index=-100, reduction="sum")
            assert float(summed / rows.real_tokens) == pytest.approx(float(trainer_loss), rel=1e-5)
            predicted = int((targets != -100).sum())
            assert float(summed / predicted) == pytest.approx(float(mean_loss), rel=1e-5)
        # The fast mode's training layout: the batch's rows packed end to end.
        packed = pack_batches(rows, [torch.arange(8)], 8, 64)
        assert packed.tokens == [rows.real_tokens] and packed.widths[0] % 64 == 0
        assert (packed.segments[0, rows.real_tokens:] == 8).all()
        logits = causal_lm_logits(model, packed.ids, packed.positions, packed.segments)
        summed = torch.nn.functional.cross_entropy(
            logits.flatten(0, 1), packed.targets.flatten(), ignore_index=-100, reduction="sum")
        assert float(summed / rows.real_tokens) == pytest.approx(float(trainer_loss), rel=1e-5)
        assert batch_losses(model, rows, [torch.arange(8)]) == pytest.approx(
            [float(trainer_loss)], rel=1e-5)


def test_row_losses_give_the_handout_perplexity(tokenizer, texts):
    model = fixture_model()
    data, _ = prepare_faithful_data(tokenizer, texts[0], texts[1])
    expected = lab_llm.evaluate_perplexity(model, data.eval_dataloader)
    model.train()
    losses = row_losses(model, tokenize_rows(tokenizer, texts[1]), token_budget=100)
    assert losses.handout_perplexity() == pytest.approx(expected, rel=1e-5)
    assert losses.per_token_loss() > math.log(expected)  # fewer predicted tokens than mask ones
    assert model.training  # evaluated in eval mode, then left as it was found


@pytest.mark.slow
def test_fast_training_matches_the_trainer_step_by_step(tokenizer, texts, monkeypatch):
    """Same batches, per-token loss, AdamW, schedule and clipping: the same trajectory."""
    monkeypatch.setitem(lab_llm.TRAINING_ARGS, "num_train_epochs", 2)
    monkeypatch.setitem(lab_llm.TRAINING_ARGS, "warmup_steps", 3)
    monkeypatch.setitem(lab_llm.TRAINING_ARGS, "learning_rate", 5e-4)
    train, valid = texts
    orders = epoch_orders(len(train), 2, seed=42)
    data, _ = prepare_faithful_data(tokenizer, train, valid)
    faithful = run_faithful_training(fixture_model(**NO_DROPOUT), data, orders)
    config = FastTrainConfig(epochs=2, warmup_steps=3, learning_rate=5e-4, pack_multiple=32)
    fast = train_causal_lm(fixture_model(**NO_DROPOUT), tokenize_rows(tokenizer, train),
                           tokenize_rows(tokenizer, valid), config)
    assert fast.steps == faithful.steps_run == faithful.total_steps == 10
    assert not faithful.truncated and faithful.estimated_seconds == faithful.wall_seconds
    for step, (a, b) in enumerate(zip(faithful.step_losses, fast.step_losses)):
        if math.isnan(a):  # a batch of blank rows: NaN in the Trainer, no gradient in both
            assert b == 0.0, step
        else:
            # fp32 sums in another order; the tiny model at this lr amplifies them ~10x a step
            assert b == pytest.approx(a, rel=1e-5 if step < 6 else 1e-2), step
    assert abs(fast.step_losses[-1] - fast.step_losses[0]) > 0.1  # the weights did move
    assert [e.trainer_eval_loss(8) for _, e in fast.evals] == pytest.approx(
        faithful.eval_losses, rel=1e-2)
    assert fast.epoch_train_losses == pytest.approx(faithful.train_losses, rel=1e-2)


@pytest.mark.slow
def test_faithful_run_cut_short_is_extrapolated(tokenizer, texts):
    train, valid = texts
    data, _ = prepare_faithful_data(tokenizer, train, valid)
    run = run_faithful_training(fixture_model(), data, epoch_orders(len(train), 3, 42),
                                max_steps=4)
    assert (run.steps_run, run.total_steps, run.truncated) == (4, 15, True)
    assert len(run.step_losses) == 4 and len(run.eval_losses) == 1
    assert run.estimated_seconds == pytest.approx(
        run.setup_seconds + 15 * run.step_seconds + 3 * run.eval_seconds)


def test_lora_fast_training_moves_only_the_adapters(tokenizer, texts):
    torch.manual_seed(0)
    model = get_peft_model(fixture_model(), LoraConfig(r=4, lora_alpha=16, task_type="CAUSAL_LM"))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    config = FastTrainConfig(epochs=1, warmup_steps=1, learning_rate=1e-2, max_steps=3,
                             extra_eval_steps=(2,))
    result = train_causal_lm(model, tokenize_rows(tokenizer, texts[0]),
                             tokenize_rows(tokenizer, texts[1]), config)
    assert result.steps == 3 and [step for step, _ in result.evals] == [2, 3]
    for name, param in model.named_parameters():
        moved = not torch.equal(before[name], param.detach())
        if "lora_B" in name:
            assert moved, name  # B starts at zero and gets a gradient from the first step
        elif "lora_" not in name:
            assert not moved, name


def test_train_causal_lm_rejects_bad_input(tokenizer):
    model = fixture_model()
    empty = TokenRows(torch.zeros((0, 1), dtype=torch.long), torch.zeros(0, dtype=torch.long), 0)
    with pytest.raises(ValueError, match="no training rows"):
        train_causal_lm(model, empty)
    rows = tokenize_rows(tokenizer, [" a row .\n"])
    with pytest.raises(ValueError, match="CUDA graphs need the model on a CUDA device"):
        train_causal_lm(model, rows, config=FastTrainConfig(cuda_graphs=True))
