"""Test data for the Lab 2 tests: a tiny GPT-2 with a byte-level BPE tokenizer, and
WikiText-shaped rows (blank rows, " = Heading = " rows, text rows ending in a newline)."""

import random
from pathlib import Path

from datasets import Dataset, DatasetDict
from tokenizers import ByteLevelBPETokenizer
from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

EOS = "<|endoftext|>"
WORDS = """the a of and in to was is for on as with by at from his it an were which that
game season album song film city river team war army first second new after during
played released called known built began became located north south later early""".split()


def wikitext_rows(n_rows: int, seed: int = 0) -> list[str]:
    """Rows shaped like the Hugging Face `wikitext-2-raw-v1` rows."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_rows):
        if i % 3 == 0:
            rows.append("")
        elif i % 7 == 1:
            rows.append(f" = {rng.choice(WORDS).title()} {rng.choice(WORDS)} = \n")
        else:
            words = [rng.choice(WORDS) for _ in range(rng.randint(4, 40))]
            rows.append(" " + " ".join(words) + " . \n")
    return rows


def wikitext_dataset(n_train: int = 60, n_valid: int = 30) -> DatasetDict:
    return DatasetDict(
        {
            "train": Dataset.from_dict({"text": wikitext_rows(n_train, seed=1)}),
            "validation": Dataset.from_dict({"text": wikitext_rows(n_valid, seed=2)}),
        }
    )


def write_tiny_gpt2(folder: Path, model_max_length: int = 32, seed: int = 0) -> Path:
    """A randomly initialised 2-layer GPT-2 and its trained byte-level BPE in `folder`."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(wikitext_rows(300), vocab_size=400, special_tokens=[EOS])
    tokenizer = GPT2TokenizerFast(
        tokenizer_object=bpe._tokenizer, eos_token=EOS, bos_token=EOS, unk_token=EOS,
        model_max_length=model_max_length,
    )
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    eos_id = tokenizer.convert_tokens_to_ids(EOS)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=1024, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=eos_id, eos_token_id=eos_id,
    )
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder
