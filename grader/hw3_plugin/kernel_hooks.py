"""Kernel start-up for executing a student's LabLLM notebook inside the sandbox.

Two jobs, both before any student cell runs:
1. Compatibility: students write against the transformers release on Colab (often 4.x).
   Names that later releases removed (`evaluation_strategy=`, `Trainer(tokenizer=...)`,
   `no_cuda=`, ...) are translated, and fp16/bf16 requests are dropped on a machine
   without CUDA, so right code is not failed for its transformers version.
2. Recording: every Trainer made, its `train()` calls, `from_pretrained` sources, the
   tokenizers loaded (in order: (a)'s is the first, even when (b) makes another one under
   the same global name) and save targets are noted in `RECORD`, which the facts cell
   reads at the end.
3. The fast path: where the grader installed one (``hw3_kernel_record.FAST``, set by a
   later startup file), `train()` first offers it the Trainer; it trains when the Trainer
   is the handout's recipe and else says why not, and the student's own `train()` runs.
   Each call records which ran (``mode``, ``why``).
Self-contained: copied into the sandbox, imports neither the grader nor the solution.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
import types
from typing import Any

RECORD: dict[str, list] = {"trainers": [], "train_calls": [], "loaded": [], "saved": [],
                           "compat": [], "tokenizers": []}

_RENAMED = {
    "evaluation_strategy": "eval_strategy",
    "no_cuda": "use_cpu",
    "per_gpu_train_batch_size": "per_device_train_batch_size",
    "per_gpu_eval_batch_size": "per_device_eval_batch_size",
}


def _compatible_arguments(cls: type, kwargs: dict) -> dict:
    """TrainingArguments keywords translated to this release's names; unknown ones dropped."""
    import torch

    fields = {f.name for f in dataclasses.fields(cls)}
    out = {}
    for key, value in kwargs.items():
        new = _RENAMED.get(key, key)
        if new not in fields:
            RECORD["compat"].append(f"dropped TrainingArguments({key}=...), unknown here")
            continue
        if new != key:
            RECORD["compat"].append(f"read TrainingArguments({key}=...) as {new}")
        out[new] = value
    for flag in ("fp16", "bf16"):
        if out.get(flag) and not torch.cuda.is_available():
            RECORD["compat"].append(f"ignored {flag}=True: no GPU in the grader")
            out[flag] = False
    return out


def _install() -> None:
    import transformers
    from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer, TrainingArguments

    original_args_init = TrainingArguments.__init__

    @functools.wraps(original_args_init)
    def args_init(self, *args: Any, **kwargs: Any) -> None:
        original_args_init(self, *args, **_compatible_arguments(type(self), kwargs))

    TrainingArguments.__init__ = args_init

    original_trainer_init = Trainer.__init__

    @functools.wraps(original_trainer_init)
    def trainer_init(self, *args: Any, **kwargs: Any) -> None:
        if "tokenizer" in kwargs and "processing_class" not in kwargs:
            import inspect

            if "tokenizer" not in inspect.signature(original_trainer_init).parameters:
                RECORD["compat"].append("read Trainer(tokenizer=...) as processing_class")
                kwargs["processing_class"] = kwargs.pop("tokenizer")
        original_trainer_init(self, *args, **kwargs)
        RECORD["trainers"].append(self)

    Trainer.__init__ = trainer_init

    original_train = Trainer.train

    @functools.wraps(original_train)
    def train(self, *args: Any, **kwargs: Any) -> Any:
        call = {"trainer": RECORD["trainers"].index(self) if self in RECORD["trainers"] else -1,
                "started": time.time(), "finished": None, "mode": "faithful", "why": None}
        RECORD["train_calls"].append(call)
        fast = getattr(sys.modules["hw3_kernel_record"], "FAST", None)
        result = None
        if fast is not None:  # the grader's fast path: (TrainOutput, None) or (None, why)
            result, call["why"] = fast(self, *args, **kwargs)
        if result is None:
            result = original_train(self, *args, **kwargs)
        else:
            call["mode"] = "fast"
        call["finished"] = time.time()
        return result

    Trainer.train = train

    original_save_model = Trainer.save_model

    @functools.wraps(original_save_model)
    def save_model(self, output_dir: str | None = None, *args: Any, **kwargs: Any) -> Any:
        RECORD["saved"].append(str(output_dir or self.args.output_dir))
        return original_save_model(self, output_dir, *args, **kwargs)

    Trainer.save_model = save_model

    original_save_pretrained = PreTrainedModel.save_pretrained

    @functools.wraps(original_save_pretrained)
    def save_pretrained(self, save_directory: Any, *args: Any, **kwargs: Any) -> Any:
        RECORD["saved"].append(str(save_directory))
        return original_save_pretrained(self, save_directory, *args, **kwargs)

    PreTrainedModel.save_pretrained = save_pretrained

    original_from_pretrained = PreTrainedModel.from_pretrained.__func__

    def from_pretrained(cls: type, name: Any, *args: Any, **kwargs: Any) -> Any:
        RECORD["loaded"].append({"source": str(name), "cls": cls.__name__, "at": time.time()})
        return original_from_pretrained(cls, name, *args, **kwargs)

    PreTrainedModel.from_pretrained = classmethod(from_pretrained)

    original_tokenizer_from_pretrained = PreTrainedTokenizerBase.from_pretrained.__func__

    def tokenizer_from_pretrained(cls: type, name: Any, *args: Any, **kwargs: Any) -> Any:
        tokenizer = original_tokenizer_from_pretrained(cls, name, *args, **kwargs)
        RECORD["tokenizers"].append(tokenizer)
        return tokenizer

    PreTrainedTokenizerBase.from_pretrained = classmethod(tokenizer_from_pretrained)
    transformers.logging.set_verbosity_error()


def install() -> None:
    """Install the shims once; the record lives in module `hw3_kernel_record`."""
    if "hw3_kernel_record" in sys.modules:
        return
    module = types.ModuleType("hw3_kernel_record")
    module.RECORD = RECORD
    sys.modules["hw3_kernel_record"] = module
    _install()


install()
