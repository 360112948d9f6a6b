"""Lab 2 reference: GPT-2 with Hugging Face (generation, perplexity, full and LoRA fine-tuning).

The student parts are fenced with comment lines ``# TODO[<question id>] begin`` and
``# TODO[<question id>] end`` (ids ``lab2a``..``lab2e``); `hw3_solution.notebooks` turns each
fenced region into a ``raise NotImplementedError`` stub for the starter notebook and copies
it verbatim into the solution notebook. Everything outside the fences is given code.
The steps read top to bottom: model, data, perplexity, full fine-tuning, LoRA; `run_lab`
chains them as the notebook does and returns every number a report needs.
"""

import math
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from datasets import Dataset, DatasetDict, load_dataset
from peft import LoraConfig, PeftModel, get_peft_model
from torch.utils.data import DataLoader
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    BatchEncoding,
    DataCollatorForLanguageModeling,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
    set_seed,
)

MODEL_NAME = "gpt2"
DATASET_NAME = "wikitext"
DATASET_CONFIG = "wikitext-2-raw-v1"
PROMPT = "GPT-2 is a language model based on transformer developed by OpenAI"
FULL_OUTPUT_DIR = "./gpt2-wikitext-2"
LORA_OUTPUT_DIR = "./gpt2-lora-wikitext-2"
SEED = 42

# The handout's TrainingArguments, shared by full and LoRA fine-tuning (output_dir apart).
TRAINING_ARGS = {
    "num_train_epochs": 3,
    "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 8,
    "eval_steps": 400,
    "save_steps": 800,
    "warmup_steps": 500,
    "prediction_loss_only": True,
    "report_to": "none",
}


def load_model_and_tokenizer(
    model_name: str = MODEL_NAME, device: torch.device | str | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load the pretrained causal language model and its tokenizer (pad token = eos token)."""
    if device is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # TODO[lab2a] begin
    tokenizer = AutoTokenizer.from_pretrained(model_name)
    tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_name)
    # TODO[lab2a] end
    return model.to(device), tokenizer


def generate_text(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, prompt: str,
    max_length: int = 100,
) -> str:
    """Greedy continuation of `prompt` up to `max_length` tokens in all; printed and returned."""
    if not prompt:
        raise ValueError("generate_text: the prompt is empty")
    # TODO[lab2a] begin
    inputs = tokenizer(prompt, return_tensors="pt").to(model.device)
    output = model.generate(
        input_ids=inputs["input_ids"],
        attention_mask=inputs["attention_mask"],
        max_length=max_length,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
    )
    text = tokenizer.decode(output[0], skip_special_tokens=True)
    # TODO[lab2a] end
    print(text)
    return text


def load_wikitext(
    dataset_name: str = DATASET_NAME, dataset_config: str = DATASET_CONFIG,
    fraction: float = 0.1,
) -> DatasetDict:
    """The train and validation splits, each cut to its first `fraction` of rows."""
    if not 0 < fraction <= 1:
        raise ValueError(f"load_wikitext: fraction must be in (0, 1], got {fraction!r}")
    raw = load_dataset(dataset_name, dataset_config)
    return DatasetDict(
        {
            split: raw[split].select(range(math.floor(len(raw[split]) * fraction + 1e-9)))
            for split in ("train", "validation")
        }
    )


# The notebook's global tokenizer, which `tokenize_function` reads as the handout has it; the
# package never sets it here but binds it per call with `bind_tokenizer`.
tokenizer: PreTrainedTokenizerBase | None = None


def tokenize_function(examples: dict) -> BatchEncoding:
    """Tokenize a batch of rows with the global `tokenizer`, padded to its maximum length and
    truncated; the labels are a copy of the input ids."""
    # TODO[lab2b] begin
    tokens = tokenizer(examples["text"], padding="max_length", truncation=True)
    tokens["labels"] = tokens["input_ids"].copy()
    # TODO[lab2b] end
    return tokens


def bind_tokenizer(function: Callable, tokenizer: PreTrainedTokenizerBase) -> Callable:
    """A copy of `function` whose global name `tokenizer` is `tokenizer` (module left alone)."""
    namespace = {**function.__globals__, "tokenizer": tokenizer}
    return types.FunctionType(
        function.__code__, namespace, function.__name__, function.__defaults__,
        function.__closure__,
    )


class LMData(NamedTuple):
    """The tokenized splits, the collator and the loaders."""

    train_dataset: Dataset
    eval_dataset: Dataset
    data_collator: DataCollatorForLanguageModeling
    train_dataloader: DataLoader
    eval_dataloader: DataLoader


def prepare_data(
    raw: DatasetDict, tokenize_function: Callable, tokenizer: PreTrainedTokenizerBase,
    batch_size: int = 4, seed: int = SEED,
) -> LMData:
    """Tokenize the train and validation splits; add the collator and the loaders."""
    # TODO[lab2b] begin
    tokenized = raw.map(tokenize_function, batched=True, remove_columns=["text"])
    tokenized.set_format("torch")
    data_collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)
    train_dataloader = DataLoader(
        tokenized["train"],
        batch_size=batch_size,
        shuffle=True,
        collate_fn=data_collator,
        generator=torch.Generator().manual_seed(seed),
    )
    eval_dataloader = DataLoader(
        tokenized["validation"], batch_size=batch_size, collate_fn=data_collator
    )
    # TODO[lab2b] end
    return LMData(
        tokenized["train"], tokenized["validation"], data_collator, train_dataloader,
        eval_dataloader,
    )


def evaluate_perplexity(model: torch.nn.Module, dataloader: DataLoader) -> float:
    """exp(summed next-token loss / attention_mask.sum()) over the loader, in eval mode."""
    device = next(model.parameters()).device
    # TODO[lab2c] begin
    model.eval()
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")  # ignores label -100
    total_loss, total_length = 0.0, 0
    with torch.no_grad():
        for batch in dataloader:
            missing = {"input_ids", "attention_mask", "labels"} - set(batch)
            if missing:
                raise ValueError(f"evaluate_perplexity: a batch lacks {sorted(missing)}")
            input_ids = batch["input_ids"].to(device)
            attention_mask = batch["attention_mask"].to(device)
            labels = batch["labels"].to(device)
            logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
            shift_logits = logits[:, :-1, :].contiguous()
            shift_labels = labels[:, 1:].contiguous()
            loss = loss_fn(shift_logits.view(-1, shift_logits.size(-1)), shift_labels.view(-1))
            total_loss += loss.item()
            total_length += attention_mask.sum().item()
    if total_length == 0:
        raise ValueError("evaluate_perplexity: the dataloader yielded no tokens")
    perplexity = math.exp(total_loss / total_length)
    # TODO[lab2c] end
    return perplexity


@dataclass(frozen=True)
class FineTuneResult:
    """What a fine-tuning run leaves for the report (losses per epoch, as Trainer logged)."""

    method: str
    train_loss: tuple[float, ...]
    eval_loss: tuple[float, ...]
    train_seconds: float
    trainable_params: int
    perplexity: float
    generated: str
    output_dir: str

    @classmethod
    def from_run(
        cls, method: str, trainer: Trainer, train_seconds: float, perplexity: float,
        generated: str,
    ) -> "FineTuneResult":
        """Read the per-epoch losses and the trainable parameter count off `trainer`."""
        history = trainer.state.log_history
        return cls(
            method=method,
            train_loss=tuple(entry["loss"] for entry in history if "loss" in entry),
            eval_loss=tuple(entry["eval_loss"] for entry in history if "eval_loss" in entry),
            train_seconds=train_seconds,
            trainable_params=sum(
                p.numel() for p in trainer.model.parameters() if p.requires_grad
            ),
            perplexity=perplexity,
            generated=generated,
            output_dir=str(trainer.args.output_dir),
        )


def make_trainer(model: torch.nn.Module, data: LMData, output_dir: str, seed: int = SEED
                 ) -> Trainer:
    """A Trainer with the handout's arguments that evaluates and logs once per epoch."""
    # TODO[lab2d] begin
    training_args = TrainingArguments(
        output_dir=output_dir,
        eval_strategy="epoch",
        logging_strategy="epoch",
        seed=seed,
        **TRAINING_ARGS,
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        data_collator=data.data_collator,
        train_dataset=data.train_dataset,
        eval_dataset=data.eval_dataset,
    )
    # TODO[lab2d] end
    return trainer


def full_fine_tune(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, data: LMData,
    output_dir: str = FULL_OUTPUT_DIR, seed: int = SEED, prompt: str = PROMPT,
) -> FineTuneResult:
    """Fine-tune all of `model`, save and reload it, then measure perplexity and generate."""
    set_seed(seed)
    # TODO[lab2d] begin
    trainer = make_trainer(model, data, output_dir, seed)
    start = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - start
    trainer.save_model(output_dir)
    tokenizer.save_pretrained(output_dir)
    model = AutoModelForCausalLM.from_pretrained(output_dir).to(trainer.args.device)
    perplexity = evaluate_perplexity(model, data.eval_dataloader)
    generated = generate_text(model, tokenizer, prompt)
    # TODO[lab2d] end
    print(f"Perplexity after full fine-tuning: {perplexity:.4f}")
    return FineTuneResult.from_run("full", trainer, train_seconds, perplexity, generated)


def lora_model(model_name: str) -> PeftModel:
    """A fresh pretrained model with the handout's LoRA adapters: only the adapters train."""
    # TODO[lab2e] begin
    model = AutoModelForCausalLM.from_pretrained(model_name)
    lora_config = LoraConfig(
        lora_alpha=16, lora_dropout=0.1, r=64, bias="none", task_type="CAUSAL_LM"
    )
    model = get_peft_model(model, lora_config)
    # TODO[lab2e] end
    model.print_trainable_parameters()
    return model


def lora_fine_tune(
    model_name: str, tokenizer: PreTrainedTokenizerBase, data: LMData,
    output_dir: str = LORA_OUTPUT_DIR, seed: int = SEED, prompt: str = PROMPT,
) -> FineTuneResult:
    """Train LoRA adapters on a fresh pretrained model, then measure perplexity and generate."""
    set_seed(seed)
    # TODO[lab2e] begin
    model = lora_model(model_name)
    trainer = make_trainer(model, data, output_dir, seed)
    start = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - start
    trainer.save_model(output_dir)
    perplexity = evaluate_perplexity(model, data.eval_dataloader)
    generated = generate_text(model, tokenizer, prompt)
    # TODO[lab2e] end
    print(f"Perplexity after LoRA fine-tuning: {perplexity:.4f}")
    return FineTuneResult.from_run("lora", trainer, train_seconds, perplexity, generated)


@dataclass(frozen=True)
class LabLLMReport:
    """Every number and text of a whole Lab 2 run, for the report's comparison (f)."""

    pretrained_text: str
    train_rows: int
    eval_rows: int
    initial_perplexity: float
    full: FineTuneResult
    lora: FineTuneResult


def run_lab(
    model_name: str = MODEL_NAME, dataset_name: str = DATASET_NAME,
    dataset_config: str = DATASET_CONFIG, fraction: float = 0.1,
    full_output_dir: str = FULL_OUTPUT_DIR, lora_output_dir: str = LORA_OUTPUT_DIR,
    seed: int = SEED, prompt: str = PROMPT, device: torch.device | str | None = None,
) -> LabLLMReport:
    """Run Lab 2 from start to end in the notebook's order and return the report's numbers."""
    set_seed(seed)
    model, tokenizer = load_model_and_tokenizer(model_name, device)
    pretrained_text = generate_text(model, tokenizer, prompt)
    raw = load_wikitext(dataset_name, dataset_config, fraction)
    data = prepare_data(raw, bind_tokenizer(tokenize_function, tokenizer), tokenizer, seed=seed)
    initial_perplexity = evaluate_perplexity(model, data.eval_dataloader)
    print(f"Perplexity before fine-tuning: {initial_perplexity:.4f}")
    full = full_fine_tune(model, tokenizer, data, full_output_dir, seed, prompt)
    lora = lora_fine_tune(model_name, tokenizer, data, lora_output_dir, seed, prompt)
    return LabLLMReport(
        pretrained_text, len(data.train_dataset), len(data.eval_dataset), initial_perplexity,
        full, lora,
    )
