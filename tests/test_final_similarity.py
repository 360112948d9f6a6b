"""Similarity per question (copydetect): a planted copied pair (renamed variables,
reordered definitions) flagged with a side-by-side page; the samples (reference, valid
variants) not flagged against each other; two untouched starters (given code and stubs
only) not flagged: the given code is not counted."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import nbformat
from autograder.cli import main

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "fixtures" / "submissions"

OWN = '''
class IMDB(Dataset):
    def __init__(self, x, y, vocab, max_length=256):
        self.reviews = list(x)
        self.labels = list(y)
        self.vocab = vocab
        self.max_length = max_length

    def __len__(self):
        return len(self.reviews)

    def __getitem__(self, idx):
        review = self.reviews[idx]
        token_ids = tokenize(self.vocab, review)
        if len(token_ids) > self.max_length:
            token_ids = token_ids[:self.max_length]
        sentiment = self.labels[idx]
        target = 1 if str(sentiment).strip().lower() in ("positive", "1") else 0
        return {"ids": token_ids, "length": len(token_ids), "label": target}


def collate(batch, pad_index):
    longest = max(len(example["ids"]) for example in batch)
    padded = []
    for example in batch:
        extra = longest - len(example["ids"])
        padded.append(list(example["ids"]) + [pad_index] * extra)
    ids = torch.tensor(padded, dtype=torch.long)
    lengths = torch.tensor([example["length"] for example in batch], dtype=torch.float)
    labels = torch.tensor([example["label"] for example in batch], dtype=torch.long)
    return {"ids": ids, "length": lengths, "label": labels}
'''

# the same code: variables renamed, collate before IMDB, the methods in another order
COPIED = '''
def collate(items, pad_index):
    maxlen = max(len(ex["ids"]) for ex in items)
    rows = []
    for ex in items:
        gap = maxlen - len(ex["ids"])
        rows.append(list(ex["ids"]) + [pad_index] * gap)
    ids = torch.tensor(rows, dtype=torch.long)
    lens = torch.tensor([ex["length"] for ex in items], dtype=torch.float)
    ys = torch.tensor([ex["label"] for ex in items], dtype=torch.long)
    return {"ids": ids, "length": lens, "label": ys}


class IMDB(Dataset):
    def __init__(self, x, y, vocab, max_length=256):
        self.texts = list(x)
        self.targets = list(y)
        self.vocab = vocab
        self.max_length = max_length

    def __getitem__(self, i):
        text = self.texts[i]
        seq = tokenize(self.vocab, text)
        if len(seq) > self.max_length:
            seq = seq[:self.max_length]
        lab = self.targets[i]
        y_val = 1 if str(lab).strip().lower() in ("positive", "1") else 0
        return {"ids": seq, "length": len(seq), "label": y_val}

    def __len__(self):
        return len(self.texts)
'''


def _with_cell(sample: str, cell_id: str, source: str, target: Path) -> None:
    """``sample``'s code.zip with LabRNN's cell ``cell_id`` replaced, as ``target``."""
    with zipfile.ZipFile(SAMPLES / sample / "code.zip") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    name = next(n for n in members if n.endswith("LabRNN.ipynb"))
    nb = nbformat.reads(members[name].decode(), as_version=4)
    next(c for c in nb.cells if c.get("id") == cell_id).source = source.strip()
    members[name] = nbformat.writes(nb).encode()
    target.mkdir(parents=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    (target / "code.zip").write_bytes(buffer.getvalue())


def _copy_sample(sample: str, target: Path) -> None:
    target.mkdir(parents=True)
    (target / "code.zip").write_bytes((SAMPLES / sample / "code.zip").read_bytes())


def test_planted_pair_flagged_samples_and_given_code_not(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "class"
    _copy_sample("reference", folder / "reference")
    _copy_sample("valid-variants", folder / "variants")
    _copy_sample("starter", folder / "sam")
    _copy_sample("starter", folder / "sue")  # two untouched starters: given code only
    _with_cell("reference", "lab1d", OWN, folder / "pat")
    _with_cell("reference", "lab1d", COPIED, folder / "quin")
    out = tmp_path / "out"
    assert main(["similarity", str(folder), "--out", str(out), "--threshold", "0.6"]) == 0
    assert "among 6 students" in capsys.readouterr().out
    with (out / "similarity" / "pairs.csv").open(newline="") as f:
        pairs = list(csv.DictReader(f))
    assert [(p["group"], p["a"], p["b"]) for p in pairs] == [("lab1d", "pat", "quin")]
    assert float(pairs[0]["similarity"]) >= 0.9
    page = (out / "similarity" / pairs[0]["page"]).read_text()
    assert "<mark>" in page and "quin" in page and "staff only" in page.lower()
    assert pairs[0]["page"] in (out / "similarity" / "index.html").read_text()


def test_lower_threshold_still_ignores_boilerplate(tmp_path: Path) -> None:
    """Even at 10%, the reference, the variants and the starters share nothing that
    counts: what they share is the given code and the reference."""
    folder = tmp_path / "class"
    for sample in ("reference", "valid-variants", "starter", "bug-vocab-threshold"):
        _copy_sample(sample, folder / sample)
    out = tmp_path / "out"
    assert main(["similarity", str(folder), "--out", str(out), "--threshold", "0.1"]) == 0
    with (out / "similarity" / "pairs.csv").open(newline="") as f:
        assert list(csv.DictReader(f)) == []
