"""Lab 1 (f) probe: runs INSIDE the sandbox beside ``probes_lab1`` (the student package's
probe file, copied in under that name), records the given train/evaluate/predict calls of
the student's training function. Kept in the plug-in: it holds how the hidden checks look.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

from probes_lab1 import _as_list, _hparams, _ns, _type_name


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


def training_run(student: Any, args: dict) -> dict:
    """(f) the student's training function, with the given train/evaluate/predict recorded.

    After the last epoch's training the grader negates the classifier's weights: the last
    epoch then has the worst validation loss, so testing with the best epoch's weights
    (and not the last ones, or a state_dict that aliases them) shows in the record.
    """
    ns = _ns(student)
    import numpy as np

    hp = _hparams(ns)
    calls: list[dict] = []
    given_train, given_eval = ns["train"], ns["evaluate"]
    given_predict = ns.get("predict_sentiment")

    def train(dataloader, model, *a, **k):
        result = given_train(dataloader, model, *a, **k)
        losses = _as_list(result[0]) if isinstance(result, tuple) else _as_list(result)
        calls.append({"kind": "train", "loss": float(np.mean(losses)) if losses else None,
                      "rows": len(dataloader.dataset)})
        if sum(c["kind"] == "train" for c in calls) == hp.N_EPOCHS:
            _spoil(model)
        return result
    def evaluate(dataloader, model, *a, **k):
        result = given_eval(dataloader, model, *a, **k)
        losses, accs = (result[0], result[1]) if isinstance(result, tuple) else (result, [])
        losses, accs = _as_list(losses), _as_list(accs)
        calls.append({"kind": "evaluate", "rows": len(dataloader.dataset),
                      "loss": float(np.mean(losses)) if losses else None,
                      "acc": float(np.mean(accs)) if accs else None,
                      "weights": _fingerprint(model)})
        return result

    def predict_sentiment(*a, **k):
        result = given_predict(*a, **k)
        values = _as_list(result) if isinstance(result, (tuple, list)) else [result]
        calls.append({"kind": "predict", "result": [str(v) for v in values]})
        return result

    ns["train"], ns["evaluate"] = train, evaluate
    if given_predict is not None:
        ns["predict_sentiment"] = predict_sentiment
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        returned = ns["train_and_test_model_with_hparams"](hp, "lstm")
    printed = buffer.getvalue()
    if isinstance(returned, dict):
        returned = {str(k): float(v) for k, v in returned.items()
                    if isinstance(v, (int, float)) or hasattr(v, "item")}
    else:
        returned = {"__type__": _type_name(returned)}
    return {"calls": calls, "returned": returned, "printed": printed[-20000:]}
