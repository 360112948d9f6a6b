"""Facts cell for an executed LabLLM notebook: describe what the student's run left behind.

Runs as the last cell in the student's kernel (inside the sandbox). Finds objects by type,
never by variable name, writes plain JSON, and saves what the grader measures outside the
kernel (measure_lab2.py): every trained model (full weights or LoRA adapter, safetensors),
the tokenizers (``tokenizerK``) and the tokenized datasets (``datasetK``, Arrow files) it
finds, and the batch each DataCollatorForLanguageModeling it finds makes of each saved
dataset's first rows (``collated/collatedK.json``). Claims about these objects count only
through what is measured from the files.
Self-contained: copied into the sandbox, imports neither the grader nor the solution.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def _strategy(value: Any) -> str:
    return str(getattr(value, "value", value)).lower()


def _trainer_facts(trainer: Any, index: int, outbox: Path) -> dict:
    model = trainer.model
    is_peft = hasattr(model, "peft_config")
    saved_to = outbox / f"trainer{index}"
    try:
        model.save_pretrained(str(saved_to), safe_serialization=True)
        saved = str(saved_to.name)
    except Exception as exc:  # noqa: BLE001 - reported as data
        saved = f"error: {type(exc).__name__}: {exc}"
    history = [{k: (float(v) if isinstance(v, (int, float)) and math.isfinite(v) else str(v))
                for k, v in entry.items()} for entry in trainer.state.log_history]
    return {
        "peft": is_peft,
        "eval_strategy": _strategy(trainer.args.eval_strategy),
        "logging_strategy": _strategy(trainer.args.logging_strategy),
        "epochs": float(trainer.args.num_train_epochs),
        "train_batch": int(trainer.args.per_device_train_batch_size),
        "global_step": int(trainer.state.global_step),
        "max_steps": int(trainer.state.max_steps),
        "log_history": history,
        "output_dir": str(trainer.args.output_dir),
        "has_eval_dataset": trainer.eval_dataset is not None,
        "saved": saved,
        **(_peft_facts(model) if is_peft else {}),
    }


def _peft_facts(model: Any) -> dict:
    config = next(iter(model.peft_config.values()))
    trainable = [(n, p.numel()) for n, p in model.named_parameters() if p.requires_grad]
    return {
        "lora": {
            "r": int(config.r), "alpha": float(config.lora_alpha),
            "dropout": float(config.lora_dropout), "bias": str(config.bias),
            "task_type": _strategy(config.task_type),
            "target_modules": sorted(config.target_modules or []),
        },
        "trainable_count": int(sum(n for _, n in trainable)),
        "trainable_non_lora": [n for n, _ in trainable if "lora_" not in n][:5],
    }


MAX_ARTIFACTS = 8  # tokenizers and datasets saved, each
MAX_SAVED_ROWS = 50_000  # a tokenized dataset larger than this is not saved (not a subset)


def _save(value: Any, kind: str, out: Path, saved: dict[int, str]) -> str:
    """Save a tokenizer (save_pretrained) or tokenized dataset (save_to_disk) as
    ``<kind>K`` in the outbox, once per object (``saved``: id -> name); its name, or why
    it was not saved."""
    if id(value) in saved:
        return saved[id(value)]
    count = sum(name.startswith(kind) for name in saved.values())
    if count >= MAX_ARTIFACTS:
        return "not saved: too many"
    target = out / f"{kind}{count}"
    try:
        if kind == "tokenizer":
            value.save_pretrained(str(target))
            result = target.name
        elif value.num_rows > MAX_SAVED_ROWS:
            result = "not saved: too many rows"
        else:
            value.save_to_disk(str(target))
            result = target.name
    except Exception as exc:  # noqa: BLE001 - reported as data
        result = f"not saved: {type(exc).__name__}"
    saved[id(value)] = result
    return result


def _dataset_facts(name: str, ds: Any) -> dict:
    facts = {"name": name, "rows": int(ds.num_rows), "columns": list(ds.column_names),
             "format": str(ds.format.get("type"))}
    if ds.num_rows and "input_ids" in ds.column_names:
        rows = ds.select(range(min(3, ds.num_rows))).with_format(None)
        ids = [list(r["input_ids"]) for r in rows]
        facts["lengths"] = sorted({len(x) for x in ids})
        if "labels" in ds.column_names:
            facts["labels_equal_ids"] = all(list(r["labels"]) == list(r["input_ids"])
                                            for r in rows)
    return facts


COLLATE_ROWS = 4  # first rows of each saved dataset that each collator found collates
MAX_COLLATED = 16  # collated batches saved (collators x datasets)
MAX_COLLATED_WIDTH = 4096  # a batch wider than this is not saved
COLLATED = "collated"  # the outbox folder of the collated batches (collatedK.json)


def _collate(collator: Any, dataset: Any, dataset_name: str, tokenizer_name: str | None,
             out: Path, index: int) -> str:
    """``collator`` applied to the first rows of ``dataset`` (input_ids, and attention_mask
    when present, as a Trainer hands them over), saved as plain JSON for the measurement
    job: ``collated/collated<index>.json`` naming the dataset and tokenizer folders."""
    if index >= MAX_COLLATED:
        return "not saved: too many"
    keep = [c for c in ("input_ids", "attention_mask") if c in dataset.column_names]
    head = dataset.select(range(min(COLLATE_ROWS, dataset.num_rows))).with_format(None)
    features = [{c: list(row[c]) for c in keep} for row in head]
    batch = collator(features)
    saved = {"dataset": dataset_name, "tokenizer": tokenizer_name}
    for key in ("input_ids", "attention_mask", "labels"):
        if key in batch:
            value = batch[key]
            saved[key] = [[int(x) for x in row] for row in
                          (value.tolist() if hasattr(value, "tolist") else value)]
    if max((len(r) for r in saved.get("input_ids", [])), default=0) > MAX_COLLATED_WIDTH:
        return "not saved: too wide"
    (out / COLLATED).mkdir(exist_ok=True)
    target = out / COLLATED / f"collated{index}.json"
    target.write_text(json.dumps(saved))
    return target.stem


def _collator_facts(collators: list[tuple[str, Any]], datasets: list[tuple[str, Any]],
                    out: Path, saved: dict[int, str], errors: list[str]) -> list[dict]:
    """Every collator found applied to the first rows of every dataset saved for the
    measurement job (``datasets``: folder name, dataset); the batches are saved, and what
    the kernel says about them is only a pointer: the measurement job checks each batch
    against the saved dataset's rows and the collator's saved tokenizer."""
    facts, count = [], 0
    for name, collator in collators:
        entry = {"name": name, "batches": []}
        tokenizer = getattr(collator, "tokenizer", None)
        tokenizer_name = _save(tokenizer, "tokenizer", out, saved) if tokenizer is not None \
            else None
        for dataset_name, dataset in datasets:
            try:
                entry["batches"].append(_collate(collator, dataset, dataset_name,
                                                 tokenizer_name, out, count))
                count += 1
            except Exception as exc:  # noqa: BLE001 - reported as data
                errors.append(f"collator {name} on {dataset_name}: {type(exc).__name__}: "
                              f"{exc}"[:300])
        facts.append(entry)
    return facts


def _objects(namespace: dict) -> list[tuple[str, Any]]:
    """Public globals, and what tuples, lists, dicts and plain objects among them hold."""
    found: list[tuple[str, Any]] = []
    for name, value in list(namespace.items()):
        if name.startswith("_") or isinstance(value, type):
            continue
        found.append((name, value))
        if isinstance(value, (tuple, list)):
            found += [(f"{name}[{i}]", v) for i, v in enumerate(value[:20])]
        elif isinstance(value, dict) and not hasattr(value, "column_names"):
            found += [(f"{name}[{k!r}]", v) for k, v in list(value.items())[:20]]
        elif hasattr(value, "__dict__") and type(value).__module__ == "__main__":
            found += [(f"{name}.{k}", v) for k, v in list(vars(value).items())[:20]]
    return found


def collect(namespace: dict, outbox: str) -> None:
    """Write outbox/facts.json describing the notebook's objects and trained models."""
    import datasets
    from hw3_kernel_record import RECORD
    from torch.utils.data import DataLoader, RandomSampler
    from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerBase

    out = Path(outbox)
    out.mkdir(parents=True, exist_ok=True)
    facts: dict[str, Any] = {"tokenizers": [], "datasets": [], "loaders": [], "errors": []}
    saved: dict[int, str] = {}  # objects saved for the measurement job: id -> folder
    collators: dict[int, tuple[str, Any]] = {}  # id -> (where found, collator)
    saved_sets: list[tuple[str, Any]] = []  # (folder, dataset) of the datasets saved
    for name, value in _objects(namespace):
        try:
            if isinstance(value, PreTrainedTokenizerBase):
                facts["tokenizers"].append({
                    "name": name, "pad": value.pad_token, "eos": value.eos_token,
                    "saved": _save(value, "tokenizer", out, saved)})
            elif isinstance(value, (datasets.Dataset, datasets.DatasetDict)):
                parts = value.items() if isinstance(value, datasets.DatasetDict) \
                    else [(None, value)]
                for key, part in parts:
                    entry = _dataset_facts(name if key is None else f"{name}[{key}]", part)
                    if "input_ids" in part.column_names:
                        entry["saved"] = _save(part, "dataset", out, saved)
                        if entry["saved"].startswith("dataset") and all(
                                p is not part for _, p in saved_sets):
                            saved_sets.append((entry["saved"], part))
                    facts["datasets"].append(entry)
            elif isinstance(value, DataLoader):
                facts["loaders"].append({"name": name, "batch_size": value.batch_size,
                                         "rows": len(value.dataset),
                                         "shuffled": isinstance(value.sampler, RandomSampler)})
                if isinstance(value.collate_fn, DataCollatorForLanguageModeling):
                    collators.setdefault(id(value.collate_fn), (f"{name}.collate_fn",
                                                                value.collate_fn))
            elif isinstance(value, DataCollatorForLanguageModeling):
                collators.setdefault(id(value), (name, value))
        except Exception as exc:  # noqa: BLE001 - one odd object must not hide the rest
            facts["errors"].append(f"{name}: {type(exc).__name__}: {exc}")
    facts["train_calls"] = list(RECORD["train_calls"])
    facts["loaded"] = list(RECORD["loaded"])
    facts["saved"] = list(RECORD["saved"])
    facts["compat"] = list(RECORD["compat"])
    # The first tokenizer the notebook loaded ((a)'s, also when (b) loads another under the
    # same name), saved for the measurement job: its pad token counts as measured there.
    facts["loaded_tokenizers"] = [{"saved": _save(t, "tokenizer", out, saved)}
                                  for t in RECORD.get("tokenizers", [])[:1]]
    facts["trainers"] = []
    for i, trainer in enumerate(RECORD["trainers"]):
        try:
            calls = [c for c in RECORD["train_calls"] if c["trainer"] == i]
            facts["trainers"].append({**_trainer_facts(trainer, i, out), "training": {
                "mode": calls[-1]["mode"], "why": calls[-1]["why"]} if calls else None})
        except Exception as exc:  # noqa: BLE001
            facts["errors"].append(f"trainer {i}: {type(exc).__name__}: {exc}")
        collator = getattr(trainer, "data_collator", None)
        if isinstance(collator, DataCollatorForLanguageModeling):
            collators.setdefault(id(collator), (f"trainer {i}", collator))
    # Every collator found, on the first rows of every dataset saved: the batches are saved
    # for the measurement job, which alone decides whether they mask the padding.
    facts["collators"] = _collator_facts(list(collators.values()), saved_sets, out, saved,
                                         facts["errors"])
    (out / "facts.json").write_text(json.dumps(facts, default=str))
