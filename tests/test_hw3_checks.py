"""The Homework 3 checks as pure functions: probe data in, verdicts out (no sandbox)."""

from __future__ import annotations

import pytest
from hw3_plugin import checks_lab1, checks_lab2
from hw3_student.probes_lab1 import _digest

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


def test_training_band_applies_only_when_given():
    data = _training([0.69, 0.5, 0.3], [0.6, 0.4, 0.9], tested_epoch=2)
    assert checks_lab1.judge_training(data, 3, (0.82, 0.90))["lab1f.falling"].passed
    assert not checks_lab1.judge_training(data, 3, (0.90, 0.95))["lab1f.falling"].passed


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
                              notebook)
        assert [(r.check_id, r.item_id, r.passed, r.message, r.status) for r in results] == [
            ("lab1a.sizes", "lab1a", False, message, Status.TIMEOUT)]
