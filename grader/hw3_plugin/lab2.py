"""Lab 2 grading plan: probe inputs, the grader's own measurements, and the judging.

The grader loads the same offline GPT-2 as the sandbox and computes the reference values
(perplexities, token counts, LoRA sizes) itself, in its own process.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from autograder.models import CheckResult

from . import checks_lab2

PROMPT = "GPT-2 is a language model based on transformer developed by OpenAI"
MAX_LENGTH = 100
LORA = {"r": 64, "alpha": 16.0, "dropout": 0.1, "bias": "none", "task_type": "causal_lm"}
SAVED_NAME = re.compile(r"trainer\d{1,3}")  # the facts cell's folder names, nothing else
PROBE_ROWS = 8  # validation rows in the perplexity probe (two batches of four)
# A saved full model must have GPT-2's own shape: a config asking for more is refused
# before anything is allocated (a memory bomb aimed at the grader's process).
SHAPE_KEYS = ("model_type", "n_layer", "n_embd", "n_head", "n_inner", "n_positions",
              "vocab_size")


class Lab2Plan:
    """Probe arguments and judges for Lab 2, for one GPT-2 folder and WikiText folder."""

    def __init__(self, gpt2_dir: Path, wikitext_dir: Path, ranges: Mapping | None = None
                 ) -> None:
        self.gpt2_dir = Path(gpt2_dir)
        self.wikitext_dir = Path(wikitext_dir)
        self.ranges = ranges or {}

    def band(self, name: str) -> tuple[float, float] | None:
        """A range of real runs, when the model is the real pretrained GPT-2 (the grader's
        own pretrained perplexity falls in the recorded range); else None."""
        real = self.ranges.get("pretrained_perplexity")
        if not real or not real[0] <= self.pretrained_perplexity <= real[1]:
            return None
        return tuple(self.ranges[name])

    @cached_property
    def _ref(self):
        from hw3_solution import lab_llm

        return lab_llm

    @cached_property
    def tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(self.gpt2_dir)
        tok.pad_token = tok.eos_token
        return tok

    def model(self, adapter_or_weights: Path | None = None, base: Path | None = None) -> Any:
        """The pretrained model, or a fine-tuned one saved by a student's run (an adapter
        goes on the pretrained model, or on the full weights saved in `base`)."""
        from transformers import AutoModelForCausalLM

        if adapter_or_weights is None:
            return AutoModelForCausalLM.from_pretrained(self.gpt2_dir).eval()
        if (adapter_or_weights / "adapter_config.json").exists():
            from peft import PeftModel

            under = self.model(base) if base is not None else (
                AutoModelForCausalLM.from_pretrained(self.gpt2_dir))
            return PeftModel.from_pretrained(under, adapter_or_weights).eval()
        return AutoModelForCausalLM.from_pretrained(adapter_or_weights,
                                                    use_safetensors=True).eval()

    def _rows(self, split: str) -> list[str]:
        """Rows as the Hugging Face builder yields them: '' for a blank line."""
        path = self.wikitext_dir / f"wiki.{split}.raw"
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        return ["" if not line.strip() else line for line in lines]

    @cached_property
    def row_counts(self) -> dict[str, int]:
        return {"train": len(self._rows("train")), "validation": len(self._rows("valid"))}

    def _batches(self, rows: list[str], size: int) -> list[dict[str, list]]:
        """Rows tokenized as the handout does and collated (pad labels -100) in batches."""
        from transformers import DataCollatorForLanguageModeling

        collator = DataCollatorForLanguageModeling(self.tokenizer, mlm=False)
        enc = self.tokenizer(rows, padding="max_length", truncation=True)
        feats = [{"input_ids": ids, "attention_mask": mask}
                 for ids, mask in zip(enc["input_ids"], enc["attention_mask"])]
        return [{k: v.tolist() for k, v in collator(feats[i:i + size]).items()}
                for i in range(0, len(feats), size)]

    @cached_property
    def _probe_batches(self) -> list[dict[str, list]]:
        rows = [r for r in self._rows("valid") if r][:PROBE_ROWS]
        return self._batches(rows, 4)

    def perplexity_of(self, model: Any, batches: list[dict[str, list]] | None = None) -> float:
        """The reference perplexity of `model` (default batches: the 10% validation subset)."""
        import torch

        batches = batches if batches is not None else self._validation_batches
        tensors = [{k: torch.tensor(v) for k, v in b.items()} for b in batches]
        return float(self._ref.evaluate_perplexity(model, tensors))

    @cached_property
    def _validation_batches(self) -> list[dict[str, list]]:
        rows = self._rows("valid")
        return self._batches(rows[: len(rows) // 10], 4)

    @cached_property
    def pretrained_perplexity(self) -> float:
        return self.perplexity_of(self.model())

    @cached_property
    def lora_trainable(self) -> int:
        """r * (in + out) of every c_attn layer, the parameters LoRA adds to GPT-2."""
        cfg = self.model().config
        return LORA["r"] * (cfg.n_embd + 3 * cfg.n_embd) * cfg.n_layer

    def probe_args(self) -> dict[str, dict]:
        long_text = " ".join(["the tower stands above the river valley ."] * 200)
        return {
            "generate": {"model": "gpt2", "prompt": PROMPT, "max_length": MAX_LENGTH},
            "tokenize_function": {"model": "gpt2", "texts": [
                " = Valkyria Chronicles = \n", "", "A short row .\n", long_text]},
            "perplexity": {"model": "gpt2", "batches": self._probe_batches},
        }

    def judge(self, probe: str, data: Mapping, outbox: Path | None = None
              ) -> dict[str, CheckResult]:
        """Results of every check that a probe's data (or the notebook's facts) decides."""
        if probe == "generate":
            return checks_lab2.judge_generation(
                data, PROMPT, MAX_LENGTH, lambda t: len(self.tokenizer(t)["input_ids"]))
        if probe == "tokenize_function":
            texts = self.probe_args()["tokenize_function"]["texts"]
            ref = [self.tokenizer(t)["input_ids"] for t in texts]
            return checks_lab2.judge_tokenize_function(data, ref, self.tokenizer.pad_token_id)
        if probe == "perplexity":
            return checks_lab2.judge_perplexity(
                data, self.perplexity_of(self.model(), self._probe_batches))
        if probe == "notebook":
            return self._judge_notebook(data, outbox)
        raise KeyError(f"no Lab 2 probe named {probe!r}")

    @cached_property
    def base_config(self) -> dict[str, Any]:
        return json.loads((self.gpt2_dir / "config.json").read_text(encoding="utf-8"))

    def measurable(self, folder: Path) -> bool:
        """Whether the grader may load a saved model: GPT-2's own shape, or a LoRA adapter
        of a rank no larger than the model's width."""
        try:
            if (folder / "adapter_config.json").is_file():
                adapter = json.loads((folder / "adapter_config.json").read_text())
                return 0 < int(adapter.get("r", 0)) <= int(self.base_config["n_embd"])
            config = json.loads((folder / "config.json").read_text())
        except (OSError, ValueError, TypeError, AttributeError):
            return False
        return all(config.get(k) == self.base_config.get(k) for k in SHAPE_KEYS)

    def _judge_notebook(self, facts: Mapping, outbox: Path | None) -> dict[str, CheckResult]:
        trainers = list(facts.get("trainers", []))
        measured: dict[int, float] = {}
        for i, trainer in enumerate(trainers):
            name = str(trainer.get("saved"))
            folder = outbox / name if outbox and SAVED_NAME.fullmatch(name) else None
            if folder is not None and folder.is_dir() and self.measurable(folder):
                measured[i] = self.perplexity_of(self.model(folder))
        # What the kernel reports about a trainer is only its word: a trainer counts when
        # the grader loaded and measured its saved model itself (forged facts have none).
        kept = [i for i in range(len(trainers)) if i in measured]
        facts = {**facts, "trainers": [trainers[i] for i in kept]}
        on_full = self._adapters_on_full_model(trainers, kept, measured, outbox)
        measured = {new: measured[old] for new, old in enumerate(kept)}
        verdicts = {**checks_lab2.judge_loading(facts),
                    **checks_lab2.judge_datasets(facts, self.row_counts["train"],
                                                 self.row_counts["validation"]),
                    **checks_lab2.judge_full_finetune(facts, measured,
                                                      self.pretrained_perplexity,
                                                      self.band("full_perplexity")),
                    **checks_lab2.judge_lora(facts, measured, self.pretrained_perplexity,
                                             self.lora_trainable, LORA,
                                             self.band("lora_perplexity"), on_full)}
        return verdicts

    def _adapters_on_full_model(self, trainers: list, kept: list[int],
                                measured: Mapping[int, float], outbox: Path | None
                                ) -> dict[int, tuple[float, float]]:
        """For each measured LoRA trainer (its index among `kept`): the perplexity of the
        last measured full fine-tuned model, and of the adapter on that model. An adapter
        trained on the pretrained GPT-2 helps the pretrained model more than the fine-tuned
        one; one trained on the fine-tuned model, the reverse."""
        full = [i for i in kept if not trainers[i].get("peft")]
        if not full or outbox is None:
            return {}
        base = outbox / str(trainers[full[-1]]["saved"])
        out = {}
        for new, old in enumerate(kept):
            if trainers[old].get("peft"):
                adapter = outbox / str(trainers[old]["saved"])
                out[new] = (measured[full[-1]], self.perplexity_of(self.model(adapter, base)))
        return out
