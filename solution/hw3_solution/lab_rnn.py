"""Lab 1 reference: an LSTM sentiment classifier on IMDB (given code and student parts).

The student parts are fenced with comment lines ``# TODO[<question id>] begin`` and
``# TODO[<question id>] end``; `hw3_solution.notebooks` turns each fenced region into a
``raise NotImplementedError`` stub for the starter notebook and copies it verbatim into the
solution notebook. Everything outside the fences is the handout's given code.
"""

import copy
import functools
import random
import time
from collections import Counter
from pathlib import Path

import nltk
import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.optim as optim
from sklearn.model_selection import train_test_split
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader, Dataset


@functools.cache
def english_stop_words() -> frozenset:
    """NLTK's English stop-word list (lower case), read once from NLTK's data folders."""
    with nltk.data.find("corpora/stopwords/english").open() as handle:
        return frozenset(handle.read().decode("utf-8").split())


class HyperParams:
    """The fixed hyperparameters of Lab 1. DO NOT CHANGE!"""

    def __init__(self):
        self.PAD_INDEX = 0
        self.UNK_INDEX = 1
        self.PAD_TOKEN = "<pad>"
        self.UNK_TOKEN = "<unk>"
        self.STOP_WORDS = set(english_stop_words())
        self.MAX_LENGTH = 256
        self.BATCH_SIZE = 96
        self.EMBEDDING_DIM = 1
        self.HIDDEN_DIM = 100
        self.OUTPUT_DIM = 2
        self.N_LAYERS = 1
        self.DROPOUT_RATE = 0.0
        self.LR = 0.001
        self.N_EPOCHS = 5
        self.WD = 0
        self.SEED = 12
        self.BIDIRECTIONAL = False


def load_imdb(base_csv: str = "./IMDBDataset.csv"):
    """Read the IMDB CSV and split it 7:1:2 into train, validation and test parts.

    Returns x_train, x_valid, x_test (reviews) and y_train, y_valid, y_test (labels
    'positive' / 'negative'), pandas Series aligned row by row.
    """
    # TODO[lab1a] begin
    path = Path(base_csv)
    if not path.is_file():
        raise FileNotFoundError(f"IMDB CSV not found: {str(path)!r}")
    df = pd.read_csv(path)
    missing = {"review", "sentiment"} - set(df.columns)
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {sorted(missing)}; found {list(df.columns)}"
        )
    reviews = df["review"]
    empty = reviews.isna() | (reviews.astype(str).str.strip() == "")
    if empty.any():
        raise ValueError(f"{path}: empty review in data row {int(np.argmax(empty))} (0-based)")
    labels = df["sentiment"].astype(str).str.strip().str.lower()
    unknown = ~labels.isin(["positive", "negative"])
    if unknown.any():
        row = int(np.argmax(unknown))
        raise ValueError(
            f"{path}: unknown sentiment {df['sentiment'].iloc[row]!r} in data row {row} "
            "(0-based); expected 'positive' or 'negative'"
        )
    x_train, x_rest, y_train, y_rest = train_test_split(
        reviews, labels, test_size=0.3, random_state=12
    )
    x_valid, x_test, y_valid, y_test = train_test_split(
        x_rest, y_rest, test_size=2 / 3, random_state=12
    )
    parts = (x_train, x_valid, x_test, y_train, y_valid, y_test)
    return tuple(part.reset_index(drop=True) for part in parts)
    # TODO[lab1a] end


def build_vocab(x_train: list, min_freq: int = 5, hparams=None) -> dict:
    """Map each training word seen at least `min_freq` times (stop words dropped) to an index.

    The most frequent word gets index 2; PAD_TOKEN and UNK_TOKEN get PAD_INDEX and UNK_INDEX.
    """
    if hparams is None:
        hparams = HyperParams()
    # TODO[lab1b] begin
    counts = Counter(
        word
        for review in x_train
        for word in review.lower().split()
        if word not in hparams.STOP_WORDS
    )
    corpus = {word: count for word, count in counts.items() if count >= min_freq}
    # TODO[lab1b] end
    # Sort the words by frequency, most common first, and number them from 2.
    corpus_ = sorted(corpus, key=corpus.get, reverse=True)
    vocab = {word: index for index, word in enumerate(corpus_, start=2)}
    vocab[hparams.PAD_TOKEN] = hparams.PAD_INDEX
    vocab[hparams.UNK_TOKEN] = hparams.UNK_INDEX
    return vocab


def tokenize(vocab: dict, example: str) -> list:
    """The vocabulary indices of the words of `example` (stop words dropped, unknown -> UNK)."""
    # TODO[lab1c] begin
    hparams = HyperParams()
    return [
        vocab.get(word, hparams.UNK_INDEX)
        for word in example.lower().split()
        if word not in hparams.STOP_WORDS
    ]
    # TODO[lab1c] end


class IMDB(Dataset):
    """Reviews and labels as tokenized examples."""

    def __init__(self, x, y, vocab, max_length=256) -> None:
        """
        :param x: list of reviews
        :param y: list of labels
        :param vocab: vocabulary dictionary {word: index}
        :param max_length: the maximum sequence length
        """
        self.x = x
        self.y = y
        self.vocab = vocab
        self.max_length = max_length

    def __getitem__(self, idx: int):
        """Return {'ids': token ids (at most max_length), 'length': len(ids), 'label': 0/1}."""
        # TODO[lab1d] begin
        ids = tokenize(self.vocab, self.x[idx])[: self.max_length]
        label = self.y[idx]
        if isinstance(label, str):
            label = {"negative": 0, "positive": 1}[label.strip().lower()]
        return {"ids": ids, "length": len(ids), "label": int(label)}
        # TODO[lab1d] end

    def __len__(self) -> int:
        return len(self.x)


def collate(batch, pad_index):
    """Pad a list of examples into a batch: ids [batch, max_len], length (float), label."""
    batch_ids = [torch.LongTensor(i["ids"]) for i in batch]
    batch_ids = nn.utils.rnn.pad_sequence(batch_ids, padding_value=pad_index, batch_first=True)
    batch_length = torch.Tensor([i["length"] for i in batch])
    batch_label = torch.LongTensor([i["label"] for i in batch])
    return {"ids": batch_ids, "length": batch_length, "label": batch_label}


def init_weights(m):
    """Xavier-normal embedding and linear weights, orthogonal recurrent weights, zero biases."""
    if isinstance(m, nn.Embedding):
        nn.init.xavier_normal_(m.weight)
    elif isinstance(m, nn.Linear):
        nn.init.xavier_normal_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.LSTM, nn.GRU)):
        for name, param in m.named_parameters():
            if "bias" in name:
                nn.init.zeros_(param)
            elif "weight" in name:
                nn.init.orthogonal_(param)


class LSTM(nn.Module):
    """Embedding -> LSTM -> linear classifier over the last hidden state."""

    def __init__(
        self,
        vocab_size,
        embedding_dim,
        hidden_dim,
        output_dim,
        n_layers,
        dropout_rate,
        pad_index,
        bidirectional,
        **kwargs,
    ):
        super().__init__()
        # TODO[lab1e_init] begin
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_index)
        self.lstm = nn.LSTM(
            embedding_dim,
            hidden_dim,
            n_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout_rate if n_layers > 1 else 0.0,
        )
        self.fc = nn.Linear(hidden_dim * (2 if bidirectional else 1), output_dim)
        self.dropout = nn.Dropout(dropout_rate)
        # TODO[lab1e_init] end

        # Weight initialization. DO NOT CHANGE!
        if "weight_init_fn" not in kwargs:
            self.apply(init_weights)
        else:
            self.apply(kwargs["weight_init_fn"])

    def forward(self, ids, length):
        """Logits [batch, output_dim] for padded ids [batch, seq_len] with true lengths."""
        # TODO[lab1e_forward] begin
        embedded = self.dropout(self.embedding(ids))
        lengths = torch.as_tensor(length, device="cpu").long()
        packed = nn.utils.rnn.pack_padded_sequence(
            embedded, lengths, batch_first=True, enforce_sorted=False
        )
        _, (hidden, _) = self.lstm(packed)
        if self.lstm.bidirectional:
            last = torch.cat([hidden[-2], hidden[-1]], dim=-1)
        else:
            last = hidden[-1]
        return self.fc(self.dropout(last))
        # TODO[lab1e_forward] end


def count_parameters(model):
    """The number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def get_accuracy(prediction, label):
    """The fraction of rows whose arg-max class equals the label."""
    batch_size, _ = prediction.shape
    predicted_classes = prediction.argmax(dim=-1)
    correct_predictions = predicted_classes.eq(label).sum()
    return correct_predictions / batch_size


def train(dataloader, model, criterion, optimizer, scheduler, device):
    """One epoch of training; returns the per-batch losses and accuracies."""
    model.train()
    epoch_losses = []
    epoch_accs = []
    for batch in dataloader:
        ids = batch["ids"].to(device)
        length = batch["length"]
        label = batch["label"].to(device)
        prediction = model(ids, length)
        loss = criterion(prediction, label)
        accuracy = get_accuracy(prediction, label)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        epoch_losses.append(loss.item())
        epoch_accs.append(accuracy.item())
    return epoch_losses, epoch_accs


def evaluate(dataloader, model, criterion, device):
    """Evaluate without gradients; returns the per-batch losses and accuracies."""
    model.eval()
    epoch_losses = []
    epoch_accs = []
    with torch.no_grad():
        for batch in dataloader:
            ids = batch["ids"].to(device)
            length = batch["length"]
            label = batch["label"].to(device)
            prediction = model(ids, length)
            loss = criterion(prediction, label)
            accuracy = get_accuracy(prediction, label)
            epoch_losses.append(loss.item())
            epoch_accs.append(accuracy.item())
    return epoch_losses, epoch_accs


class ConstantWithWarmup(LambdaLR):
    """Learning rate rising linearly over `num_warmup_steps` steps, then constant.

    Step it once per batch.
    """

    def __init__(self, optimizer, num_warmup_steps: int):
        if num_warmup_steps < 0:
            raise ValueError(f"num_warmup_steps must be >= 0, got {num_warmup_steps}")
        self.num_warmup_steps = num_warmup_steps
        super().__init__(optimizer, self.warmup_factor)

    def warmup_factor(self, step: int) -> float:
        """The learning-rate multiplier after `step` scheduler steps."""
        if self.num_warmup_steps == 0:
            return 1.0
        return min(1.0, (step + 1) / self.num_warmup_steps)


def predict_sentiment(text, model, vocab, device):
    """Predict the class of one review; returns (class, probability of that class).

    A review with no known words is read as a single unknown word.
    """
    ids = tokenize(vocab, text) or [HyperParams().UNK_INDEX]
    tensor = torch.LongTensor(ids).unsqueeze(dim=0).to(device)
    length = torch.LongTensor([len(ids)])
    model.eval()
    with torch.no_grad():
        prediction = model(tensor, length).squeeze(dim=0)
    probability = torch.softmax(prediction, dim=-1)
    predicted_class = prediction.argmax(dim=-1).item()
    predicted_probability = probability[predicted_class].item()
    return predicted_class, predicted_probability


def train_and_test_model_with_hparams(hparams, model_type="lstm", **kwargs):
    """Train for N_EPOCHS, keep the epoch with the lowest validation loss, test it.

    Keyword arguments: `csv_path` (default './IMDBDataset.csv'); the others go to the model
    (for example `weight_init_fn`). Returns 'num_params', 'test_loss', 'test_acc' and, for
    reports, 'vocab_size', 'history' (per epoch), 'best_epoch', 'prediction', 'seconds'.
    """
    started = time.perf_counter()
    # Seeding. DO NOT TOUCH! DO NOT TOUCH hparams.SEED!
    torch.manual_seed(hparams.SEED)
    random.seed(hparams.SEED)
    np.random.seed(hparams.SEED)

    csv_path = kwargs.pop("csv_path", "./IMDBDataset.csv")
    x_train, x_valid, x_test, y_train, y_valid, y_test = load_imdb(csv_path)
    vocab = build_vocab(x_train, hparams=hparams)
    vocab_size = len(vocab)
    print(f"Length of vocabulary is {vocab_size}")

    train_data = IMDB(x_train, y_train, vocab, hparams.MAX_LENGTH)
    valid_data = IMDB(x_valid, y_valid, vocab, hparams.MAX_LENGTH)
    test_data = IMDB(x_test, y_test, vocab, hparams.MAX_LENGTH)

    collate_fn = functools.partial(collate, pad_index=hparams.PAD_INDEX)
    train_dataloader = DataLoader(
        train_data, batch_size=hparams.BATCH_SIZE, collate_fn=collate_fn, shuffle=True
    )
    valid_dataloader = DataLoader(
        valid_data, batch_size=hparams.BATCH_SIZE, collate_fn=collate_fn
    )
    test_dataloader = DataLoader(test_data, batch_size=hparams.BATCH_SIZE, collate_fn=collate_fn)

    # Model
    if model_type != "lstm":
        raise ValueError(f"model_type must be 'lstm', got {model_type!r}")
    model = LSTM(
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
    num_params = count_parameters(model)
    print(f"The model has {num_params:,} trainable parameters")

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = model.to(device)

    # DO NOT change the optimizer, the loss or the scheduler!
    optimizer = optim.Adam(model.parameters(), lr=hparams.LR, weight_decay=hparams.WD, eps=1e-6)
    criterion = nn.CrossEntropyLoss().to(device)
    scheduler = ConstantWithWarmup(optimizer, num_warmup_steps=200)

    # TODO[lab1f] begin
    history = []
    best_valid_loss, best_epoch, best_state = float("inf"), 0, None
    for epoch in range(1, hparams.N_EPOCHS + 1):
        train_losses, train_accs = train(
            train_dataloader, model, criterion, optimizer, scheduler, device
        )
        valid_losses, valid_accs = evaluate(valid_dataloader, model, criterion, device)
        row = {
            "epoch": epoch,
            "train_loss": float(np.mean(train_losses)),
            "train_acc": float(np.mean(train_accs)),
            "valid_loss": float(np.mean(valid_losses)),
            "valid_acc": float(np.mean(valid_accs)),
        }
        history.append(row)
        print(
            f"epoch {epoch}: train_loss={row['train_loss']:.4f} train_acc={row['train_acc']:.4f}"
            f" valid_loss={row['valid_loss']:.4f} valid_acc={row['valid_acc']:.4f}"
        )
        if row["valid_loss"] < best_valid_loss:
            best_valid_loss, best_epoch = row["valid_loss"], epoch
            best_state = copy.deepcopy(model.state_dict())

    model.load_state_dict(best_state)
    test_losses, test_accs = evaluate(test_dataloader, model, criterion, device)
    test_loss, test_acc = float(np.mean(test_losses)), float(np.mean(test_accs))
    print(f"best epoch {best_epoch}: test_loss={test_loss:.4f} test_acc={test_acc:.4f}")

    text = x_test[0]
    predicted_class, probability = predict_sentiment(text, model, vocab, device)
    print(f"first test review: {text[:300]}")
    print(f"predicted class {predicted_class} with probability {probability:.4f}")
    return {
        "num_params": num_params,
        "test_loss": test_loss,
        "test_acc": test_acc,
        "vocab_size": vocab_size,
        "history": history,
        "best_epoch": best_epoch,
        "prediction": {"text": text, "class": predicted_class, "probability": probability},
        "seconds": time.perf_counter() - started,
    }
    # TODO[lab1f] end
