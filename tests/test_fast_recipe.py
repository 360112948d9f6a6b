"""The fast path of a student's Trainer (hw3_solution.fast.trainer_recipe), on the CPU with
the fixture GPT-2: the handout's recipe trains on the Trainer's own batches in its own order
to the same losses and leaves the Trainer as `train()` does; anything else is left alone
with a reason the grader may show."""

from __future__ import annotations

import math

import pytest
import torch
from datasets import Dataset, DatasetDict
from hw3_fixtures.sources import DataSource
from hw3_solution import lab_llm
from hw3_solution.fast import trainer_recipe
from hw3_solution.fast.lm_data import read_wikitext_rows
from hw3_solution.fast.trainer_recipe import REASONS, WHY, fast_train, trainer_batches
from peft import LoraConfig, get_peft_model
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    default_data_collator,
    set_seed,
)

SOURCE = DataSource.fixtures()
NO_DROPOUT = {"resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}
RECIPE = {"num_train_epochs": 3, "per_device_train_batch_size": 8,
          "per_device_eval_batch_size": 8, "warmup_steps": 5, "eval_strategy": "epoch",
          "logging_strategy": "epoch", "seed": 42, "report_to": "none", "save_strategy": "no"}


@pytest.fixture(scope="module")
def data():
    return recipe_data()


def recipe_data():
    """The handout's (b) on 60 fixture train rows and 20 validation rows."""
    tokenizer = AutoTokenizer.from_pretrained(SOURCE.gpt2_dir)
    tokenizer.pad_token = tokenizer.eos_token
    raw = DatasetDict({
        "train": Dataset.from_dict(
            {"text": read_wikitext_rows(SOURCE.wikitext_dir / "wiki.train.raw")[:60]}),
        "validation": Dataset.from_dict(
            {"text": read_wikitext_rows(SOURCE.wikitext_dir / "wiki.valid.raw")[:20]}),
    })
    return lab_llm.prepare_data(
        raw, lab_llm.bind_tokenizer(lab_llm.tokenize_function, tokenizer), tokenizer)


def make_trainer(data, tmp_path, name: str = "run", lora: bool = False,
                 trainer_class: type = Trainer, model_overrides: dict | None = None,
                 **overrides) -> Trainer:
    set_seed(42)
    model = AutoModelForCausalLM.from_pretrained(SOURCE.gpt2_dir,
                                                 **(NO_DROPOUT if model_overrides is None
                                                    else model_overrides))
    if lora:
        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                                 bias="none", task_type="CAUSAL_LM"))
    collator = overrides.pop("data_collator", data.data_collator)
    args = TrainingArguments(output_dir=str(tmp_path / name), **{**RECIPE, **overrides})
    return trainer_class(model=model, args=args, data_collator=collator,
                         train_dataset=data.train_dataset, eval_dataset=data.eval_dataset)


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_the_order_is_the_batches_train_draws(data, tmp_path):
    trainer = make_trainer(data, tmp_path, eval_strategy="no")  # only training batches
    drawn = trainer_batches(trainer.get_train_dataloader(), 3)
    seen = []
    collate = trainer.data_collator

    def recording(features):
        batch = collate(features)
        seen.append(batch["input_ids"])
        return batch

    trainer.data_collator = recording
    trainer.train()
    rows = torch.stack([data.train_dataset[i]["input_ids"] for i in range(len(
        data.train_dataset))])
    batches = [rows[batch] for epoch in drawn for batch in epoch]
    assert len(batches) == len(seen) == 24
    assert all(torch.equal(a, b) for a, b in zip(batches, seen))
    assert not torch.equal(drawn[0][0], drawn[1][0])  # a new shuffle each epoch


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_the_recipe_trains_to_the_losses_train_gives(data, tmp_path, lora):
    """Without dropout, on the CPU in fp32: every logged loss, learning rate and evaluation
    of the fast run equals the Trainer's own run's, and so do the weights."""
    faithful = make_trainer(data, tmp_path, "faithful", lora=lora)
    expected = faithful.train()
    fast = make_trainer(data, tmp_path, "fast", lora=lora)
    output, why = fast_train(fast)
    assert why is None
    assert output.global_step == expected.global_step == 24
    assert math.isclose(output.training_loss, expected.training_loss, rel_tol=1e-4)
    assert fast.state.global_step == faithful.state.global_step
    assert fast.state.epoch == faithful.state.epoch == 3
    keys = ("loss", "eval_loss", "learning_rate", "epoch", "step")
    want = [{k: e[k] for k in keys if k in e} for e in faithful.state.log_history]
    got = [{k: e[k] for k in keys if k in e} for e in fast.state.log_history]
    assert [sorted(e) for e in got] == [sorted(e) for e in want]
    for a, b in zip(got, want):
        for key in a:
            assert math.isclose(a[key], b[key], rel_tol=1e-4, abs_tol=1e-12), (key, a, b)
    trained, reference = weights(fast.model), weights(faithful.model)
    assert all(torch.allclose(trained[k], reference[k], atol=1e-4) for k in reference)
    assert fast.model.training == faithful.model.training  # the last evaluation's mode
    assert all(p.grad is None for p in fast.model.parameters())


def test_the_batch_size_is_the_one_train_uses(data, tmp_path):
    """The Trainer fixes its batch size when it is made; arguments changed later do not
    move it, in train() or in the fast path."""
    faithful = make_trainer(data, tmp_path, "faithful")
    faithful.args.per_device_train_batch_size = 4
    faithful.train()
    fast = make_trainer(data, tmp_path, "fast")
    fast.args.per_device_train_batch_size = 4
    assert fast_train(fast)[0].global_step == faithful.state.global_step == 24


def test_with_dropout_the_final_evaluation_is_within_two_percent(data, tmp_path):
    faithful = make_trainer(data, tmp_path, "faithful", model_overrides={})
    faithful.train()
    fast = make_trainer(data, tmp_path, "fast", model_overrides={})
    assert fast_train(fast)[1] is None
    final = [[e["eval_loss"] for e in t.state.log_history if "eval_loss" in e][-1]
             for t in (faithful, fast)]
    assert math.isclose(*final, rel_tol=0.02), final


class _Subclass(Trainer):
    pass


class _Stopper(TrainerCallback):
    pass


class _QuietStopper(PrinterCallback):
    """A subclass of a callback the recipe allows: its own code is not the Trainer's."""

    def on_step_end(self, args, state, control, **kwargs):
        control.should_training_stop = state.global_step >= 2


DEVIATIONS = {
    "no collator": ({"data_collator": default_data_collator}, WHY["labels"]),
    "subclass": ({"trainer_class": _Subclass}, WHY["subclass"]),
    "accumulation": ({"gradient_accumulation_steps": 2},
                     "TrainingArguments(gradient_accumulation_steps) other than 1"),
    "max_steps": ({"max_steps": 5}, WHY["epochs"]),
    "cosine": ({"lr_scheduler_type": "cosine"}, WHY["schedule"]),
    "eval steps": ({"eval_strategy": "steps", "eval_steps": 4}, WHY["eval_strategy"]),
    "no clipping": ({"max_grad_norm": 0.0}, WHY["clipping"]),
    "epoch checkpoints": ({"save_strategy": "epoch"}, WHY["save_strategy"]),
    "compiled": ({"torch_compile": True}, "TrainingArguments(torch_compile) other than False"),
}


@pytest.mark.parametrize("case", DEVIATIONS, ids=list(DEVIATIONS))
def test_any_deviation_is_left_to_train_with_its_reason(data, tmp_path, case):
    overrides, reason = DEVIATIONS[case]
    trainer = make_trainer(data, tmp_path, **overrides)
    before, state = weights(trainer.model), trainer.state
    rng = torch.random.get_rng_state()
    assert fast_train(trainer) == (None, reason)
    assert torch.equal(torch.random.get_rng_state(), rng)  # train() draws as it would have
    assert reason in REASONS
    assert trainer.state is state and trainer.state.global_step == 0
    after = weights(trainer.model)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_a_callback_or_arguments_to_train_are_left_alone(data, tmp_path):
    for callback in (_Stopper(), _QuietStopper()):
        trainer = make_trainer(data, tmp_path)
        trainer.add_callback(callback)
        assert fast_train(trainer) == (None, WHY["callbacks"])
    trainer = make_trainer(data, tmp_path)
    assert fast_train(trainer, resume_from_checkpoint=False) == (None, WHY["arguments"])


def test_a_trainer_the_fast_path_cannot_read_is_left_to_train(data, tmp_path):
    def broken(features):
        raise ValueError("a collator of the student's that fails")

    trainer = make_trainer(data, tmp_path, data_collator=broken)
    assert fast_train(trainer) == (None, WHY["unreadable_trainer"])


def test_a_failure_midway_puts_the_weights_back(data, tmp_path, monkeypatch):
    trainer = make_trainer(data, tmp_path)
    before = weights(trainer.model)

    def breaks(model, *args, **kwargs):
        with torch.no_grad():
            next(model.parameters()).add_(1.0)
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(trainer_recipe, "train_causal_lm", breaks)
    assert fast_train(trainer) == (None, WHY["failed"])
    after = weights(trainer.model)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_rows_the_fast_mode_cannot_take_are_named():
    ids = torch.tensor([[5, 6, 0, 0], [7, 0, 0, 0]])
    assert trainer_recipe.token_rows(Dataset.from_dict({"input_ids": ids.tolist()}), 0,
                                     1024).lengths.tolist() == [4, 4]
    holes = {"input_ids": ids.tolist(), "attention_mask": [[1, 0, 1, 0], [1, 0, 0, 0]]}
    assert trainer_recipe.token_rows(Dataset.from_dict(holes), 0, 1024) == WHY["mask"]
    ragged = Dataset.from_dict({"input_ids": [[5, 6], [7]]})
    assert trainer_recipe.token_rows(ragged, 0, 1024) == WHY["ragged"]
    masked = {"input_ids": ids.tolist(), "attention_mask": [[1, 1, 0, 0], [1, 0, 0, 0]]}
    assert trainer_recipe.token_rows(Dataset.from_dict(masked), 1, 1024) == WHY["pad_id"]
    assert trainer_recipe.token_rows(Dataset.from_dict(masked), 0, 1) == WHY["too_long"]
    assert trainer_recipe.token_rows(Dataset.from_dict({"text": ["a"]}), 0, 9) \
        == WHY["no_input_ids"]


def test_what_the_trainer_was_given_besides_the_recipe_is_left_alone(data, tmp_path):
    trainer = make_trainer(data, tmp_path)
    trainer.compute_metrics = lambda prediction: {"zero": 0.0}
    assert fast_train(trainer) == (None, WHY["metrics"])
    trainer = make_trainer(data, tmp_path)
    trainer.optimizer_cls_and_kwargs = (torch.optim.SGD, {"lr": 0.0})
    assert fast_train(trainer) == (None, WHY["own_optimizer"])
    trainer = make_trainer(data, tmp_path)
    trainer.model = AutoModelForCausalLM.from_pretrained(SOURCE.gpt2_dir)
    assert fast_train(trainer) == (None, WHY["model_replaced"])


def test_a_second_train_call_is_left_to_train(data, tmp_path):
    trainer = make_trainer(data, tmp_path)
    assert fast_train(trainer)[1] is None
    assert fast_train(trainer) == (None, WHY["second_call"])


def test_extra_model_inputs_are_left_alone(data, tmp_path):
    with_types = data.train_dataset.map(
        lambda row: {"token_type_ids": [1] * len(row["input_ids"])})
    trainer = make_trainer(data, tmp_path)
    trainer.train_dataset = with_types
    assert fast_train(trainer) == (None, WHY["extra_inputs"])


def test_a_notebook_reading_checkpoints_is_left_to_train(data, tmp_path, monkeypatch):
    """The plug-in marks a notebook whose code names checkpoints (only train() writes
    them): the kernel record's FAST_OFF (grader/hw3_plugin/plugin.py, FAST_OFF)."""
    import sys
    import types

    import nbformat
    from hw3_plugin.plugin import FAST_OFF, _reads_checkpoints

    record = types.ModuleType("hw3_kernel_record")
    monkeypatch.setitem(sys.modules, "hw3_kernel_record", record)
    exec(FAST_OFF, {})  # noqa: S102 - the grader's own startup text
    trainer = make_trainer(data, tmp_path)
    assert fast_train(trainer) == (None, WHY["checkpoints"])

    class Notebook:
        def __init__(self, *sources):
            self.cells = [nbformat.v4.new_code_cell(s) for s in sources]

        def sanitized(self):
            return nbformat.v4.new_notebook(cells=self.cells)

    assert _reads_checkpoints(Notebook("trainer.train()", "load('out/checkpoint-800')"))
    assert not _reads_checkpoints(Notebook("trainer.train()", "trainer.save_model()"))
