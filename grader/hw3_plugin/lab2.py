"""Lab 2 grading plan: probe inputs, the grader's own measurements, and the judging.

The grader loads the same offline GPT-2 as the sandbox and computes the reference values
(perplexities, token counts, LoRA sizes) itself, in its own process. The models a student's
notebook saved are measured in a sandbox of their own (measure_lab2.py), never loaded here.
"""

from __future__ import annotations

import json
import math
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
# Texts a saved tokenizer must tokenize as GPT-2's own does (the notebook loaded GPT-2).
PROBE_TEXTS = (" = Valkyria Chronicles III = \n", "Perplexity, naïvely: exp(loss) — 2026!")
KEY_TOKENS = 32  # leading ids that identify a WikiText row
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

    def band(self, name: str, pretrained: float | None = None) -> tuple[float, float] | None:
        """A range of real runs, when the model is the real pretrained GPT-2 (its perplexity,
        ``pretrained`` as the measurement job measured it, else the grader's own, falls in
        the recorded range); else None."""
        real = self.ranges.get("pretrained_perplexity")
        if pretrained is None:  # measured here, on the grader's CPU: minutes at full size
            pretrained = self.pretrained_perplexity
        if not real or not real[0] <= pretrained <= real[1]:
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

    def model(self) -> Any:
        """The pretrained model (from safetensors only). Students' saved models are loaded
        in a sandbox of their own (measure_lab2.py), never in the grader's process."""
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(self.gpt2_dir, use_safetensors=True).eval()

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

    def judge(self, probe: str, data: Mapping) -> dict[str, CheckResult]:
        """Results of every check that a probe's data decides."""
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
        raise KeyError(f"no Lab 2 probe named {probe!r}")

    @cached_property
    def base_config(self) -> dict[str, Any]:
        return json.loads((self.gpt2_dir / "config.json").read_text(encoding="utf-8"))

    def measure_args(self) -> dict[str, Any]:
        """What the measurement job (measure_lab2.py) needs: the offline GPT-2's name, the
        validation batches, the saved folders' names and GPT-2's shape keys."""
        return {"base": "gpt2", "batches": self._validation_batches,
                "pattern": SAVED_NAME.pattern, "shape_keys": list(SHAPE_KEYS),
                "probe_texts": list(PROBE_TEXTS)}

    @cached_property
    def _row_keys(self) -> dict[str, set[tuple[int, ...]]]:
        """Per split, the first ``KEY_TOKENS`` ids of every row as GPT-2 tokenizes it (a
        row of a student's tokenized dataset must be one of them)."""
        keys = {}
        for split, name in (("train", "train"), ("validation", "valid")):
            ids = self.tokenizer(self._rows(name))["input_ids"]
            keys[split] = {tuple(row[:KEY_TOKENS]) for row in ids}
        return keys

    def _wikitext_split(self, head: list[list[int]]) -> str | None:
        """The split whose rows a dataset's first rows are (padding stripped), or None."""
        pad = self.tokenizer.pad_token_id
        rows = []
        for row in head:
            while row and row[-1] == pad:
                row = row[:-1]
            rows.append(tuple(row[:KEY_TOKENS]))
        if not any(rows):
            return None
        return next((split for split, keys in self._row_keys.items()
                     if all(r in keys for r in rows)), None)

    def _measured_facts(self, facts: Mapping, measurement: Mapping) -> dict:
        """``facts`` with what the kernel said about its tokenizers, datasets, collators and
        loads replaced by what the measurement job measured from the files it saved:
        tokenizers as loaded (the first one the notebook loaded among them), datasets whose
        rows are WikiText's rows as GPT-2 tokenizes them, the batches the collators made of
        those datasets' first rows, and the kernel's record of loading GPT-2 only when a
        saved tokenizer is GPT-2's."""
        reference = [list(self.tokenizer(t)["input_ids"]) for t in PROBE_TEXTS]
        tokenizers = [{"name": name, "pad": t["pad"], "eos": t["eos"]}
                      for name, t in measurement.get("tokenizers", {}).items()
                      if "error" not in t]
        gpt2 = any(t.get("ids") == reference
                   for t in measurement.get("tokenizers", {}).values())
        sets = []
        for name, d in measurement.get("datasets", {}).items():
            if "error" in d or not isinstance(d.get("head"), list):
                continue
            split = self._wikitext_split(d["head"])
            if split is not None:
                sets.append({"name": name, "split": split, "rows": d["rows"],
                             "columns": d["columns"], "format": d["format"],
                             "labels_equal_ids": d["labels_equal_ids"]})
        measured = measurement.get("tokenizers", {})
        first = [{"pad": measured[e["saved"]]["pad"], "eos": measured[e["saved"]]["eos"]}
                 for e in facts.get("loaded_tokenizers", [])[:1]
                 if isinstance(e, Mapping) and isinstance(measured.get(e.get("saved")), Mapping)
                 and "error" not in measured[e["saved"]]]
        # The collators as measured: batches made of the first rows of a dataset accepted
        # above (what the kernel says about its collators is no evidence).
        accepted = {d["name"] for d in sets}
        collators = [{"rows_match": c["rows_match"] is True,
                      "labels_masked": c["labels_masked"] is True,
                      "pad_positions": c["pad_positions"]}
                     for c in measurement.get("collated", {}).values()
                     if isinstance(c, Mapping) and "error" not in c
                     and c.get("dataset") in accepted]
        return {**facts, "tokenizers": tokenizers, "datasets": sets, "loaded_tokenizers": first,
                "loaded": list(facts.get("loaded", [])) if gpt2 else [],
                "collators": collators}

    def judge_notebook(self, facts: Mapping, measurement: Mapping | None
                       ) -> dict[str, CheckResult]:
        """The notebook's checks: ``facts`` from its kernel, ``measurement`` from the
        measurement job (None: it did not run or failed, so nothing was measured)."""
        trainers = list(facts.get("trainers", []))
        models = (measurement or {}).get("models", {})
        measured: dict[int, float] = {}
        for i, trainer in enumerate(trainers):
            name = str(trainer.get("saved"))
            value = models.get(name, {}).get("perplexity") if SAVED_NAME.fullmatch(name) \
                else None
            if isinstance(value, float) and math.isfinite(value):
                measured[i] = value
        # What the kernel reports about a trainer is only its word: a trainer counts when
        # its saved model was loaded and measured outside the notebook (forged facts have
        # none).
        kept = [i for i in range(len(trainers)) if i in measured]
        facts = {**self._measured_facts(facts, measurement or {}),
                 "trainers": [trainers[i] for i in kept]}
        on_full = _adapters_on_full_model(trainers, kept, models)
        measured = {new: measured[old] for new, old in enumerate(kept)}
        pretrained = (measurement or {}).get("pretrained")
        if not isinstance(pretrained, float):
            pretrained = self.pretrained_perplexity
        verdicts = {**checks_lab2.judge_loading(facts),
                    **checks_lab2.judge_datasets(facts, self.row_counts["train"],
                                                 self.row_counts["validation"]),
                    **checks_lab2.judge_full_finetune(facts, measured, pretrained,
                                                      self.band("full_perplexity",
                                                                pretrained)),
                    **checks_lab2.judge_lora(facts, measured, pretrained,
                                             self.lora_trainable, LORA,
                                             self.band("lora_perplexity", pretrained),
                                             on_full)}
        return verdicts


def _adapters_on_full_model(trainers: list, kept: list[int], models: Mapping
                            ) -> dict[int, tuple[float, float]]:
    """For each measured LoRA trainer (its index among `kept`): the perplexity of the full
    fine-tuned model the measurement job put its adapter on, and of the adapter on it."""
    out = {}
    for new, old in enumerate(kept):
        found = models.get(str(trainers[old].get("saved")), {}).get("on_full", {})
        base = models.get(str(found.get("base")), {}).get("perplexity")
        if trainers[old].get("peft") and isinstance(found.get("perplexity"), float) \
                and isinstance(base, float):
            out[new] = (base, found["perplexity"])
    return out
