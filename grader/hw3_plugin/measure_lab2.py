"""Lab 2 measurement probe: runs INSIDE a sandbox of its own, after the LabLLM notebook's
job, with no student code in it (the engine's ``Job.reads_outbox_of``).

It reads what the notebook's facts cell saved (``previous-outbox/``):
- the models (``trainerN``: a full GPT-2 or a LoRA adapter), each loaded from safetensors
  only (a folder holding pickle files, ``.bin``/``.pt``/``.pkl``, is refused, never
  unpickled): its validation perplexity, and the pretrained GPT-2's with the same code on
  the grader's batches; each adapter also on the last full model saved (lab2e.base);
- the tokenizers (``tokenizerK``, loaded without remote code): pad and end-of-text tokens
  and the ids they give the grader's probe texts;
- the tokenized datasets (``datasetK``, Arrow files): rows, columns, format, the first
  rows' ids, whether labels equal input_ids;
- the batches each data collator made of a saved dataset's first rows
  (``collated/collatedK.json``): whether they are that dataset's rows, and whether the
  labels are the input ids with every pad position (the collator's saved tokenizer's pad
  id) set to -100, as ``DataCollatorForLanguageModeling(mlm=False)`` makes them.
Only numbers and short lists come back: no weights reach the grader's process or the job
cache. It runs on the GPU when its job is given one.

Self-contained (standard library, torch, transformers, datasets, peft): never imports the
grader or the solution.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
INBOX = "previous-outbox"


def _device() -> Any:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def perplexity(model: Any, batches: list[dict[str, list]]) -> float:
    """exp(summed next-token loss over the shifted labels (-100 ignored) / the attention
    mask's sum), in eval mode: the handout's definition, on the grader's batches."""
    import torch

    device = next(model.parameters()).device
    model.eval()
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")
    total_loss, total_length = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            ids = torch.tensor(batch["input_ids"], device=device)
            mask = torch.tensor(batch["attention_mask"], device=device)
            labels = torch.tensor(batch["labels"], device=device)
            logits = model(input_ids=ids, attention_mask=mask).logits
            shift_logits = logits[:, :-1, :].contiguous()
            loss = loss_fn(shift_logits.view(-1, shift_logits.size(-1)),
                           labels[:, 1:].contiguous().view(-1))
            total_loss += loss.item()
            total_length += mask.sum().item()
    return math.exp(total_loss / total_length)


def _refusal(folder: Path, base_config: dict, shape_keys: list[str]) -> str | None:
    """Why ``folder`` is not loaded (pickle files, not GPT-2's shape, no safetensors)."""
    pickled = sorted(p.name for p in folder.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickled:
        return f"holds pickle files ({', '.join(pickled[:3])}); only safetensors are loaded"
    if (folder / "adapter_config.json").is_file():
        adapter = json.loads((folder / "adapter_config.json").read_text())
        if not 0 < int(adapter.get("r", 0)) <= int(base_config["n_embd"]):
            return f"a LoRA rank of {adapter.get('r')!r} does not fit GPT-2"
        if not (folder / "adapter_model.safetensors").is_file():
            return "no adapter_model.safetensors"
        return None
    config = json.loads((folder / "config.json").read_text())
    if any(config.get(k) != base_config.get(k) for k in shape_keys):
        return "its config is not GPT-2's shape"
    if not list(folder.glob("*.safetensors")):
        return "no .safetensors weights"
    return None


def _load(folder: Path, base: str) -> Any:
    from transformers import AutoModelForCausalLM

    if (folder / "adapter_config.json").is_file():
        from peft import PeftModel

        model = AutoModelForCausalLM.from_pretrained(base, use_safetensors=True)
        # peft reads adapter_model.safetensors when present (``_refusal`` made sure it is,
        # and that no pickle file is there); it has no switch to refuse pickle itself.
        return PeftModel.from_pretrained(model, str(folder))
    return AutoModelForCausalLM.from_pretrained(str(folder), use_safetensors=True)


def measure(student: Any, args: dict) -> dict:
    """The pretrained model's perplexity and each saved model's (or why it was not loaded).

    ``args``: ``base`` (the offline GPT-2 name), ``batches`` (validation batches as lists),
    ``pattern`` (the saved folders' names), ``shape_keys`` (config keys a full model must
    share with GPT-2). ``student`` is unused: this job holds no student code.
    """
    from transformers import AutoConfig

    inbox = Path(os.environ["GRADER_WORK"]) / INBOX
    base_config = AutoConfig.from_pretrained(args["base"]).to_dict()
    device = _device()
    pretrained = _load_pretrained(args["base"]).to(device)
    result: dict[str, Any] = {"pretrained": perplexity(pretrained, args["batches"]),
                              "models": {}}
    del pretrained
    result["tokenizers"] = _artifacts(inbox, "tokenizer", _tokenizer, args)
    result["datasets"] = _artifacts(inbox, "dataset", _dataset, args)
    result["collated"] = _collated_batches(inbox)
    pattern = re.compile(args["pattern"])
    folders = sorted(p for p in inbox.iterdir() if p.is_dir() and pattern.fullmatch(p.name)) \
        if inbox.is_dir() else []
    for folder in folders:
        try:
            why = _refusal(folder, base_config, list(args["shape_keys"]))
            if why is not None:
                result["models"][folder.name] = {"error": why}
                continue
            model = _load(folder, args["base"]).to(device)
            result["models"][folder.name] = {"perplexity": perplexity(model, args["batches"])}
            del model
        except Exception as exc:  # noqa: BLE001 - the student's files: reported as data
            result["models"][folder.name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    _adapters_on_full_model(folders, result["models"], args, device)
    return result


def _adapters_on_full_model(folders: list[Path], models: dict, args: dict, device: Any
                            ) -> None:
    """Each measured adapter also on the last measured full model (``on_full``: that
    model's folder name and the perplexity): an adapter trained on the pretrained GPT-2
    helps it far more than the fine-tuned model; one trained on the fine-tuned model helps
    both about as much (lab2e.base)."""
    full = [f for f in folders if not (f / "adapter_config.json").is_file()
            and "perplexity" in models.get(f.name, {})]
    if not full:
        return
    for folder in folders:
        if (folder / "adapter_config.json").is_file() and "perplexity" in models[folder.name]:
            try:
                model = _load(folder, str(full[-1])).to(device)
                models[folder.name]["on_full"] = {
                    "base": full[-1].name, "perplexity": perplexity(model, args["batches"])}
                del model
            except Exception as exc:  # noqa: BLE001 - reported as data, judged as absent
                models[folder.name]["on_full"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}


ARTIFACT = re.compile(r"(tokenizer|dataset)\d{1,2}")
HEAD_ROWS = 8  # first rows of a dataset whose ids come back


def _artifacts(inbox: Path, kind: str, measure_one: Any, args: dict) -> dict[str, dict]:
    """``measure_one(folder, args)`` of every ``<kind>K`` folder (or its error)."""
    folders = sorted(p for p in inbox.iterdir() if p.is_dir() and ARTIFACT.fullmatch(p.name)
                     and p.name.startswith(kind)) if inbox.is_dir() else []
    return {folder.name: _or_error(measure_one, folder, args) for folder in folders}


def _or_error(measure_one: Any, *args: Any) -> dict:
    """``measure_one(*args)``, or the error it met (the student's files: reported as data)."""
    try:
        return measure_one(*args)
    except Exception as exc:  # noqa: BLE001
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def _tokenizer(folder: Path, args: dict) -> dict:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    return {"pad": tokenizer.pad_token, "eos": tokenizer.eos_token,
            "ids": [list(tokenizer(text)["input_ids"]) for text in args["probe_texts"]]}


def _dataset(folder: Path, args: dict) -> dict:
    import datasets

    ds = datasets.load_from_disk(str(folder))
    if not isinstance(ds, datasets.Dataset):
        return {"error": "not one dataset"}
    head = ds.select(range(min(HEAD_ROWS, ds.num_rows))).with_format(None)
    rows = [dict(r) for r in head]
    ids = [list(r["input_ids"]) for r in rows] if "input_ids" in ds.column_names else []
    return {"rows": int(ds.num_rows), "columns": list(ds.column_names),
            "format": str(ds.format.get("type")), "head": ids,
            "labels_equal_ids": bool(ids) and "labels" in ds.column_names
            and all(list(r["labels"]) == list(r["input_ids"]) for r in rows)}


COLLATED = "collated"  # the facts cell's folder of collated batches
COLLATED_FILE = re.compile(r"collated\d{1,2}\.json")
MAX_COLLATED_BYTES = 2_000_000
MAX_COLLATED_ROWS = 16
IGNORE = -100  # the label of a position the loss skips


def _collated_batches(inbox: Path) -> dict[str, dict]:
    """``collated(file, inbox)`` of every ``collated/collatedK.json`` (or its error)."""
    folder = inbox / COLLATED
    files = sorted(p for p in folder.iterdir() if COLLATED_FILE.fullmatch(p.name)
                   and p.is_file() and not p.is_symlink()) \
        if folder.is_dir() and not folder.is_symlink() else []
    return {file.stem: _or_error(collated, file, inbox) for file in files}


def _int_rows(value: Any, what: str) -> list[list[int]]:
    if not isinstance(value, list) or not value or not all(
            isinstance(row, list) and all(type(x) is int for x in row) for row in value):
        raise ValueError(f"{what} is not a list of rows of integers")
    return value


def _padded(row: list[int], data: list[int], pad: int | None) -> bool:
    """``row`` is ``data``, or ``data`` with pad ids before or after it."""
    if row == data:
        return True
    extra = len(row) - len(data)
    if pad is None or extra <= 0:
        return False
    return (row[:len(data)] == data and all(t == pad for t in row[len(data):])) or \
        (row[extra:] == data and all(t == pad for t in row[:extra]))


def collated(file: Path, inbox: Path) -> dict:
    """One collated batch measured against the saved dataset and tokenizer it names.

    ``rows_match``: its input ids are the dataset's first rows (padded with the pad id to
    the batch's width, or as they are); ``labels_masked``: its labels are its input ids
    with every pad-id position set to -100 and every other one kept (what
    ``DataCollatorForLanguageModeling(mlm=False)`` makes); ``pad_positions``: how many pad
    positions the batch holds (none: the masking was not seen).
    """
    import datasets
    from transformers import AutoTokenizer

    if file.stat().st_size > MAX_COLLATED_BYTES:
        return {"error": "too large"}
    batch = json.loads(file.read_text(encoding="utf-8"))
    if not isinstance(batch, dict):
        return {"error": "not a batch"}
    name, tokenizer_name = batch.get("dataset"), batch.get("tokenizer")
    if not (isinstance(name, str) and ARTIFACT.fullmatch(name) and name.startswith("dataset")):
        return {"error": "names no saved dataset"}
    ids = _int_rows(batch.get("input_ids"), "input_ids")
    labels = _int_rows(batch.get("labels"), "labels")
    if len(ids) > MAX_COLLATED_ROWS or [len(r) for r in ids] != [len(r) for r in labels]:
        return {"error": "input_ids and labels differ in shape"}
    pad = None
    if isinstance(tokenizer_name, str) and ARTIFACT.fullmatch(tokenizer_name) \
            and tokenizer_name.startswith("tokenizer") and (inbox / tokenizer_name).is_dir():
        pad = AutoTokenizer.from_pretrained(str(inbox / tokenizer_name),
                                            trust_remote_code=False).pad_token_id
    ds = datasets.load_from_disk(str(inbox / name))
    if not isinstance(ds, datasets.Dataset) or "input_ids" not in ds.column_names \
            or ds.num_rows < len(ids):
        return {"error": "its dataset has fewer rows or no input_ids"}
    head = ds.select(range(len(ids))).with_format(None)
    rows = [[int(x) for x in r["input_ids"]] for r in head]
    return {"dataset": name, "rows": len(ids), "pad": pad,
            "rows_match": all(_padded(b, r, pad) for b, r in zip(ids, rows)),
            "labels_masked": all(lab == (IGNORE if tok == pad else tok)
                                 for row, row_labels in zip(ids, labels)
                                 for tok, lab in zip(row, row_labels)),
            "pad_positions": sum(tok == pad for row in ids for tok in row)}


def _load_pretrained(base: str) -> Any:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(base, use_safetensors=True)
