"""The Homework 3 checks as pure functions: probe data in, verdicts out (no sandbox)."""

from __future__ import annotations

import pytest
from hw3_plugin import checks_lab1, checks_lab2
from hw3_plugin.layouts import KIT
from hw3_student.probes_lab1 import _digest
from message_tone import contradiction

REVIEWS = [_digest(f"review number {i}") for i in range(10)]
LABELS = ["positive", "negative"] * 5


def _split(parts: list[list[int]], labels=None) -> dict:
    return {"x": [[REVIEWS[i] for i in p] for p in parts],
            "y": [[(labels or LABELS)[i] for i in p] for p in parts]}


def test_split_accepts_any_disjoint_7_1_2_partition():
    v = checks_lab1.judge_split(_split([[9, 8, 7, 6, 5, 4, 3], [2], [1, 0]]), REVIEWS, LABELS)
    assert all(x.passed for x in v.values()), v


def test_split_with_overlap_fails_completeness_only():
    v = checks_lab1.judge_split(_split([[0, 1, 2, 3, 4, 5, 6], [6], [7, 8]]), REVIEWS, LABELS)
    assert not v["lab1a.complete"].passed
    assert v["lab1a.sizes"].passed and v["lab1a.aligned"].passed


def test_split_accepts_a_consistent_label_mapping_but_not_a_moved_label():
    ones = ["1" if x == "positive" else "0" for x in LABELS]
    v = checks_lab1.judge_split(_split([[0, 1, 2, 3, 4, 5, 6], [7], [8, 9]], ones),
                                REVIEWS, LABELS)
    assert v["lab1a.aligned"].passed
    one_swapped = ["0" if i == 0 else x for i, x in enumerate(ones)]
    v = checks_lab1.judge_split(_split([[0, 1, 2, 3, 4, 5, 6], [7], [8, 9]], one_swapped),
                                REVIEWS, LABELS)
    assert not v["lab1a.aligned"].passed


CASES = [{"kept": ["movie", "plot"], "at_threshold": ["plot"], "dropped_rare": ["actor"],
          "dropped_stop": ["the"]}]


def test_vocab_exclusive_threshold_is_named_in_the_message():
    vocab = {"<pad>": 0, "<unk>": 1, "movie": 2}
    v = checks_lab1.judge_vocab({"vocabs": [vocab]}, CASES, "<pad>", "<unk>")
    assert not v["lab1b.min_freq"].passed
    assert "inclusive" in v["lab1b.min_freq"].message
    assert v["lab1b.special"].passed and v["lab1b.stop_words"].passed


def test_vocab_with_stop_words_and_shared_indices_fails_those_checks():
    vocab = {"<pad>": 0, "<unk>": 1, "movie": 2, "plot": 2, "the": 3}
    v = checks_lab1.judge_vocab({"vocabs": [vocab]}, CASES, "<pad>", "<unk>")
    assert not v["lab1b.stop_words"].passed and not v["lab1b.unique"].passed


def _training(losses, valid_losses, tested_epoch, printed=None):
    calls = []
    for epoch, (loss, vloss) in enumerate(zip(losses, valid_losses), start=1):
        calls.append({"kind": "train", "loss": loss, "rows": 70})
        calls.append({"kind": "evaluate", "rows": 10, "loss": vloss, "acc": 0.8,
                      "weights": [float(epoch)]})
    calls.append({"kind": "evaluate", "rows": 20, "loss": 0.3, "acc": 0.85,
                  "weights": [float(tested_epoch)]})
    calls.append({"kind": "predict", "result": ["1", "0.9321"]})
    text = printed if printed is not None else " ".join(f"{x:.4f}" for x in losses) + " 0.9321"
    return {"calls": calls, "printed": text, "returned": {}}


def test_training_best_epoch_reloaded_passes():
    data = _training([0.69, 0.5, 0.3], [0.6, 0.4, 0.9], tested_epoch=2)
    v = checks_lab1.judge_training(data, 3)
    assert all(x.passed for x in v.values()), v


def test_training_last_epoch_tested_fails_and_says_how_to_fix():
    data = _training([0.69, 0.5, 0.3], [0.6, 0.4, 0.9], tested_epoch=3)
    v = checks_lab1.judge_training(data, 3)
    assert not v["lab1f.best_weights"].passed
    assert "deepcopy" in v["lab1f.best_weights"].message


def test_training_unprinted_losses_and_probability_fail():
    data = _training([0.69, 0.5, 0.3], [0.6, 0.4, 0.9], tested_epoch=2, printed="done")
    v = checks_lab1.judge_training(data, 3)
    assert not v["lab1f.epochs"].passed and not v["lab1f.prediction"].passed


def test_training_band_is_its_own_check_and_applies_only_when_given():
    data = _training([0.69, 0.5, 0.3], [0.6, 0.4, 0.9], tested_epoch=2)
    assert checks_lab1.judge_training(data, 3)["lab1f.accuracy"].passed
    assert checks_lab1.judge_training(data, 3, (0.82, 0.90))["lab1f.accuracy"].passed
    outside = checks_lab1.judge_training(data, 3, (0.90, 0.95))
    assert not outside["lab1f.accuracy"].passed and outside["lab1f.falling"].passed
    rising = checks_lab1.judge_training(_training([0.3, 0.5, 0.69], [0.6, 0.4, 0.9], 2), 3,
                                        (0.82, 0.90))
    assert not rising["lab1f.falling"].passed and rising["lab1f.accuracy"].passed


@pytest.mark.parametrize(("fmt", "passed"), [(".1f", True), (".2f", True), (".4f", True),
                                              (".2%", True), (".0f", False)])
def test_losses_count_as_printed_at_their_printed_precision(fmt, passed):
    losses = [0.6931, 0.5372, 0.3408]
    printed = " ".join(format(x, fmt) for x in losses) + " probability 0.9321"
    v = checks_lab1.judge_training(_training(losses, [0.6, 0.4, 0.9], 2, printed), 3)
    assert v["lab1f.epochs"].passed is passed, v["lab1f.epochs"].message


def test_a_loss_one_printed_digit_away_is_not_taken():
    printed = "0.8 0.6 0.4 0.9321"  # each 0.1 off at one decimal
    v = checks_lab1.judge_training(_training([0.69, 0.5, 0.3], [0.6, 0.4, 0.9], 2, printed), 3)
    assert not v["lab1f.epochs"].passed


def _forward_probe(config: dict, output):
    """The model_forward probe's data for a model whose forward applies `output` to the
    reference logits (the probe itself, in this process)."""
    import torch
    from hw3_plugin import lab1
    from hw3_solution import lab_rnn
    from hw3_student import probes_lab1

    class Variant(lab_rnn.LSTM):
        def forward(self, ids, length):
            return output(super().forward(ids, length))

    return probes_lab1.model_forward({"LSTM": Variant}, {
        "config": config, "rows": [list(r) for r in lab1.FORWARD_ROWS],
        "extra_padding": lab1.EXTRA_PADDING, "seed": 0}), torch


@pytest.mark.parametrize(("name", "passed"), [("logits", True), ("log_softmax", True),
                                               ("softmax", False), ("shifted", True),
                                               ("doubled", False)])
def test_forward_returns_logits_compared_with_the_reference(name, passed):
    import torch
    from hw3_plugin import lab1
    output = {"logits": lambda x: x, "log_softmax": lambda x: torch.log_softmax(x, -1),
              "softmax": lambda x: torch.softmax(x, -1), "shifted": lambda x: x + 3.0,
              "doubled": lambda x: 2 * x}[name]
    data, _ = _forward_probe(lab1.FIXED_MODEL, output)
    v = checks_lab1.judge_forward(data, 3, 2, lab1._reference_logits(seed=0))
    assert v["lab1e_forward.logits"].passed is passed, v["lab1e_forward.logits"].message
    assert v["lab1e_forward.shape"].passed and v["lab1e_forward.padding"].passed
    if name == "softmax":
        assert "probabilities (remove the softmax)" in v["lab1e_forward.logits"].message


def test_forward_padding_invariance():
    rows = [[0.1, 0.2], [0.3, 0.4]]
    ok = {"shape": [2, 2], "finite": True, "padded": rows, "wider": rows, "alone": rows}
    assert all(x.passed for x in checks_lab1.judge_forward(ok, 2, 2).values())
    bad = {**ok, "wider": [[0.1, 0.25], [0.3, 0.4]]}
    assert not checks_lab1.judge_forward(bad, 2, 2)["lab1e_forward.padding"].passed


@pytest.mark.parametrize(("seen", "in_train", "value", "mode"), [
    (42.0, 42.0, True, True), (42.01, 42.01, False, True), (42.0, 43.7, True, False)])
def test_perplexity_tolerance_and_eval_mode(seen, in_train, value, mode):
    v = checks_lab2.judge_perplexity({"eval": seen, "train": in_train}, 42.0)
    assert v["lab2c.value"].passed is value and v["lab2c.eval_mode"].passed is mode


def test_tokenize_function_padding_truncation_and_labels():
    ref = [[5, 6], [7, 8, 9, 10, 11, 12]]
    good = {"columns": {"input_ids": [[5, 6, 0, 0], [7, 8, 9, 10]],
                        "attention_mask": [[1, 1, 0, 0], [1, 1, 1, 1]],
                        "labels": [[5, 6, 0, 0], [7, 8, 9, 10]]}}
    assert all(x.passed for x in checks_lab2.judge_tokenize_function(good, ref, 0).values())
    no_labels = {"columns": {k: v for k, v in good["columns"].items() if k != "labels"}}
    v = checks_lab2.judge_tokenize_function(no_labels, ref, 0)
    assert not v["lab2b.labels"].passed and v["lab2b.padding"].passed


def test_lora_trainable_count_and_untrained_run():
    trainer = {"peft": True, "global_step": 0, "max_steps": 0, "log_history": [],
               "lora": {"r": 64, "alpha": 16.0, "dropout": 0.1, "bias": "none",
                        "task_type": "causal_lm"},
               "trainable_count": 100, "trainable_non_lora": []}
    lora = {"r": 64, "alpha": 16.0, "dropout": 0.1, "bias": "none", "task_type": "causal_lm"}
    v = checks_lab2.judge_lora({"trainers": [trainer]}, {0: 50.0}, 60.0, 100, lora)
    assert v["lab2e.config"].passed and v["lab2e.trainable"].passed
    assert not v["lab2e.trained"].passed
    assert v["lab2e.perplexity"].passed
    v = checks_lab2.judge_lora({"trainers": [trainer]}, {0: 61.0}, 60.0, 100, lora)
    assert not v["lab2e.perplexity"].passed


def _trainer(**kw) -> dict:
    base = {"peft": False, "global_step": 135, "max_steps": 135, "log_history": [],
            "eval_strategy": "epoch", "logging_strategy": "epoch", "has_eval_dataset": True,
            "output_dir": "out", "saved": "trainer0"}
    return {**base, **kw}


def test_trained_needs_steps_and_changed_weights_not_logged_losses():
    """How often the loss is logged is log_epoch's business: a Trainer that logs by steps
    loses log_epoch once, not `trained` too."""
    facts = {"trainers": [_trainer(logging_strategy="steps")], "loaded": [], "saved": []}
    v = checks_lab2.judge_full_finetune(facts, {0: 50.0}, 60.0)
    assert v["lab2d.trained"].passed and not v["lab2d.log_epoch"].passed
    v = checks_lab2.judge_full_finetune(facts, {0: 60.0}, 60.0)
    assert not v["lab2d.trained"].passed
    assert "measured the saved weights as unchanged" in v["lab2d.trained"].message
    assert "135 of 135" not in v["lab2d.trained"].message


@pytest.mark.parametrize(("source", "passed"), [
    ("gpt2", True), ("openai-community/gpt2", True), ("distilgpt2", False),
    ("./gpt2-wikitext-2", False), ("gpt2-medium", False)])
def test_load_wants_the_pretrained_gpt2_exactly(source, passed):
    facts = {"loaded": [{"source": source}], "tokenizers": []}
    assert checks_lab2.judge_loading(facts)["lab2a.load"].passed is passed


@pytest.mark.parametrize(("lengths", "passed"), [([100], True), ([101], False), ([], True)])
def test_max_length_counts_the_generated_tokens(lengths, passed):
    prompt = "GPT-2 is a language model"
    data = {"returned": prompt + " and more words", "generated_lengths": lengths}
    v = checks_lab2.judge_generation(data, prompt, 100, lambda t: len(t.split()))
    assert v["lab2a.max_length"].passed is passed, v["lab2a.max_length"].message


@pytest.mark.parametrize(("passed", "message"), [
    (True, "expected labels equal to input_ids (the collator masks padding later); they differ"),
    (True, "expected DataCollatorForLanguageModeling(tokenizer, mlm=False), which sets padded "
           "label positions to -100; the collator found does not"),
    (False, "expected trainer.train() to run on the LoRA model; saw 135 of 135 steps"),
    (False, "expected the review's ids cut to max_length=5; saw 5 ids for a review of 12 words"),
])
def test_the_tone_classifier_catches_the_reported_contradictions(passed, message):
    assert contradiction(passed, message)


@pytest.mark.parametrize(("passed", "message"), [
    (True, "labels equal input_ids (the collator masks padding later)"),
    (True, "the validation set is evaluated every epoch (compatibility: ignored fp16=True: "
           "no GPU in the grader)"),
    (False, "expected trainer.train() to run every step on the LoRA model; the grader "
            "measured the saved weights as unchanged"),
    (False, "expected the ids of probe review 1 (12 words) cut to max_length=5: [4, 2, 5, 3, "
            "2]; saw [4, 2, 5, 3, 2, 4] (6 ids)"),
])
def test_the_tone_classifier_accepts_agreeing_messages(passed, message):
    assert contradiction(passed, message) is None


LORA = {"r": 64, "alpha": 16.0, "dropout": 0.1, "bias": "none", "task_type": "causal_lm"}


@pytest.mark.parametrize(("pretrained", "on_pretrained", "on_full", "passed"), [
    (161.818, 74.311, (17.072, 18.636), True),  # the reference sample: it hurts the tuned one
    (60.0, 40.0, (30.0, 29.0), True),  # helps both, the pretrained far more
    (161.818, 157.928, (17.072, 16.687), False),  # the bug-lora-on-finetuned sample
    (60.0, 55.0, (30.0, 25.0), False),  # helps the fine-tuned model more
    (60.0, 60.0, (30.0, 30.0), True),  # an untrained adapter changes nothing: trained's loss
])
def test_lora_base_is_told_by_the_adapter_effect_on_each_model(pretrained, on_pretrained,
                                                               on_full, passed):
    trainer = {"peft": True, "global_step": 10, "max_steps": 10, "log_history": [],
               "lora": dict(LORA), "trainable_count": 100, "trainable_non_lora": []}
    v = checks_lab2.judge_lora({"trainers": [trainer]}, {0: on_pretrained}, pretrained, 100,
                               LORA, on_full={0: on_full})
    assert v["lab2e.base"].passed is passed, v["lab2e.base"].message
    assert contradiction(passed, v["lab2e.base"].message) is None


def test_a_load_failure_comes_from_the_outcome_field_not_the_message():
    from types import SimpleNamespace

    from autograder.models import CallOutcome, Isolation, JobOutcome, Status
    from hw3_plugin.plugin import _judge_step

    step = CallOutcome("split", Status.TIMEOUT, message="ran past 60 s")
    notebook = SimpleNamespace(missing=lambda names: [])
    for load_failure, message in (("ran past 60 s", "load_imdb(...) was not called: ran past "
                                                    "60 s"),
                                  ("", "load_imdb(...) ran past its time limit and was stopped")):
        outcome = JobOutcome("lab1.probes", {"split": step}, Isolation.RLIMITS,
                             load_failure=load_failure)
        results = _judge_step(None, "split", ("load_imdb",), ("lab1a.sizes",), step, outcome,
                              notebook, KIT)
        assert [(r.check_id, r.item_id, r.passed, r.message, r.status) for r in results] == [
            ("lab1a.sizes", "lab1a", False, message, Status.TIMEOUT)]


def test_band_takes_the_measured_pretrained_perplexity(tmp_path) -> None:
    """The range of real runs applies by the pretrained perplexity the measurement job
    measured: the grader does not measure it again on its own CPU (minutes at full size;
    here the GPT-2 folder does not even exist)."""
    from hw3_plugin.lab2 import Lab2Plan

    plan = Lab2Plan(tmp_path / "no-gpt2", tmp_path / "no-wikitext",
                    {"pretrained_perplexity": [42.9, 43.1], "full_perplexity": [25.0, 29.5]})
    assert plan.band("full_perplexity", 43.0) == (25.0, 29.5)
    assert plan.band("full_perplexity", 51895.6) is None  # random weights: trends only


def test_full_size_lab2_probes_get_the_full_size_limit() -> None:
    """At full size a Lab 2 probe step may take minutes on one CPU thread (the perplexity
    probe over 1,024-token rows): ranges.toml gives it a floor; the fixtures keep 60 s."""
    import tomllib

    from hw3_plugin.plugin import LAB2_PROBES, RANGES_FILE, time_limits

    ranges = tomllib.loads(RANGES_FILE.read_text(encoding="utf-8"))
    assert "lab2_probe" not in time_limits(False, ranges)
    assert time_limits(True, ranges)["lab2_probe"] >= 4 * LAB2_PROBES["perplexity"][2]


def test_a_forward_that_reads_padding_loses_padding_only():
    """The logits are compared on each row alone, so the no-packing mistake costs once."""
    import torch
    from hw3_plugin import lab1
    from hw3_solution import lab_rnn
    from hw3_student import probes_lab1

    class NoPacking(lab_rnn.LSTM):
        def forward(self, ids, length):
            _, (hidden, _) = self.lstm(self.dropout(self.embedding(ids)))
            return self.fc(self.dropout(hidden[-1]))

    data = probes_lab1.model_forward({"LSTM": NoPacking}, {
        "config": lab1.FIXED_MODEL, "rows": [list(r) for r in lab1.FORWARD_ROWS],
        "extra_padding": lab1.EXTRA_PADDING, "seed": 0})
    v = checks_lab1.judge_forward(data, 3, 2, lab1._reference_logits(seed=0))
    assert not v["lab1e_forward.padding"].passed
    assert v["lab1e_forward.logits"].passed, v["lab1e_forward.logits"].message
    assert torch.is_grad_enabled()


def test_printed_numbers_out_of_a_floats_range_are_skipped() -> None:
    """Printed text is the student's: an exponent beyond a float's range (or hundreds of
    decimals) must not stop the judging (an OverflowError was an internal error)."""
    from hw3_plugin.checks_lab1 import _printed_numbers

    text = "loss 0.693 then 1e999 and 0." + "1" * 400 + " and 2.5e-400"
    assert [round(n, 3) for n, _ in _printed_numbers(text)] == [0.693]
