"""Fast checks of the defences the hostile corpus found missing, one attack each, without
the homework (tests/test_hostile_corpus.py grades the whole corpus):

- a fork bomb meets the process limit even when the grader runs as root (the child drops
  to a user of its own), and none of its processes outlives the job;
- a forged end of another step, sent on the real channel with the real nonce, is ignored;
- a copy of the runtime forked by student code never reports for the job;
- the grader refuses to load a saved "model" whose config asks for terabytes, and facts
  about a trainer count only with a saved model the grader measured itself;
- the kernel's claims about its tokenizers, datasets and collators count only as measured
  from the files the facts cell saved (a collator: the batch it made of a saved dataset's
  first rows).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from autograder.models import Isolation, Job, Status, Step
from autograder.sandbox.isolation import drops_privileges, user_ids, works
from autograder.sandbox.runner import SandboxLimits, run_job

LIMITS = SandboxLimits(memory_mb=768, max_processes=64)
needs_bwrap = pytest.mark.skipif(not works(Isolation.BWRAP),
                                 reason="bubblewrap is not installed or not permitted here")

STUDENT = '''
import gc, json, os, time

def bomb():
    children = 0
    while children < 2000:  # bounded, so that a failed limit cannot sink the machine
        if os.fork() == 0:
            os.setsid()
            time.sleep(120)
            os._exit(0)
        children += 1
    return f"started {children} processes"

def forge():
    for obj in gc.get_objects():
        if type(obj).__name__ == "Channel" and hasattr(obj, "nonce"):
            line = {"type": "step_end", "nonce": obj.nonce, "step_id": "later",
                    "status": "ok", "value": 999, "message": "", "seconds": 0.1}
            os.write(obj.fd, (json.dumps(line) + "\\n").encode())
    return "forged"

def twice():
    return "child" if os.fork() == 0 else "parent"

def later():
    return 2
'''


def _run(tmp_path: Path, *names: str) -> dict:
    steps = tuple(Step(n, f"student:{n}", (), timeout_s=30) for n in names)
    job = Job("hostile", module_source=STUDENT, steps=steps)
    return run_job(job, tmp_path / "job", Isolation.BWRAP, LIMITS).steps


def _processes_of_this_grader(wait: float = 5.0) -> list[str]:
    """Processes running as one of this grader's sandbox users, once the kernel has had
    ``wait`` seconds to finish off a killed sandbox's PID namespace."""
    uids = user_ids(os.getpid())
    deadline = time.monotonic() + wait
    while True:
        found = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and proc.stat().st_uid in uids:
                    found.append(proc.name)
            except OSError:
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@needs_bwrap
def test_fork_bomb_meets_the_process_limit(tmp_path: Path) -> None:
    steps = _run(tmp_path, "bomb", "later")
    assert steps["bomb"].status is Status.LIMIT, steps["bomb"].message
    assert "process limit" in steps["bomb"].message
    assert steps["later"].status is Status.OK and steps["later"].value == 2
    if drops_privileges(Isolation.BWRAP):
        assert _processes_of_this_grader() == []


@needs_bwrap
def test_forged_end_of_another_step_is_ignored(tmp_path: Path) -> None:
    steps = _run(tmp_path, "forge", "later")
    assert steps["forge"].value == "forged"
    assert steps["later"].status is Status.OK and steps["later"].value == 2


@needs_bwrap
def test_forked_copy_of_the_runtime_stays_silent(tmp_path: Path) -> None:
    for attempt in range(3):  # the copy would race the parent; it must lose every time
        steps = _run(tmp_path / str(attempt), "twice", "later")
        assert steps["twice"].value == "parent"
        assert steps["later"].value == 2


# ------------------------------------------------------------------ the grader's side


@pytest.fixture(scope="module")
def lab2():
    from hw3_fixtures.sources import DataSource
    from hw3_plugin.lab2 import Lab2Plan

    source = DataSource.fixtures()
    return Lab2Plan(Path(source.gpt2_dir), Path(source.wikitext_dir))


def test_saved_model_of_another_shape_or_pickled_is_not_loaded(lab2, tmp_path: Path) -> None:
    from hw3_plugin.lab2 import SHAPE_KEYS
    from hw3_plugin.measure_lab2 import _refusal

    def folder(name: str, files: dict[str, str]) -> Path:
        path = tmp_path / name
        path.mkdir()
        for file, text in files.items():
            (path / file).write_text(text)
        return path

    config = json.dumps(lab2.base_config)
    honest = folder("honest", {"config.json": config, "model.safetensors": ""})
    bomb = folder("bomb", {"config.json": json.dumps({**lab2.base_config, "n_layer": 2000,
                                                      "n_embd": 4096})})
    wide = folder("wide-adapter", {"adapter_config.json": json.dumps({"r": 10 ** 6})})
    pickled = folder("pickled", {"config.json": config, "pytorch_model.bin": "",
                                 "model.safetensors": ""})
    pickled_adapter = folder("pickled-adapter", {"adapter_config.json": json.dumps({"r": 8}),
                                                 "adapter_model.bin": ""})
    garbage = folder("garbage", {"config.json": "[1, 2"})
    keys = list(SHAPE_KEYS)
    assert _refusal(honest, lab2.base_config, keys) is None
    assert "not GPT-2's shape" in _refusal(bomb, lab2.base_config, keys)
    assert "does not fit GPT-2" in _refusal(wide, lab2.base_config, keys)
    assert "pickle files (pytorch_model.bin)" in _refusal(pickled, lab2.base_config, keys)
    assert "pickle files" in _refusal(pickled_adapter, lab2.base_config, keys)
    with pytest.raises(ValueError):  # reported by measure() as the folder's error
        _refusal(garbage, lab2.base_config, keys)


def test_the_measurement_probe_loads_safetensors_only(lab2, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from hw3_plugin.measure_lab2 import INBOX, measure

    inbox = tmp_path / INBOX
    shutil.copytree(lab2.gpt2_dir, inbox / "trainer0")  # an untrained "fine-tuned" copy
    shutil.copytree(lab2.gpt2_dir, inbox / "trainer1")
    (inbox / "trainer1" / "pytorch_model.bin").write_bytes(b"not unpickled")
    monkeypatch.setenv("GRADER_WORK", str(tmp_path))
    args = {**lab2.measure_args(), "base": str(lab2.gpt2_dir), "batches": lab2._probe_batches}
    result = measure(None, args)
    reference = lab2.perplexity_of(lab2.model(), lab2._probe_batches)
    assert result["pretrained"] == pytest.approx(reference, rel=1e-6)
    assert result["models"]["trainer0"]["perplexity"] == pytest.approx(reference, rel=1e-6)
    assert "pickle files (pytorch_model.bin)" in result["models"]["trainer1"]["error"]


def test_trainer_facts_need_a_model_the_grader_measured(lab2, tmp_path: Path) -> None:
    trainer = {"peft": False, "eval_strategy": "epoch", "logging_strategy": "epoch",
               "global_step": 30, "max_steps": 30, "log_history": [{"loss": 1.0}],
               "output_dir": "./out", "has_eval_dataset": True, "saved": "trainer0"}
    facts = {"trainers": [trainer], "saved": ["./out"], "loaded": [{"source": "./out"}]}
    verdicts = lab2.judge_notebook(facts, {"models": {}})  # nothing measured: forged
    lab2d = {k: v for k, v in verdicts.items() if k.startswith("lab2d.")}
    assert lab2d and not any(v.passed for v in lab2d.values())
    assert all("measure" in v.message for v in lab2d.values())


SELF_REPORTED_CHECKS = ("lab2a.load", "lab2a.pad_token", "lab2b.subsets", "lab2b.columns",
                        "lab2b.collator")


def _claims(lab2) -> dict:
    """What a forged facts file claims about the notebook's own objects."""
    rows = lab2.row_counts
    sets = [{"name": n, "rows": rows[s] // 10, "columns": ["input_ids", "attention_mask",
                                                         "labels"],
             "format": "torch", "labels_equal_ids": True}
            for n, s in (("train", "train"), ("valid", "validation"))]
    collator = {"mlm": False, "pad": 0, "input_ids": [[5, 6, 7, 0, 0], [8, 9, 10, 11, 0]],
                "labels": [[5, 6, 7, -100, -100], [8, 9, 10, 11, -100]]}
    return {"tokenizers": [{"name": "tokenizer", "pad": "<|endoftext|>",
                            "eos": "<|endoftext|>"}],
            "datasets": sets, "collators": [collator], "loaded": [{"source": "gpt2"}],
            "trainers": []}


def test_claims_about_the_kernel_s_objects_need_measured_files(lab2) -> None:
    """The forge-facts attack's 9 points: claims with no saved tokenizer, dataset or
    collated batch (a collator's claimed batch, as the facts cell used to write it)."""
    verdicts = lab2.judge_notebook(_claims(lab2), {"models": {}, "tokenizers": {},
                                                   "datasets": {}, "collated": {}})
    assert [c for c in SELF_REPORTED_CHECKS if verdicts[c].passed] == []


def test_the_first_loaded_tokenizer_counts_only_as_measured(lab2) -> None:
    """(a)'s tokenizer decides lab2a.pad_token (the Spring 2025 handout loads another in
    (b)), but only as the measurement job read it from the folder the facts cell saved: a
    kernel's claim about it is no evidence."""
    eos = "<|endoftext|>"
    padded = {"pad": eos, "eos": eos, "ids": []}
    claimed = {**_claims(lab2), "loaded_tokenizers": [{"pad": eos, "eos": eos}]}
    verdicts = lab2.judge_notebook(claimed, {"models": {}, "tokenizers": {}, "datasets": {}})
    assert not verdicts["lab2a.pad_token"].passed
    first_unpadded = {**_claims(lab2), "loaded_tokenizers": [{"saved": "tokenizer1"}]}
    measured = {"models": {}, "datasets": {},
                "tokenizers": {"tokenizer0": padded, "tokenizer1": {**padded, "pad": None}}}
    assert not lab2.judge_notebook(first_unpadded, measured)["lab2a.pad_token"].passed
    first_padded = {**first_unpadded, "loaded_tokenizers": [{"saved": "tokenizer0"}]}
    assert lab2.judge_notebook(first_padded, measured)["lab2a.pad_token"].passed


def test_saved_tokenizer_and_datasets_are_measured(lab2, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets
    from hw3_plugin.measure_lab2 import INBOX, measure

    inbox = tmp_path / INBOX
    tokenizer = lab2.tokenizer  # GPT-2's, pad set to the end-of-text token
    tokenizer.save_pretrained(str(inbox / "tokenizer0"))

    def tokenized(split: str) -> datasets.Dataset:
        rows = lab2._rows(split)
        ds = datasets.Dataset.from_dict({"text": rows[: len(rows) // 10]})
        ds = ds.map(lambda b: {**tokenizer(b["text"], padding="max_length", truncation=True,
                                           max_length=64),
                               "labels": tokenizer(b["text"], padding="max_length",
                                                   truncation=True, max_length=64)["input_ids"]},
                    batched=True, remove_columns=["text"])
        ds.set_format("torch")
        return ds

    tokenized("train").save_to_disk(str(inbox / "dataset0"))
    tokenized("valid").save_to_disk(str(inbox / "dataset1"))
    shuffled = datasets.Dataset.from_dict({"input_ids": [[5, 6, 7]] * 9})
    shuffled.save_to_disk(str(inbox / "dataset2"))  # not WikiText's rows: not counted
    monkeypatch.setenv("GRADER_WORK", str(tmp_path))
    args = {**lab2.measure_args(), "base": str(lab2.gpt2_dir), "batches": lab2._probe_batches}
    measurement = measure(None, args)
    assert sorted(measurement["datasets"]) == ["dataset0", "dataset1", "dataset2"]
    claims = {**_claims(lab2), "tokenizers": [], "datasets": []}  # the kernel says nothing
    verdicts = lab2.judge_notebook(claims, measurement)
    assert [c for c in SELF_REPORTED_CHECKS if not verdicts[c].passed] == ["lab2b.collator"], \
        {c: verdicts[c].message for c in SELF_REPORTED_CHECKS}  # no collated batch saved


# ------------------------------------------------------------ the collator, as measured


def _tokenized(lab2, split: str, tokenizer=None):
    """A 10% subset of a WikiText split tokenized as the handout does (padded to the
    maximum length, labels = input_ids, text removed, torch format)."""
    import datasets

    tokenizer = tokenizer or lab2.tokenizer
    rows = lab2._rows(split)

    def tokenize(batch):
        enc = tokenizer(batch["text"], padding="max_length", truncation=True)
        return {**enc, "labels": [list(r) for r in enc["input_ids"]]}

    ds = datasets.Dataset.from_dict({"text": rows[: len(rows) // 10]})
    ds = ds.map(tokenize, batched=True, remove_columns=["text"])
    ds.set_format("torch")
    return ds


def test_a_collated_batch_is_measured_against_its_saved_dataset(lab2, tmp_path: Path) -> None:
    """measure_lab2.collated: the batch must hold the named dataset's first rows, and its
    labels must be its input ids with exactly the pad positions set to -100."""
    from hw3_plugin.measure_lab2 import COLLATED, collated
    from transformers import DataCollatorForLanguageModeling

    tokenizer = lab2.tokenizer
    pad = tokenizer.pad_token_id
    tokenizer.save_pretrained(str(tmp_path / "tokenizer0"))
    dataset = _tokenized(lab2, "train")
    dataset.save_to_disk(str(tmp_path / "dataset0"))
    head = [{"input_ids": list(r["input_ids"]), "attention_mask": list(r["attention_mask"])}
            for r in dataset.select(range(4)).with_format(None)]
    right = {k: v.tolist() for k, v in
             DataCollatorForLanguageModeling(tokenizer, mlm=False)(head).items()}
    (tmp_path / COLLATED).mkdir()

    def measured(name: str, **batch) -> dict:
        file = tmp_path / COLLATED / f"{name}.json"
        file.write_text(json.dumps({"dataset": "dataset0", "tokenizer": "tokenizer0",
                                    **batch}))
        return collated(file, tmp_path)

    good = measured("collated0", **right)
    assert good["rows_match"] and good["labels_masked"] and good["pad"] == pad
    assert good["pad_positions"] == sum(t == pad for r in right["input_ids"] for t in r) > 0
    unmasked = measured("collated1", **{**right, "labels": right["input_ids"]})
    assert unmasked["rows_match"] and not unmasked["labels_masked"]
    all_masked = measured("collated2", **{**right, "labels": [[-100] * len(r)
                                                              for r in right["input_ids"]]})
    assert not all_masked["labels_masked"]  # the text's positions must be kept
    other = [list(r["input_ids"]) for r in dataset.select(range(4, 8)).with_format(None)]
    others = measured("collated3", input_ids=other,
                      labels=[[-100 if t == pad else t for t in r] for r in other])
    assert others["labels_masked"] and not others["rows_match"]  # not the first rows
    # a dynamically padded dataset: the collator pads each row to the batch's longest
    short = [r[:r.index(pad)] if pad in r else r for r in (h["input_ids"] for h in head)]
    import datasets
    datasets.Dataset.from_dict({"input_ids": short}).save_to_disk(str(tmp_path / "dataset1"))
    (tmp_path / COLLATED / "collated4.json").write_text(json.dumps(
        {"dataset": "dataset1", "tokenizer": "tokenizer0", **right}))
    dynamic = collated(tmp_path / COLLATED / "collated4.json", tmp_path)
    assert dynamic["rows_match"] and dynamic["labels_masked"]
    escape = measured("collated5", **{**right, "dataset": "../dataset0"})
    assert "error" in escape and "rows_match" not in escape


def _facts_and_measure(lab2, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                       namespace: dict, trainers: tuple = ()) -> dict:
    """The facts cell run on ``namespace`` (its outbox the measurement job's inbox), then
    the measurement job, then the notebook's checks."""
    import sys
    import types

    from hw3_plugin import kernel_facts
    from hw3_plugin.measure_lab2 import INBOX, measure

    record = types.ModuleType("hw3_kernel_record")
    record.RECORD = {"trainers": list(trainers), "train_calls": [], "loaded": [],
                     "saved": [], "compat": [], "tokenizers": []}
    monkeypatch.setitem(sys.modules, "hw3_kernel_record", record)
    kernel_facts.collect(namespace, str(tmp_path / INBOX))
    facts = json.loads((tmp_path / INBOX / "facts.json").read_text())
    monkeypatch.setenv("GRADER_WORK", str(tmp_path))
    args = {**lab2.measure_args(), "base": str(lab2.gpt2_dir), "batches": lab2._probe_batches}
    return lab2.judge_notebook(facts, measure(None, args))


@pytest.mark.parametrize("case", ["global", "trainer-only", "none", "mlm", "no-masking"])
def test_the_collator_counts_only_as_its_batches_measure(lab2, tmp_path: Path, case: str,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """lab2b.collator: every DataCollatorForLanguageModeling the notebook made (a global, or
    only a Trainer's) is applied to the saved datasets' first rows and judged by what the
    measurement job finds in the batch; passing it to a Trainer is not required."""
    import copy
    import types

    from transformers import DataCollatorForLanguageModeling

    class NoMasking(DataCollatorForLanguageModeling):
        def torch_call(self, examples):
            batch = super().torch_call(examples)
            batch["labels"] = batch["input_ids"].clone()
            return batch

    tokenizer = lab2.tokenizer
    namespace = {"tokenizer": tokenizer, "train_dataset": _tokenized(lab2, "train"),
                 "eval_dataset": _tokenized(lab2, "valid")}
    trainers = ()
    if case == "global":
        namespace["data_collator"] = DataCollatorForLanguageModeling(tokenizer, mlm=False)
    elif case == "trainer-only":
        trainers = (types.SimpleNamespace(
            data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False)),)
    elif case == "mlm":
        masked = copy.deepcopy(tokenizer)
        masked.add_special_tokens({"mask_token": "<mask>"})
        namespace["data_collator"] = DataCollatorForLanguageModeling(masked, mlm=True,
                                                                     seed=0)
    elif case == "no-masking":
        namespace["data_collator"] = NoMasking(tokenizer, mlm=False)
    verdict = _facts_and_measure(lab2, tmp_path, monkeypatch, namespace,
                                 trainers)["lab2b.collator"]
    assert verdict.passed is (case in ("global", "trainer-only")), verdict.message
