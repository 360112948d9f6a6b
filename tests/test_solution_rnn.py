"""Tests of the Lab 1 reference solution (hw3_solution.lab_rnn)."""

from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from hw3_solution import lab_rnn as L
from solution_rnn_data import write_imdb_csv

pytestmark = pytest.mark.usefixtures("fixture_stop_words", "one_torch_thread")


@pytest.fixture(scope="module")
def hparams():
    return L.HyperParams()


@pytest.fixture(scope="module")
def numbered_csv(tmp_path_factory):
    """1,000 reviews 'review <i> ...' whose label follows from i, to check splits."""
    rows = [
        {
            "review": f"review{i} <br /><br />Some text.",
            "sentiment": ("negative", "positive")[i % 3 == 0],
        }
        for i in range(1000)
    ]
    path = tmp_path_factory.mktemp("numbered") / "IMDBDataset.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _row_id(review: str) -> int:
    return int(review.split()[0].removeprefix("review"))


def test_hyperparams_are_the_fixed_values(hparams):
    assert (hparams.PAD_INDEX, hparams.UNK_INDEX) == (0, 1)
    assert (hparams.PAD_TOKEN, hparams.UNK_TOKEN) == ("<pad>", "<unk>")
    assert (hparams.MAX_LENGTH, hparams.BATCH_SIZE, hparams.EMBEDDING_DIM) == (256, 96, 1)
    assert (hparams.HIDDEN_DIM, hparams.OUTPUT_DIM, hparams.N_LAYERS) == (100, 2, 1)
    assert (hparams.LR, hparams.N_EPOCHS, hparams.WD, hparams.SEED) == (0.001, 5, 0, 12)
    assert hparams.DROPOUT_RATE == 0.0 and hparams.BIDIRECTIONAL is False
    assert len(hparams.STOP_WORDS) == 179 and {"the", "not", "don't"} <= hparams.STOP_WORDS


def test_load_imdb_splits_7_1_2_disjoint_and_aligned(numbered_csv):
    x_train, x_valid, x_test, y_train, y_valid, y_test = L.load_imdb(str(numbered_csv))
    assert [len(x) for x in (x_train, x_valid, x_test)] == [700, 100, 200]
    assert [x.shape for x in (x_train, x_valid, x_test)] == [(700,), (100,), (200,)]
    ids = [[_row_id(r) for r in x] for x in (x_train, x_valid, x_test)]
    assert sorted(sum(ids, [])) == list(range(1000))  # disjoint and complete
    for x, y in ((x_train, y_train), (x_valid, y_valid), (x_test, y_test)):
        assert list(y.index) == list(x.index) == list(range(len(x)))
        expected = [("negative", "positive")[_row_id(r) % 3 == 0] for r in x]
        assert list(y) == expected


def test_load_imdb_is_deterministic(numbered_csv):
    first = L.load_imdb(str(numbered_csv))
    second = L.load_imdb(str(numbered_csv))
    for a, b in zip(first, second):
        assert list(a) == list(b)


def test_load_imdb_missing_file_names_it(tmp_path):
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(FileNotFoundError, match="nowhere.csv"):
        L.load_imdb(str(missing))


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"text": ["good"], "sentiment": ["positive"]}), r"missing column.*review"),
        (pd.DataFrame({"review": ["good"], "label": ["positive"]}), r"missing column.*sentiment"),
        (
            pd.DataFrame(
                {"review": ["good", "bad", "meh"], "sentiment": ["positive", "negative", "neutral"]}
            ),
            r"unknown sentiment 'neutral' in data row 2",
        ),
        (
            pd.DataFrame(
                {"review": ["good", "  ", "bad"], "sentiment": ["positive", "negative", "negative"]}
            ),
            r"empty review in data row 1",
        ),
    ],
)
def test_load_imdb_bad_csv_gives_specific_error(tmp_path, frame, message):
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ValueError, match=message) as info:
        L.load_imdb(str(path))
    assert "bad.csv" in str(info.value)


def test_build_vocab_rules(hparams):
    corpus = [
        "The movie was GREAT great",
        "great plot, the plot was thin",
        "A movie is a movie plot",
    ]
    vocab = L.build_vocab(corpus, min_freq=2, hparams=hparams)
    # counts: great 3, movie 3, plot 2, "plot," 1, thin 1; stop words the/was/a/is dropped
    assert set(vocab) == {"great", "movie", "plot", "<pad>", "<unk>"}
    assert vocab["<pad>"] == 0 and vocab["<unk>"] == 1
    assert sorted(vocab.values()) == list(range(len(vocab)))
    assert vocab["plot"] == 4  # least frequent kept word last
    assert not set(vocab) & hparams.STOP_WORDS


def test_build_vocab_min_freq_is_inclusive_and_order_deterministic(hparams):
    corpus = ["alpha beta beta gamma gamma gamma"] * 1
    assert set(L.build_vocab(corpus, min_freq=2, hparams=hparams)) == {
        "beta",
        "gamma",
        "<pad>",
        "<unk>",
    }
    assert L.build_vocab(corpus, min_freq=1, hparams=hparams) == {
        "gamma": 2,
        "beta": 3,
        "alpha": 4,
        "<pad>": 0,
        "<unk>": 1,
    }


def test_build_vocab_defaults_to_hyperparams():
    vocab = L.build_vocab(["the film the film the film film film"])
    assert vocab == {"film": 2, "<pad>": 0, "<unk>": 1}


def test_tokenize_maps_unknown_to_unk_and_drops_stop_words():
    vocab = {"<pad>": 0, "<unk>": 1, "great": 2, "movie": 3}
    assert L.tokenize(vocab, "The GREAT movie was a great surprise") == [2, 3, 2, 1]
    assert L.tokenize(vocab, "the and of") == []


def test_imdb_item_truncates_and_labels():
    vocab = {"<pad>": 0, "<unk>": 1, "good": 2, "bad": 3}
    x = pd.Series(["good " * 10, "bad film", "good"])
    y = pd.Series(["positive", "negative", "positive"])
    data = L.IMDB(x, y, vocab, max_length=4)
    assert len(data) == 3
    assert data[0] == {"ids": [2, 2, 2, 2], "length": 4, "label": 1}
    assert data[1] == {"ids": [3, 1], "length": 2, "label": 0}
    assert L.IMDB(x, pd.Series([1, 0, 1]), vocab, max_length=4)[1]["label"] == 0
    assert L.IMDB(list(x), [1, 0, 1], vocab, max_length=4)[2]["label"] == 1


def test_collate_pads_batch():
    batch = L.collate(
        [{"ids": [5, 6, 7], "length": 3, "label": 1}, {"ids": [8], "length": 1, "label": 0}],
        pad_index=0,
    )
    assert batch["ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["length"].dtype == torch.float32 and batch["length"].tolist() == [3.0, 1.0]
    assert batch["label"].dtype == torch.long


def _model(hparams, vocab_size=50, **kwargs):
    torch.manual_seed(0)
    return L.LSTM(
        vocab_size,
        hparams.EMBEDDING_DIM,
        hparams.HIDDEN_DIM,
        hparams.OUTPUT_DIM,
        hparams.N_LAYERS,
        hparams.DROPOUT_RATE,
        hparams.PAD_INDEX,
        hparams.BIDIRECTIONAL,
        **kwargs,
    )


@pytest.mark.parametrize("vocab_size", [2, 50, 60_623])
def test_lstm_parameter_count(hparams, vocab_size):
    assert L.count_parameters(_model(hparams, vocab_size)) == vocab_size + 41_402


def test_lstm_forward_shape_and_padding_invariance(hparams):
    model = _model(hparams).eval()
    rows = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14]]
    lengths = torch.tensor([5.0, 2.0, 3.0])

    def batch(width):
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
        return ids

    with torch.no_grad():
        logits = model(batch(5), lengths)
        wider = model(batch(12), lengths)
        alone = model(batch(5)[1:2, :2], lengths[1:2])
    assert logits.shape == (3, hparams.OUTPUT_DIM)
    torch.testing.assert_close(wider, logits)
    torch.testing.assert_close(alone[0], logits[1])


def test_lstm_bidirectional_and_multilayer_shapes():
    torch.manual_seed(0)
    model = L.LSTM(30, 4, 8, 3, 2, 0.1, 0, True).eval()
    out = model(torch.tensor([[2, 3, 4], [5, 0, 0]]), torch.tensor([3.0, 1.0]))
    assert out.shape == (2, 3)


def test_lstm_uses_weight_init_fn(hparams):
    def ones(module):
        for param in module.parameters(recurse=False):
            torch.nn.init.ones_(param)

    model = _model(hparams, weight_init_fn=ones)
    assert all(bool((p == 1).all()) for p in model.parameters())


def test_init_weights_given_scheme(hparams):
    model = _model(hparams)
    assert not model.fc.bias.any()
    assert all(not b.any() for n, b in model.lstm.named_parameters() if "bias" in n)
    w = model.lstm.weight_hh_l0
    torch.testing.assert_close(w.T @ w, torch.eye(w.shape[1]), atol=1e-4, rtol=0)


def test_constant_with_warmup_is_linear_then_flat():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = L.ConstantWithWarmup(optimizer, num_warmup_steps=4)
    rates = []
    for _ in range(6):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="num_warmup_steps"):
        L.ConstantWithWarmup(optimizer, num_warmup_steps=-1)


def test_predict_sentiment_returns_class_and_probability(hparams):
    vocab = {"<pad>": 0, "<unk>": 1, "good": 2}
    model = _model(hparams, vocab_size=3)
    for text in ("good good film", "the of and"):
        predicted, probability = L.predict_sentiment(text, model, vocab, torch.device("cpu"))
        assert predicted in (0, 1) and 0.5 <= probability <= 1.0


def test_get_accuracy():
    prediction = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert L.get_accuracy(prediction, torch.tensor([0, 1, 1, 1])).item() == 0.75


def test_training_rejects_unknown_model_type(hparams, tmp_path):
    csv = write_imdb_csv(tmp_path / "IMDBDataset.csv", n_rows=60)
    with pytest.raises(ValueError, match="model_type must be 'lstm'"):
        L.train_and_test_model_with_hparams(hparams, "gru", csv_path=str(csv))


def test_training_learns_and_keeps_the_best_epoch(hparams, tmp_path, capsys):
    csv = write_imdb_csv(tmp_path / "IMDBDataset.csv", n_rows=5000)
    result = L.train_and_test_model_with_hparams(hparams, "lstm", csv_path=str(csv))
    printed = capsys.readouterr().out
    history = result["history"]
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5]
    assert history[-1]["train_loss"] < history[0]["train_loss"] - 0.2
    assert max(row["valid_acc"] for row in history) > 0.75
    best = min(history, key=lambda row: row["valid_loss"])
    assert result["best_epoch"] == best["epoch"]
    assert result["num_params"] == result["vocab_size"] + 41_402
    assert result["test_acc"] > 0.75 and result["test_loss"] < 0.69
    assert result["prediction"]["class"] in (0, 1)
    assert printed.count("epoch ") >= 5 and "test_acc=" in printed


def test_training_copes_with_extra_namespace_hparams(tmp_path, hparams, capsys):
    """Fewer epochs through a look-alike hparams object: the function reads attributes only."""
    short = SimpleNamespace(**{**vars(hparams), "N_EPOCHS": 1})
    csv = write_imdb_csv(tmp_path / "IMDBDataset.csv", n_rows=200)
    result = L.train_and_test_model_with_hparams(short, csv_path=str(csv))
    assert len(result["history"]) == 1 and result["best_epoch"] == 1
