"""Tests of Lab 1's fast mode (hw3_solution.fast.rnn) against the reference run."""

from types import SimpleNamespace

import pytest
import torch
from hw3_solution import lab_rnn
from hw3_solution.fast.rnn import encode_split, lstm_logits, train_and_test_fast
from solution_rnn_data import write_imdb_csv

pytestmark = pytest.mark.usefixtures("fixture_stop_words")


@pytest.fixture(scope="module")
def hparams():
    return SimpleNamespace(**{**vars(lab_rnn.HyperParams()), "N_EPOCHS": 3})


def test_encode_split_tokenizes_once_truncated_with_labels(hparams):
    vocab = {"<pad>": 0, "<unk>": 1, "great": 2, "film": 3}
    short = SimpleNamespace(**{**vars(hparams), "MAX_LENGTH": 3})
    split = encode_split(["Great film", "the film film film film", "the"],
                         ["positive", "negative", "negative"], vocab, short)
    assert split.ids.tolist() == [[2, 3, 0], [3, 3, 3], [0, 0, 0]]
    assert split.lengths.tolist() == [2, 3, 1]  # a review with no token keeps one PAD
    assert split.labels.tolist() == [1, 0, 0]


def test_lstm_logits_is_the_reference_forward_on_unsorted_batches(hparams):
    torch.manual_seed(0)
    model = lab_rnn.LSTM(30, 4, 8, 2, 1, 0.0, 0, False).eval()
    ids = torch.randint(2, 30, (4, 7))
    lengths = torch.tensor([3, 7, 1, 5])  # in the loader's order, not sorted
    ids[0, 3:], ids[2, 1:], ids[3, 5:] = 0, 0, 0
    with torch.no_grad():
        assert torch.allclose(lstm_logits(model, ids, lengths), model(ids, lengths), atol=1e-6)
        both_ways = lab_rnn.LSTM(30, 4, 8, 2, 2, 0.0, 0, True).eval()  # packed path
        assert torch.allclose(lstm_logits(both_ways, ids, lengths), both_ways(ids, lengths),
                              atol=1e-6)


@pytest.mark.slow
def test_fast_run_matches_the_reference_run(hparams, tmp_path, capsys):
    csv = str(write_imdb_csv(tmp_path / "IMDBDataset.csv", n_rows=400))
    ref = lab_rnn.train_and_test_model_with_hparams(hparams, csv_path=csv)
    fast = train_and_test_fast(hparams, csv_path=csv, device=torch.device("cpu"))
    capsys.readouterr()
    for key in ("num_params", "vocab_size", "best_epoch"):
        assert fast[key] == ref[key], key
    # The same batches in every epoch (each epoch's shuffle draws as the reference's
    # loaders do) from the same initial weights: the same run, up to float rounding.
    for ref_epoch, fast_epoch in zip(ref["history"], fast["history"], strict=True):
        for key in ("train_loss", "train_acc", "valid_loss", "valid_acc"):
            assert fast_epoch[key] == pytest.approx(ref_epoch[key], rel=1e-4), (ref_epoch, key)
    assert fast["test_acc"] == pytest.approx(ref["test_acc"], abs=0.02)
    assert fast["prediction"]["text"] == ref["prediction"]["text"]
    assert 0 < fast["prep_seconds"] and 0 < fast["train_seconds"] <= fast["seconds"]
    assert fast["tokens_per_epoch"] > 0
