"""Layout of LabLLM.ipynb (Lab 2: GPT-2 with Hugging Face)."""

import json

from hw3_solution import lab_llm
from hw3_solution.layout import Code, Imports, Layout, Markdown, Source, setup_code

INTRO = """\
# Lab 2: GPT-2 with Hugging Face

In this lab you load the pretrained GPT-2 (small, 124M parameters), let it write text,
measure its perplexity on WikiText-2, and fine-tune it twice: all of its weights with the
`Trainer`, and only LoRA adapters with `peft`. Fill in the cells marked **TODO**; every other
piece of code is given and must not be changed (in particular the training arguments).

* Run it on a GPU (Colab: *Runtime > Change runtime type > GPU*): each fine-tuning takes
  about 10 minutes on a T4 or L4.
* The model `gpt2` and the data set `wikitext` / `wikitext-2-raw-v1` are downloaded from the
  Hugging Face Hub on first use.
* Keep the function names and signatures: the grader calls them. `tokenize_function` reads
  the global `tokenizer` made in (a).
* Check a question as you go with the grader's public checks:
  `from hw3_student import check; check("lab2c")` (`check()` runs all you have defined).
* `hw3-report` turns your executed notebooks into a report skeleton (PDF and Markdown) with
  your code and results; `hw3-pack` builds `code.zip`.
"""

GIVEN_CONSTANTS = """\
## Given: names and training arguments (do not change)

`TRAINING_ARGS` are the handout's `TrainingArguments` (3 epochs, batch size 8, 500 warm-up
steps), used by both fine-tunings; only the output folder differs.
"""

Q_LAB2A = """\
## (a) Load GPT-2 and generate text (10 points)

Complete `load_model_and_tokenizer`: load the model with `AutoModelForCausalLM` and its
tokenizer with `AutoTokenizer` from `model_name`, and set the tokenizer's pad token to its
end-of-sequence token (GPT-2 has no pad token).

Complete `generate_text(model, tokenizer, prompt, max_length)`: tokenize the prompt
(PyTorch tensors on the model's device), call `model.generate(...)` with the input ids,
the **attention mask**, `max_length` and the pad token id, and decode the first sequence
with `skip_special_tokens=True`. The given tail prints and returns the text.
"""

GIVEN_DATA = """\
## Given: the data

WikiText-2 (raw), of which we keep the first 10% of the training and validation rows
(3,671 and 376 rows). Many rows are empty strings or headings such as `" = Title = "`.
"""

Q_LAB2B = """\
## (b) Prepare the data set (10 points)

Complete `tokenize_function(examples)`: tokenize `examples["text"]` with the global
`tokenizer`, padded to the maximum length (`padding="max_length"`) and truncated, and set
`labels` to a copy of the `input_ids`.

Complete `prepare_data(raw, tokenize_function, tokenizer, batch_size, seed)`: map
`tokenize_function` over both splits in batches, removing the `text` column; set the
format to PyTorch; make a `DataCollatorForLanguageModeling` for causal language modelling
(`mlm=False`: it replaces the labels of pad positions with -100); and make the data
loaders with batch size `batch_size`: the training loader shuffled (with a generator seeded
from `seed`), the validation loader in order.
"""

Q_LAB2C = """\
## (c) Perplexity (10 points)

Complete `evaluate_perplexity(model, dataloader)`: put the model in evaluation mode and,
without gradients, run it on every batch (input ids and attention mask). The logits at
position *t* predict the token at *t + 1*: drop the last logit and the first label
(`logits[:, :-1]`, `labels[:, 1:]`) and add up the token losses with
`nn.CrossEntropyLoss(reduction="sum")` (labels -100 are ignored). Divide the total loss by
the total number of tokens, `attention_mask.sum()` over all batches, and return
`exp(total_loss / total_length)` as a float.
"""

GIVEN_RESULT = """\
## Given: the result of a fine-tuning run

`FineTuneResult` collects what (f) compares: the training and validation loss of every
epoch as the `Trainer` logged them, the training time, the number of trainable parameters,
the perplexity and the generated text.
"""

Q_LAB2D = """\
## (d) Full fine-tuning (5 points)

Complete `make_trainer(model, data, output_dir, seed)`: build `TrainingArguments` from
`output_dir`, `seed` and the given `TRAINING_ARGS`, adding that the model is **evaluated
and the loss logged once per epoch**; return a `Trainer` with the model, these arguments,
the collator and the training and validation data sets of `data`.

Complete `full_fine_tune`: make the trainer, train it (time the training), save the model
and the tokenizer to `output_dir`, load the fine-tuned model back from there, and measure
its perplexity on the validation loader and generate text from `prompt` with it.
"""

Q_LAB2E = """\
## (e) LoRA fine-tuning (5 points)

Complete `lora_model(model_name)`: load a **fresh** pretrained model from `model_name` and
wrap it with `get_peft_model` and `LoraConfig(lora_alpha=16, lora_dropout=0.1, r=64,
bias="none", task_type="CAUSAL_LM")`. For GPT-2 the adapters go on the attention projection
`c_attn`: 2,359,296 trainable parameters (the given tail prints them).

Complete `lora_fine_tune`: make the LoRA model, make its trainer with `make_trainer`, train
it (time the training), save the adapters to `output_dir`, then measure the perplexity on
the validation loader and generate text from `prompt` with the fine-tuned model.
"""

Q_LAB2F = """\
## (f) Comparison (5 points, report)

In your report, compare full fine-tuning with LoRA: the training time, the number of
trainable parameters, the training and validation loss per epoch, the perplexity before
and after, and the generated texts. Explain the differences.
"""

# The lab module's names and defaults, one per line (a Source cell would space them apart).
NAMES = "\n".join(
    f"{name} = {json.dumps(getattr(lab_llm, name))}"
    for name in (
        "MODEL_NAME",
        "DATASET_NAME",
        "DATASET_CONFIG",
        "PROMPT",
        "FULL_OUTPUT_DIR",
        "LORA_OUTPUT_DIR",
        "SEED",
    )
)

RUN_LOAD = """\
model, tokenizer = load_model_and_tokenizer(MODEL_NAME)
pretrained_text = generate_text(model, tokenizer, PROMPT, max_length=100)"""

RUN_RAW = """\
raw_datasets = load_wikitext(DATASET_NAME, DATASET_CONFIG, fraction=0.1)
print(raw_datasets)"""

RUN_DATA = """\
data = prepare_data(raw_datasets, tokenize_function, tokenizer, batch_size=4, seed=SEED)
train_dataset, eval_dataset, data_collator, train_dataloader, eval_dataloader = data
print(train_dataset)
print({key: value.shape for key, value in next(iter(eval_dataloader)).items()})"""

RUN_PERPLEXITY = """\
initial_perplexity = evaluate_perplexity(model, eval_dataloader)
print(f"Perplexity before fine-tuning: {initial_perplexity:.4f}")"""

RUN_FULL = """\
full_result = full_fine_tune(model, tokenizer, data, FULL_OUTPUT_DIR, seed=SEED)"""

RUN_LORA = """\
lora_result = lora_fine_tune(MODEL_NAME, tokenizer, data, LORA_OUTPUT_DIR, seed=SEED)"""

RUN_COMPARE = """\
import pandas as pd

comparison = pd.DataFrame(
    [
        {
            "method": result.method,
            "train seconds": round(result.train_seconds, 1),
            "trainable parameters": result.trainable_params,
            "perplexity before": round(initial_perplexity, 4),
            "perplexity after": round(result.perplexity, 4),
            "train loss per epoch": [round(x, 3) for x in result.train_loss],
            "valid loss per epoch": [round(x, 3) for x in result.eval_loss],
        }
        for result in (full_result, lora_result)
    ]
).set_index("method")
print(comparison.T.to_string())"""

LAYOUT = Layout(
    lab="llm",
    notebook="LabLLM.ipynb",
    module="hw3_solution.lab_llm",
    hints={
        "lab2a": "complete this function as question (a) asks",
        "lab2b": "complete this function as question (b) asks",
        "lab2c": "sum the shifted next-token losses, divide by the attention_mask total, "
        "return exp of it",
        "lab2d": "complete this function as question (d) asks",
        "lab2e": "complete this function as question (e) asks",
    },
    cells=(
        Markdown("intro", INTRO),
        Code(
            "setup",
            setup_code(
                {
                    "transformers": "transformers",
                    "datasets": "datasets",
                    "peft": "peft",
                    "accelerate": "accelerate",
                }
            ),
        ),
        Imports("imports"),
        Markdown("given-constants", GIVEN_CONSTANTS),
        Code("constants", NAMES),
        Source("training-args", ("TRAINING_ARGS",)),
        Markdown("lab2a-question", Q_LAB2A, ("lab2a",)),
        Source("lab2a", ("load_model_and_tokenizer", "generate_text"), ("lab2a",)),
        Code("lab2a-run", RUN_LOAD),
        Markdown("given-data", GIVEN_DATA),
        Source("given-data-def", ("load_wikitext",)),
        Code("given-data-run", RUN_RAW),
        Markdown("lab2b-question", Q_LAB2B, ("lab2b",)),
        Source("lab2b", ("tokenize_function", "LMData", "prepare_data"), ("lab2b",)),
        Code("lab2b-run", RUN_DATA),
        Markdown("lab2c-question", Q_LAB2C, ("lab2c",)),
        Source("lab2c", ("evaluate_perplexity",)),
        Code("lab2c-run", RUN_PERPLEXITY),
        Markdown("given-result", GIVEN_RESULT),
        Source("given-result-def", ("FineTuneResult",)),
        Markdown("lab2d-question", Q_LAB2D, ("lab2d",)),
        Source("lab2d", ("make_trainer", "full_fine_tune"), ("lab2d",)),
        Code("lab2d-run", RUN_FULL),
        Markdown("lab2e-question", Q_LAB2E, ("lab2e",)),
        Source("lab2e", ("lora_model", "lora_fine_tune"), ("lab2e",)),
        Code("lab2e-run", RUN_LORA),
        Markdown("lab2f-question", Q_LAB2F, ("lab2f",)),
        Code("lab2f-run", RUN_COMPARE),
    ),
)
