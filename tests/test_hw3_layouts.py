"""The two notebook layouts: detection, the checks that follow each handout's wording, the
(f) recorder that sees any training loop, and the Lab 2 reference functions placed right
after the student's own definitions (no sandbox; the whole flow is in test_grade_samples)."""

from __future__ import annotations

import ast
import functools

import pytest
import torch
import torch.nn as nn
from autograder.extract import extract
from hw3_fixtures.handout import build_handout_notebook
from hw3_plugin import checks_lab1, layouts
from hw3_plugin.plugin import _split_cell, made_folders
from hw3_solution.notebooks import build_solution_notebook, build_starter_notebook


@pytest.mark.parametrize("lab", ["rnn", "llm"])
def test_each_layout_is_detected_from_what_the_notebook_defines(lab):
    key = {"rnn": "lab1", "llm": "lab2"}[lab]
    for build, expected in ((build_solution_notebook, layouts.KIT),
                            (build_starter_notebook, layouts.KIT),
                            (build_handout_notebook, layouts.HANDOUT_2025)):
        assert layouts.detect(key, extract(build(lab)).definitions) is expected, build


def test_an_empty_notebook_is_read_as_the_kits():
    assert layouts.detect("lab2", {}) is layouts.KIT
    assert "Spring 2025" in layouts.HANDOUT_2025.note("LabLLM.ipynb")


def _tokenize_verdict(stop_case_ids, stop_as_unk):
    expected = [[2, 3], [1], [2, 3]]
    seen = {"ids": [[2, 3], [1], stop_case_ids]}
    return checks_lab1.judge_tokenize(seen, expected, 1, 2, stop_as_unk)["lab1c.stop_words"]


def test_stop_words_as_unk_pass_only_where_the_handout_allows_it():
    as_unk = [1, 2, 1, 3]
    assert not _tokenize_verdict(as_unk, None).passed  # the kit: "stop words left out"
    assert _tokenize_verdict(as_unk, as_unk).passed  # the 2025 handout: either reading
    assert _tokenize_verdict([2, 3], as_unk).passed
    assert not _tokenize_verdict([2, 1, 3], as_unk).passed


def test_a_run_that_raised_keeps_the_checks_it_can_still_decide():
    calls = [{"kind": "train", "loss": 0.7 - 0.1 * e, "rows": 70} for e in range(5)]
    printed = " ".join(f"{c['loss']:.3f}" for c in calls)
    v = checks_lab1.judge_training({"calls": calls, "printed": printed,
                                    "raised": "NameError: name 'UNK_INDEX' is not defined"}, 5)
    assert v["lab1f.epochs"].passed and v["lab1f.falling"].passed
    assert not v["lab1f.prediction"].passed and "UNK_INDEX" in v["lab1f.prediction"].message
    early = checks_lab1.judge_training({"calls": [], "printed": "", "raised": "KeyError: 'x'"},
                                       5)
    assert all("KeyError" in x.message and not x.passed for x in early.values())


class _Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, ids, length):
        return self.fc(ids)


def _collate(rows):
    return {"ids": torch.stack([r[0] for r in rows]), "length": torch.ones(len(rows)),
            "label": torch.stack([r[1] for r in rows])}


def _inline_training(hparams, model_type="lstm"):
    """A student's own loop: no given train/evaluate, best weights kept by deepcopy."""
    import copy

    torch.manual_seed(0)
    data = [(torch.randn(3), torch.tensor(i % 2)) for i in range(14)]
    loader = functools.partial(torch.utils.data.DataLoader, collate_fn=_collate, batch_size=4)
    train, valid, test = loader(data[:8], shuffle=True), loader(data[8:12]), loader(data[12:])
    model = _Classifier()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    best, best_state = float("inf"), None
    for _ in range(hparams.N_EPOCHS):
        model.train()
        for batch in train:
            loss = nn.functional.cross_entropy(model(batch["ids"], batch["length"]),
                                               batch["label"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            valid_loss = sum(nn.functional.cross_entropy(model(b["ids"], b["length"]),
                                                         b["label"]).item() for b in valid)
        if valid_loss < best:
            best, best_state = valid_loss, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    with torch.no_grad():
        for batch in test:
            model(batch["ids"], batch["length"])
        probability = torch.softmax(model(torch.randn(1, 3), None)[0], dim=-1).max().item()
    print(f"probability {probability:.4f}")
    return {}


class _HyperParams:
    STOP_WORDS = ()
    N_EPOCHS = 3


def test_the_recorder_sees_an_inline_loop_and_the_best_epochs_weights():
    ns = {"HyperParams": _HyperParams, "LSTM": _Classifier,
          "train_and_test_model_with_hparams": _inline_training}
    import sys

    from hw3_student import probes_lab1

    sys.modules.setdefault("probes_lab1", probes_lab1)  # as in the sandbox, copied beside
    from hw3_plugin import probes_training

    data = probes_training.training_run(ns, {})
    kinds = [c["kind"] for c in data["calls"]]
    assert kinds.count("train") == 3 and kinds.count("predict") == 1, kinds
    assert [c["rows"] for c in data["calls"] if c["kind"] == "evaluate"] == [4, 4, 4, 2]
    verdicts = checks_lab1.judge_training(data, 3)
    assert verdicts["lab1f.best_weights"].passed, verdicts["lab1f.best_weights"].message
    assert verdicts["lab1f.prediction"].passed, verdicts["lab1f.prediction"].message
    assert torch.utils.data.DataLoader.__iter__.__name__ == "__iter__"  # hook removed


def test_the_reference_goes_right_after_the_students_definition():
    source = "x = 1\ndef tokenize_function(e):\n    return e\n\nmapped = tokenize_function(x)\n"
    pieces = _split_cell(source, [(1, "tokenize_function")])
    assert [name for name, _ in pieces] == ["", "tokenize_function"]
    assert pieces[0][1].rstrip().endswith("return e")
    assert pieces[1][1].strip() == "mapped = tokenize_function(x)"
    assert ast.parse("".join(text for _, text in pieces))


def test_folders_the_notebooks_top_level_code_makes_are_given_to_the_training_job():
    assert made_folders(extract(build_handout_notebook("rnn"))) == ["resources"]
    assert made_folders(extract(build_solution_notebook("rnn"))) == []
