"""Lab 1 probes of (a)-(e): call the student's functions, return plain data.

One source for the grader and the self-check: the grader copies this file into its
sandbox (as ``probes_lab1``), the self-check calls it in the student's own kernel.
Self-contained (standard library, pandas, torch, imported lazily): it imports nothing of
this package, the grader or the solution. Each probe takes the student's module namespace
(a dict or a module) and JSON arguments and returns JSON-able values; judging happens
elsewhere (``hw3_student.checks`` and the grader's plug-in).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

_TAG = re.compile(r"<[^>]+>")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def _normalise(text: Any) -> str:
    """Text with tags, case and punctuation removed, so cleaned variants of a review match."""
    return _NON_WORD.sub(" ", _TAG.sub(" ", str(text)).lower()).strip()


def _digest(text: Any) -> str:
    return hashlib.sha1(_normalise(text).encode()).hexdigest()[:16]


def _as_list(values: Any) -> list:
    """A Series, array, tensor, tuple or list as a plain list."""
    if hasattr(values, "tolist"):
        return list(values.tolist())
    return list(values)


def _ns(student: Any) -> dict:
    """The student module's globals: the engine's namespace mapping, a dict, or a module."""
    return student if hasattr(student, "__getitem__") else vars(student)


def _type_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _hparams(ns: dict) -> Any:
    """The student's HyperParams instance (the given class), or None."""
    if "hparams" in ns and hasattr(ns["hparams"], "STOP_WORDS"):
        return ns["hparams"]
    cls = ns.get("HyperParams")
    return cls() if cls is not None else None


def _colab_pandas() -> None:
    """pandas as on Colab (2.x): text columns as Python objects, not pandas 3's ``str``
    dtype, under which label assignments such as ``df.loc[mask, "sentiment"] = 1`` raise
    TypeError and ``np.random.shuffle(series.values)`` may repeat rows. Code written for the
    handout's Colab is graded as it ran there."""
    import warnings

    import pandas as pd

    with warnings.catch_warnings():  # pandas 3 warns that pandas 4 drops the option
        warnings.simplefilter("ignore")
        try:
            pd.set_option("future.infer_string", False)
        except (KeyError, ValueError, AttributeError):  # pandas without it: nothing to do
            pass


def split(student: Any, args: dict) -> dict:
    """(a) load_imdb on the data file: sizes, review digests and labels of each part."""
    ns = _ns(student)
    _colab_pandas()
    parts = ns["load_imdb"](args["csv_path"])
    if not isinstance(parts, (tuple, list)) or len(parts) != 6:
        return {"error": f"load_imdb returned {_type_name(parts)}, not six parts"}
    out: dict[str, Any] = {"types": [_type_name(p) for p in parts]}
    xs, ys = parts[:3], parts[3:]
    out["x"] = [[_digest(r) for r in _as_list(x)] for x in xs]
    out["y"] = [[str(v) for v in _as_list(y)] for y in ys]
    out["shapes"] = [list(getattr(x, "shape", (len(_as_list(x)),))) for x in xs]
    return out


def vocab(student: Any, args: dict) -> dict:
    """(b) build_vocab on probe corpora; returns each vocabulary as a word -> index dict."""
    ns = _ns(student)
    hp = _hparams(ns)
    results = []
    for corpus, min_freq in zip(args["corpora"], args["min_freqs"]):
        built = ns["build_vocab"](list(corpus), min_freq=min_freq, hparams=hp)
        results.append({str(k): int(v) for k, v in dict(built).items()})
    return {"vocabs": results}


def tokenize(student: Any, args: dict) -> dict:
    """(c) tokenize with a vocabulary supplied by the grader."""
    ns = _ns(student)
    return {
        "ids": [
            [int(i) for i in _as_list(ns["tokenize"](dict(args["vocab"]), text))]
            for text in args["texts"]
        ]
    }


def _own_tokenize(ns: dict, vocab_: dict, text: str) -> list[int] | None:
    try:
        return [int(i) for i in _as_list(ns["tokenize"](dict(vocab_), text))]
    except Exception:  # noqa: BLE001 - the student's tokenize is judged elsewhere
        return None


def dataset_items(student: Any, args: dict) -> dict:
    """(d) IMDB.__getitem__ on probe reviews, with string labels and with 0/1 labels."""
    ns = _ns(student)
    import pandas as pd

    _colab_pandas()
    runs = {}
    for label_kind, labels in (("str", args["labels"]), ("int", args["int_labels"])):
        try:
            ds = ns["IMDB"](
                pd.Series(args["texts"]), pd.Series(labels), dict(args["vocab"]),
                max_length=args["max_length"],
            )
            items = []
            for i in range(len(args["texts"])):
                item = ds[i]
                items.append({
                    "keys": sorted(str(k) for k in item),
                    "ids": [int(v) for v in _as_list(item["ids"])],
                    "length": int(item["length"]),
                    "label": int(item["label"]),
                })
            runs[label_kind] = {"items": items}
        except Exception as exc:  # noqa: BLE001 - reported as data
            runs[label_kind] = {"error": f"{type(exc).__name__}: {exc}"}
    own = [_own_tokenize(ns, args["vocab"], t) for t in args["texts"]]
    return {"runs": runs, "own_tokenize": own}


def _describe(module: Any) -> dict:
    import torch.nn as nn

    layers: dict[str, list] = {"embedding": [], "lstm": [], "linear": [], "dropout": []}
    for name, sub in module.named_modules():
        if isinstance(sub, nn.Embedding):
            layers["embedding"].append({
                "name": name, "num": sub.num_embeddings, "dim": sub.embedding_dim,
                "padding_idx": sub.padding_idx,
            })
        elif isinstance(sub, nn.LSTM):
            layers["lstm"].append({
                "name": name, "input": sub.input_size, "hidden": sub.hidden_size,
                "layers": sub.num_layers, "bidirectional": sub.bidirectional,
                "batch_first": sub.batch_first, "dropout": sub.dropout,
            })
        elif isinstance(sub, nn.Linear):
            layers["linear"].append(
                {"name": name, "in": sub.in_features, "out": sub.out_features}
            )
        elif isinstance(sub, nn.Dropout):
            layers["dropout"].append({"name": name, "p": sub.p})
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return {"layers": layers, "trainable": int(trainable)}


def model_init(student: Any, args: dict) -> dict:
    """(e) LSTM.__init__ for each configuration: the layers it made and its size."""
    ns = _ns(student)
    import torch

    out = []
    for config in args["configs"]:
        torch.manual_seed(0)
        out.append(_describe(ns["LSTM"](**config)))
    return {"models": out}


def model_forward(student: Any, args: dict) -> dict:
    """(e) forward on a padded batch, the same batch padded further, and each row alone;
    then, with the layers found by type set to seeded weights, each row alone again (the
    grader runs the reference forward with the same weights)."""
    ns = _ns(student)
    import torch

    torch.manual_seed(args["seed"])
    model = ns["LSTM"](**args["config"])
    model.eval()
    rows = [torch.tensor(r, dtype=torch.long) for r in args["rows"]]
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.float)
    width = max(len(r) for r in rows)

    def batch(extra: int) -> torch.Tensor:
        ids = torch.full((len(rows), width + extra), args["config"]["pad_index"])
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
        return ids

    with torch.no_grad():
        padded = model(batch(0), lengths)
        wider = model(batch(args["extra_padding"]), lengths)
        alone = [
            model(r.unsqueeze(0), torch.tensor([float(len(r))])).squeeze(0).tolist()
            for r in rows
        ]
        layers = typed_layers(model)
        logits = None
        if isinstance(layers, tuple):
            fill_weights(*layers, seed=args["seed"])
            logits = [  # each row alone: padding is lab1e_forward.padding's business
                model(r.unsqueeze(0), torch.tensor([float(len(r))])).squeeze(0).tolist()
                for r in rows]
    return {
        "shape": list(padded.shape),
        "padded": padded.tolist(),
        "wider": wider.tolist(),
        "alone": alone,
        "finite": bool(torch.isfinite(padded).all()),
        "logits": logits,
        "layers": layers if isinstance(layers, str) else "",
    }


def typed_layers(model: Any) -> tuple[Any, Any, Any] | str:
    """The model's one embedding, one LSTM and one linear layer (found by type), or why
    they cannot stand for the whole model (other layers with weights, or several)."""
    import torch.nn as nn

    found = {kind: [m for m in model.modules() if isinstance(m, kind)]
             for kind in (nn.Embedding, nn.LSTM, nn.Linear)}
    if any(len(mods) != 1 for mods in found.values()):
        return ("the model has " + ", ".join(f"{len(mods)} {kind.__name__}"
                                             for kind, mods in found.items()))
    layers = tuple(mods[0] for mods in found.values())
    covered = sum(p.numel() for m in layers for p in m.parameters())
    if covered != sum(p.numel() for p in model.parameters()):
        return "the model has weights besides one Embedding, one LSTM and one Linear"
    return layers


def fill_weights(embedding: Any, lstm: Any, linear: Any, seed: int, scale: float = 0.5
                 ) -> None:
    """Set the three layers' weights to seeded normal values (the grader fills its own
    reference model the same way): outputs of a realistic size, so logits and
    probabilities differ clearly."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    tensors = [embedding.weight, *(getattr(lstm, n) for n in lstm._flat_weights_names),
               linear.weight, *([linear.bias] if linear.bias is not None else [])]
    with torch.no_grad():
        for tensor in tensors:
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * scale)
