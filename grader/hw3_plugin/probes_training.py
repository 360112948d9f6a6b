"""Lab 1 (f) probe: runs INSIDE the sandbox beside ``probes_lab1`` (the student package's
probe file, copied in under that name), records the student's training function through
hooks on DataLoader passes and the classifier's forward (any loop, not only the given
train/evaluate). Kept in the plug-in: it holds how the hidden checks look.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

from probes_lab1 import _as_list, _colab_pandas, _hparams, _ns, _type_name


def _fingerprint(model: Any) -> list[float]:
    """A cheap summary of a model's weights, equal for equal weights."""
    import torch

    with torch.no_grad():
        flat = [p.detach().float().flatten() for p in model.parameters()]
        if not flat:
            return []
        allp = torch.cat(flat)
        return [float(allp.sum()), float(allp.abs().sum()), float((allp * allp).sum())]


def _spoil(model: Any) -> None:
    """Negate every linear layer, so the last epoch's validation loss is its worst."""
    import torch
    import torch.nn as nn

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                for p in module.parameters():
                    p.neg_()


def _labels(batch: Any) -> Any:
    """The label tensor of a collated batch (the given collate's dict), or None."""
    import torch

    if isinstance(batch, dict) or hasattr(batch, "keys"):
        for key in ("label", "labels"):
            if key in batch and torch.is_tensor(batch[key]):
                return batch[key].detach()
    return None


class _TrainingRecorder:
    """What a training function does with the classifier, whatever its loop looks like.

    Two hooks, neither in the student's code: every pass over a DataLoader (its
    ``__iter__``) and every forward of the classifier class (a global forward hook). The
    loss and accuracy of each batch are computed from the logits and the batch's labels as
    the given ``train``/``evaluate`` compute them (mean cross-entropy, arg-max accuracy); a
    pass during which the weights changed is a training epoch, any other an evaluation.
    A single-row forward outside any pass is a prediction. After the ``n_epochs``-th
    training pass the classifier's linear layers are negated (see ``_spoil``).
    """

    def __init__(self, model_class: Any, n_epochs: int) -> None:
        self.model_class = model_class
        self.n_epochs = n_epochs
        self.calls: list[dict] = []
        self.current: dict | None = None
        self.trained = 0

    def forward_hook(self, module: Any, inputs: Any, output: Any) -> None:
        import torch
        import torch.nn.functional as F

        if not isinstance(module, self.model_class) or not torch.is_tensor(output) \
                or output.dim() != 2:
            return
        with torch.no_grad():
            logits = output.detach().float()
            record = self.current
            if record is not None and record["labels"] is not None \
                    and len(record["labels"]) == len(logits):
                if record["model"] is None:
                    record["model"], record["before"] = module, _fingerprint(module)
                labels = record["labels"].to(logits.device)
                record["losses"].append(float(F.cross_entropy(logits, labels)))
                record["accs"].append(float((logits.argmax(-1) == labels).float().mean()))
            elif record is None and len(logits) == 1:
                probability = torch.softmax(logits[0], dim=-1)
                self.calls.append({"kind": "predict", "result": [
                    str(int(probability.argmax())), str(float(probability.max()))]})

    def iterate(self, loader: Any, batches: Any) -> Any:
        """The batches of one pass over ``loader``, recorded."""
        record = {"rows": len(loader.dataset), "losses": [], "accs": [], "labels": None,
                  "model": None, "before": None}
        outer, self.current = self.current, record
        try:
            for batch in batches:
                record["labels"] = _labels(batch)
                self.current = record
                yield batch
        finally:
            self.current = outer
            self._finish(record)

    def _finish(self, record: dict) -> None:
        import numpy as np

        if record["model"] is None or not record["losses"]:
            return
        after = _fingerprint(record["model"])
        loss = float(np.mean(record["losses"]))
        if after != record["before"]:
            self.trained += 1
            self.calls.append({"kind": "train", "loss": loss, "rows": record["rows"]})
            if self.trained == self.n_epochs:
                _spoil(record["model"])
        else:
            self.calls.append({"kind": "evaluate", "rows": record["rows"], "loss": loss,
                               "acc": float(np.mean(record["accs"])), "weights": after})


def training_run(student: Any, args: dict) -> dict:
    """(f) the student's training function, its passes over the data recorded by hooks on
    the data loaders and the classifier (so any loop is seen: the given train/evaluate or
    the student's own batch loops).

    After the last epoch's training the grader negates the classifier's weights: the last
    epoch then has the worst validation loss, so testing with the best epoch's weights
    (and not the last ones, or a state_dict that aliases them) shows in the record. An
    exception is recorded with what ran before it, so the checks it leaves decidable still
    decide.
    """
    ns = _ns(student)
    import torch
    from torch.utils.data import DataLoader

    _colab_pandas()
    hp = _hparams(ns)
    recorder = _TrainingRecorder(ns.get("LSTM", torch.nn.Module), hp.N_EPOCHS)
    given_predict = ns.get("predict_sentiment")

    def predict_sentiment(*a, **k):
        result = given_predict(*a, **k)
        values = _as_list(result) if isinstance(result, (tuple, list)) else [result]
        recorder.calls.append({"kind": "predict", "result": [str(v) for v in values]})
        return result

    if given_predict is not None:
        ns["predict_sentiment"] = predict_sentiment
    original_iter = DataLoader.__iter__
    DataLoader.__iter__ = lambda loader: recorder.iterate(loader, original_iter(loader))
    handle = torch.nn.modules.module.register_module_forward_hook(recorder.forward_hook)
    buffer = io.StringIO()
    raised = None
    try:
        with contextlib.redirect_stdout(buffer):
            returned = ns["train_and_test_model_with_hparams"](hp, "lstm")
    except Exception as exc:  # noqa: BLE001 - what ran before it is still judged
        raised, returned = f"{type(exc).__name__}: {exc}", None
    finally:
        handle.remove()
        DataLoader.__iter__ = original_iter
    printed = buffer.getvalue()
    if isinstance(returned, dict):
        returned = {str(k): float(v) for k, v in returned.items()
                    if isinstance(v, (int, float)) or hasattr(v, "item")}
    else:
        returned = {"__type__": _type_name(returned)}
    return {"calls": recorder.calls, "returned": returned, "printed": printed[-20000:],
            "raised": raised}
