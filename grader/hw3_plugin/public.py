"""What students may read about checks fed by a sandbox that held reference code.

Lab 1 (f) runs the student's training loop beside the reference pieces (a)-(e), and the
LabLLM notebook runs with the reference (b)/(c) functions defined in it. Those pieces are
compiled apart (``autograder.sandbox.hidden_code``: no source, no docstrings), but code in
the same process can still reach what a code object must hold (names, constants). So for
these jobs the feedback shows only text the grader wrote: the check's own expectation,
the outcome, the status, a built-in exception's name and the lines of the student's own
code (taken from the grader's copy). Anything else a student's run produced (exception
text, paths given to ``from_pretrained``, column names, token strings, printed text) goes
to ``CheckResult.detail``: staff only.

Lab 1 (f)'s judged messages are grader-written too (counts and numbers it formats), and
as a net a message holding any string of eight characters or more from the sandbox's data
is replaced by the check's expectation (the raw one kept for staff).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from autograder.models import CallOutcome, Status
from autograder.sandbox.runner import BUILTIN_EXCEPTIONS

from .kernel_hooks import _RENAMED

# What each notebook check expects, as its public message.
NOTEBOOK_EXPECTS = {
    "lab2a.pad_token": "the tokenizer's pad token set to its eos token",
    "lab2a.load": 'GPT-2 and its tokenizer loaded with from_pretrained("gpt2")',
    "lab2b.subsets": "tokenized 10% subsets of the train and validation splits",
    "lab2b.columns": "the text column removed and the datasets in torch format",
    "lab2b.collator": "a DataCollatorForLanguageModeling with mlm=False that masks the pad "
                      "labels (the grader applies each one your notebook made to the first "
                      "rows of your tokenized datasets)",
    "lab2d.eval_epoch": "a Trainer fine-tuning the full GPT-2, evaluating every epoch on "
                        "the validation set",
    "lab2d.log_epoch": "a Trainer fine-tuning the full GPT-2, logging every epoch",
    "lab2d.trained": "trainer.train() running every step of the full fine-tuning",
    "lab2d.reloaded": "the fine-tuned model saved and reloaded with from_pretrained",
    "lab2d.perplexity": "a saved full fine-tuned model the grader measures, with a "
                        "validation perplexity below the pretrained model's",
    "lab2e.config": "LoraConfig(r=64, lora_alpha=16, lora_dropout=0.1, bias='none', "
                    "task_type=CAUSAL_LM)",
    "lab2e.trainable": "only the LoRA adapter weights trainable",
    "lab2e.trained": "trainer.train() running on the LoRA model",
    "lab2e.perplexity": "a saved LoRA adapter the grader measures, with a validation "
                        "perplexity below the pretrained model's",
    "lab2e.base": "a LoRA adapter trained on the pretrained GPT-2 (the grader puts it on "
                  "the pretrained and on the fully fine-tuned model and compares)",
}
STAFF_NOTE = "the grader's details on this check are with the course staff"
# The compatibility notes kernel_hooks writes, word for word (a notebook could append any
# text to that record; only these are repeated to students).
COMPAT_NOTES = frozenset(
    {f"read TrainingArguments({old}=...) as {new}" for old, new in _RENAMED.items()}
    | {"read Trainer(tokenizer=...) as processing_class",
       "ignored fp16=True: no GPU in the grader", "ignored bf16=True: no GPU in the grader"})
NET_MIN_CHARS = 8


def notebook_message(check_id: str, passed: bool) -> str:
    """A notebook check's public message."""
    expects = NOTEBOOK_EXPECTS[check_id]
    return expects if passed else f"expected {expects}; not met ({STAFF_NOTE})"


def run_failure(step: CallOutcome, what: str, source: str) -> str:
    """A failed run of ``what`` (e.g. "train_and_test_model_with_hparams(...)") said with
    the grader's words: status, built-in exception name, the student's own lines."""
    if step.status is Status.TIMEOUT:
        return f"{what} ran past its time limit and was stopped"
    if step.status is Status.LIMIT:
        return f"{what} hit a resource limit (memory, processes or file size)"
    if step.status is Status.DIED:
        return f"the process running {what} died"
    if step.status is Status.MISSING:
        return f"{what} could not run: the notebook does not define a name it needs"
    if step.status is Status.OK:
        return f"the result of {what} could not be read ({STAFF_NOTE})"
    lines = source.splitlines()
    where = "".join(f"\n  line {n} of your notebook's code: {lines[n - 1].strip()[:160]}"
                    for n in step.error_lines if 1 <= n <= len(lines))
    return f"{what} raised {step.error_type or 'an exception of its own class'}{where}"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def raised_in_run(raised: str, what: str) -> str:
    """A run that raised part-way (the training probe caught it to judge what ran before):
    the exception's type when it is a built-in one, never its text."""
    kind = str(raised).split(":", 1)[0].strip()
    shown = kind if kind in BUILTIN_EXCEPTIONS else "an exception of its own class"
    return f"{what} raised {shown} ({STAFF_NOTE})"


def carries_sandbox_text(message: str, data: Any) -> bool:
    """Whether ``message`` repeats a string of ``data`` (NET_MIN_CHARS or longer)."""
    return any(len(s) >= NET_MIN_CHARS and s in message for s in _strings(data))


def public_notes(notes: Sequence[Any]) -> list[str]:
    """The compatibility notes a student may read: the hooks' own, nothing else."""
    return sorted({n for n in notes if isinstance(n, str) and n in COMPAT_NOTES})
