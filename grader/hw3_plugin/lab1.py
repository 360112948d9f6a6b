"""Lab 1 grading plan: probe inputs on which every valid reading agrees, and the judging.

The grader computes every expectation with the reference solution on the same inputs;
probes run in the sandbox (see probes_lab1) and only their plain data comes back here.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

import pandas as pd
from autograder.models import CheckResult
from hw3_student.probes_lab1 import _digest, fill_weights

from . import checks_lab1
from .layouts import KIT, Layout

# Lower-case words separated by single spaces, none of them a stop word: whatever a student
# takes a "word" to be, these texts give the same words.
VOCAB_CASES = (
    {
        "min_freq": 5,
        "counts": {"movie": 7, "plot": 5, "actor": 4, "scene": 1, "the": 9, "and": 6, "this": 5},
        "stop": ("the", "and", "this"),
    },
    {
        "min_freq": 2,
        "counts": {"music": 2, "story": 3, "camera": 1, "film": 6, "was": 4},
        "stop": ("was",),
    },
)
TOKENIZE_VOCAB = {"<pad>": 0, "<unk>": 1, "movie": 2, "plot": 3, "great": 4, "boring": 5}
TOKENIZE_TEXTS = (
    "movie plot great",
    "great movie boring plot movie",
    "movie zebra plot",  # unknown word
    "the movie and the plot",  # stop words
)
UNK_CASE, STOP_CASE = 2, 3
ITEM_TEXTS = (
    "great movie boring plot movie great plot boring movie great plot movie",
    "boring plot",
    "movie zebra great",
)
ITEM_LABELS = ("positive", "negative", "positive")
ITEM_MAX_LENGTH = 5
FIXED_MODEL = {  # the homework's fixed hyperparameters with a small vocabulary
    "vocab_size": 500, "embedding_dim": 1, "hidden_dim": 100, "output_dim": 2,
    "n_layers": 1, "dropout_rate": 0.0, "pad_index": 0, "bidirectional": False,
}
OTHER_MODEL = {  # shows the sizes come from the arguments, not from constants
    "vocab_size": 30, "embedding_dim": 4, "hidden_dim": 6, "output_dim": 3,
    "n_layers": 2, "dropout_rate": 0.25, "pad_index": 0, "bidirectional": True,
}
FORWARD_ROWS = ([5, 9, 13, 2, 7, 7, 30], [4, 11, 3], [8, 21, 22, 40, 6])
EXTRA_PADDING = 4


def _reference_logits(seed: int) -> list[list[float]]:
    """The reference forward on each probe row alone, with the probe's seeded weights."""
    import torch
    from hw3_solution import lab_rnn

    model = lab_rnn.LSTM(**FIXED_MODEL).eval()
    fill_weights(model.embedding, model.lstm, model.fc, seed=seed)
    with torch.no_grad():
        return [model(torch.tensor([row]), torch.tensor([float(len(row))])).squeeze(0).tolist()
                for row in FORWARD_ROWS]


def _corpus(case: Mapping) -> list[str]:
    """Reviews that hold each word `counts[word]` times, interleaved."""
    words = [w for w, n in case["counts"].items() for _ in range(n)]
    words = words[::2] + words[1::2]
    return [" ".join(words[i : i + 5]) for i in range(0, len(words), 5)]


class Lab1Plan:
    """Probe arguments and judges for Lab 1, for one data file."""

    def __init__(self, csv_path: Path, ranges: Mapping | None = None) -> None:
        self.csv_path = Path(csv_path)
        self.ranges = ranges or {}

    @property
    def accuracy_band(self) -> tuple[float, float] | None:
        """The real runs' test accuracy range, when grading on the full IMDB file."""
        if len(self._data) < self.ranges.get("full_size_rows", float("inf")):
            return None
        return tuple(self.ranges["test_accuracy"])

    @cached_property
    def _reference(self):
        from hw3_solution import lab_rnn

        return lab_rnn

    @cached_property
    def _data(self) -> pd.DataFrame:
        return pd.read_csv(self.csv_path)

    def probe_args(self) -> dict[str, dict]:
        """Arguments of each probe (keyed by probe name), all plain JSON."""
        return {
            "split": {"csv_path": "./IMDBDataset.csv"},
            "vocab": {"corpora": [_corpus(c) for c in VOCAB_CASES],
                      "min_freqs": [c["min_freq"] for c in VOCAB_CASES]},
            "tokenize": {"vocab": TOKENIZE_VOCAB, "texts": list(TOKENIZE_TEXTS)},
            "dataset_items": {"texts": list(ITEM_TEXTS), "labels": list(ITEM_LABELS),
                              "int_labels": [int(x == "positive") for x in ITEM_LABELS],
                              "vocab": TOKENIZE_VOCAB, "max_length": ITEM_MAX_LENGTH},
            "model_init": {"configs": [FIXED_MODEL, OTHER_MODEL]},
            "model_forward": {"config": FIXED_MODEL, "rows": [list(r) for r in FORWARD_ROWS],
                              "extra_padding": EXTRA_PADDING, "seed": 0},
        }

    def judge(self, probe: str, data: Mapping, layout: Layout = KIT
              ) -> dict[str, CheckResult]:
        """Results of every check that the probe's data decides, read with the wording of
        the handout the notebook was written for (``layout``)."""
        ref = self._reference
        hp = ref.HyperParams()
        if probe == "split":
            return checks_lab1.judge_split(
                data, [_digest(r) for r in self._data["review"]],
                [str(s) for s in self._data["sentiment"]])
        if probe == "vocab":
            cases = [{
                "kept": [w for w, n in c["counts"].items()
                         if n >= c["min_freq"] and w not in c["stop"]],
                "at_threshold": [w for w, n in c["counts"].items()
                                 if n == c["min_freq"] and w not in c["stop"]],
                "dropped_rare": [w for w, n in c["counts"].items()
                                 if n < c["min_freq"] and w not in c["stop"]],
                "dropped_stop": list(c["stop"]),
            } for c in VOCAB_CASES]
            return checks_lab1.judge_vocab(data, cases, hp.PAD_TOKEN, hp.UNK_TOKEN)
        if probe == "tokenize":
            expected = [ref.tokenize(TOKENIZE_VOCAB, t) for t in TOKENIZE_TEXTS]
            as_unk = None
            if layout.stop_words_as_unk:  # every word looked up, stop words giving UNK
                as_unk = [TOKENIZE_VOCAB.get(w, hp.UNK_INDEX) for w in TOKENIZE_TEXTS[STOP_CASE]
                          .split()]
            return checks_lab1.judge_tokenize(data, expected, UNK_CASE, STOP_CASE, as_unk)
        if probe == "dataset_items":
            expected = [ref.tokenize(TOKENIZE_VOCAB, t) for t in ITEM_TEXTS]
            return checks_lab1.judge_items(data, expected, ITEM_MAX_LENGTH,
                                           [int(x == "positive") for x in ITEM_LABELS])
        if probe == "model_init":
            sizes = [ref.count_parameters(ref.LSTM(**c)) for c in (FIXED_MODEL, OTHER_MODEL)]
            return checks_lab1.judge_init(data, [FIXED_MODEL, OTHER_MODEL], sizes)
        if probe == "model_forward":
            return checks_lab1.judge_forward(data, len(FORWARD_ROWS), FIXED_MODEL["output_dim"],
                                             _reference_logits(seed=0))
        if probe == "training_run":
            return checks_lab1.judge_training(data, hp.N_EPOCHS, self.accuracy_band)
        raise KeyError(f"no Lab 1 probe named {probe!r}")
