"""Tests of the Lab 2 reference solution (hw3_solution.lab_llm) on a tiny GPT-2."""

import math

import datasets
import pytest
import torch
from datasets import Dataset
from hw3_solution import lab_llm as L
from solution_llm_data import wikitext_dataset, write_tiny_gpt2
from torch.utils.data import RandomSampler, SequentialSampler

MAX_LENGTH = 32  # the tiny tokenizer's model_max_length
LONG_ROW = " " + " ".join(["the game was played in the city"] * 12) + " . \n"


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    return write_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), model_max_length=MAX_LENGTH)


@pytest.fixture(scope="module")
def model_and_tokenizer(gpt2_dir):
    return L.load_model_and_tokenizer(str(gpt2_dir), device="cpu")


@pytest.fixture(scope="module")
def model(model_and_tokenizer):
    return model_and_tokenizer[0]


@pytest.fixture(scope="module")
def tokenizer(model_and_tokenizer):
    return model_and_tokenizer[1]


@pytest.fixture(scope="module")
def data(tokenizer):
    raw = wikitext_dataset(n_train=40, n_valid=20)
    raw["train"] = raw["train"].add_item({"text": LONG_ROW})
    return L.prepare_data(raw, L.bind_tokenizer(L.tokenize_function, tokenizer), tokenizer)


def _batch(tokenizer, texts, length):
    """Collated rows of `texts`, padded to `length` tokens, as the lab's loaders make them."""
    encoded = tokenizer(texts, padding="max_length", max_length=length, truncation=True)
    features = [dict(zip(encoded, values)) for values in zip(*encoded.values())]
    return L.DataCollatorForLanguageModeling(tokenizer, mlm=False)(features)


TEXTS = [" the game was played in the city . \n", " = Album = \n", " a new song"]


# (a) model, tokenizer, generation


def test_load_sets_pad_to_eos_on_the_device(model, tokenizer):
    assert tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"
    assert tokenizer.pad_token_id == model.config.eos_token_id
    assert model.device.type == "cpu"


def test_generate_starts_with_prompt_respects_max_length_and_prints(
    model, tokenizer, monkeypatch, capsys
):
    calls = []
    original = model.generate

    def spy(**kwargs):
        calls.append((kwargs, output := original(**kwargs)))
        return output

    monkeypatch.setattr(model, "generate", spy)
    prompt = "the game was"
    text = L.generate_text(model, tokenizer, prompt, max_length=12)
    (kwargs, output), = calls
    prompt_length = len(tokenizer(prompt)["input_ids"])
    assert prompt_length < output.shape[1] <= 12
    assert kwargs["attention_mask"].tolist() == [[1] * prompt_length]
    assert kwargs["pad_token_id"] == tokenizer.eos_token_id and kwargs["do_sample"] is False
    assert text.startswith(prompt)
    assert capsys.readouterr().out == text + "\n"
    assert L.generate_text(model, tokenizer, prompt, max_length=12) == text  # greedy


def test_generate_rejects_an_empty_prompt(model, tokenizer):
    with pytest.raises(ValueError, match="prompt is empty"):
        L.generate_text(model, tokenizer, "")


# (b) data


def test_load_wikitext_keeps_the_first_tenth(tmp_path, monkeypatch):
    """3,671 of 36,718 train rows and 376 of 3,760 validation rows, as the handout reports."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "wikitext"
    (root / "wikitext-2-raw-v1").mkdir(parents=True)
    (root / "README.md").write_text(
        "---\nconfigs:\n- config_name: wikitext-2-raw-v1\n  data_files:\n"
        "  - split: train\n    path: wikitext-2-raw-v1/train-*\n"
        "  - split: validation\n    path: wikitext-2-raw-v1/validation-*\n---\n"
    )
    for split, rows in (("train", 36718), ("validation", 3760)):
        Dataset.from_dict({"text": [f" row {i}\n" for i in range(rows)]}).to_parquet(
            root / "wikitext-2-raw-v1" / f"{split}-00000-of-00001.parquet"
        )
    raw = L.load_wikitext(str(root), "wikitext-2-raw-v1")
    assert {split: raw[split].num_rows for split in raw} == {"train": 3671, "validation": 376}
    assert raw["train"][-1]["text"] == " row 3670\n"  # the first rows, in order


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5])
def test_load_wikitext_rejects_a_bad_fraction(fraction):
    with pytest.raises(ValueError, match="fraction must be in"):
        L.load_wikitext(fraction=fraction)


def test_tokenize_function_pads_truncates_and_copies_labels(tokenizer):
    out = L.bind_tokenizer(L.tokenize_function, tokenizer)({"text": ["", TEXTS[0], LONG_ROW]})
    assert [len(ids) for ids in out["input_ids"]] == [MAX_LENGTH] * 3
    assert out["labels"] == out["input_ids"]
    assert out["attention_mask"][0] == [0] * MAX_LENGTH  # the empty row is all padding
    assert out["attention_mask"][2] == [1] * MAX_LENGTH  # the long row is truncated
    assert L.tokenizer is None  # binding left the module's global alone


def test_prepared_datasets_drop_text_keep_labels_and_use_torch(data, tokenizer):
    for split in (data.train_dataset, data.eval_dataset):
        assert set(split.column_names) == {"input_ids", "attention_mask", "labels"}
        assert split.format["type"] == "torch"
        rows = split[:]
        assert rows["input_ids"].shape == (split.num_rows, MAX_LENGTH)
        assert torch.equal(rows["labels"], rows["input_ids"])  # before collation
    assert (data.train_dataset.num_rows, data.eval_dataset.num_rows) == (41, 20)


def test_collator_masks_pad_positions(data, tokenizer):
    batch = next(iter(data.eval_dataloader))
    assert batch["input_ids"].shape == (4, MAX_LENGTH)
    pad = batch["input_ids"] == tokenizer.pad_token_id
    assert torch.equal(pad, batch["attention_mask"] == 0)
    assert (batch["labels"][pad] == -100).all()
    assert torch.equal(batch["labels"][~pad], batch["input_ids"][~pad])
    assert data.data_collator.mlm is False


def test_loaders_batch_four_train_shuffled_with_the_seed(data, tokenizer):
    assert data.train_dataloader.batch_size == data.eval_dataloader.batch_size == 4
    assert isinstance(data.train_dataloader.sampler, RandomSampler)
    assert isinstance(data.eval_dataloader.sampler, SequentialSampler)
    raw = wikitext_dataset(n_train=40, n_valid=8)
    tokenize = L.bind_tokenizer(L.tokenize_function, tokenizer)

    def first_batches(seed):
        loader = L.prepare_data(raw, tokenize, tokenizer, seed=seed).train_dataloader
        return [batch["input_ids"].tolist() for batch in loader][:3]

    assert first_batches(7) == first_batches(7) != first_batches(8)


# (c) perplexity


def _hand_perplexity(model, batches):
    """The handout's protocol written out token by token."""
    total, length = 0.0, 0
    model.eval()
    with torch.no_grad():
        for batch in batches:
            logits = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).logits
            log_probs = torch.log_softmax(logits.double(), dim=-1)
            rows, positions = batch["labels"].shape
            for i in range(rows):
                for t in range(positions - 1):
                    target = int(batch["labels"][i, t + 1])
                    if target != -100:
                        total -= float(log_probs[i, t, target])
            length += int(batch["attention_mask"].sum())
    return math.exp(total / length)


def test_perplexity_equals_a_hand_computation(model, tokenizer):
    batches = [_batch(tokenizer, TEXTS[:2], 16), _batch(tokenizer, TEXTS[2:], 16)]
    expected = _hand_perplexity(model, batches)
    assert L.evaluate_perplexity(model, batches) == pytest.approx(expected, rel=1e-5)


def test_perplexity_ignores_extra_padding_and_train_mode(model, tokenizer):
    short = L.evaluate_perplexity(model, [_batch(tokenizer, TEXTS, 12)])
    model.train()  # dropout on: the function must switch to eval mode itself
    long = L.evaluate_perplexity(model, [_batch(tokenizer, TEXTS, MAX_LENGTH)])
    assert not model.training
    assert long == pytest.approx(short, rel=1e-5)


def test_perplexity_of_the_eval_loader_is_deterministic(model, data, tokenizer):
    first = L.evaluate_perplexity(model, data.eval_dataloader)
    assert 1 < first < 2 * len(tokenizer)  # an untrained model: about the vocabulary size
    assert L.evaluate_perplexity(model, data.eval_dataloader) == first


def test_perplexity_needs_an_attention_mask(model, tokenizer):
    batch = dict(_batch(tokenizer, TEXTS, 12))
    del batch["attention_mask"]
    with pytest.raises(ValueError, match=r"lacks \['attention_mask'\]"):
        L.evaluate_perplexity(model, [batch])


def test_perplexity_of_an_empty_loader_is_an_error(model):
    with pytest.raises(ValueError, match="no tokens"):
        L.evaluate_perplexity(model, [])


# (e) LoRA


def test_lora_trains_only_the_c_attn_adapters(gpt2_dir):
    base = L.AutoModelForCausalLM.from_pretrained(str(gpt2_dir))
    shapes = [m.weight.shape for name, m in base.named_modules() if name.endswith("c_attn")]
    expected = sum(64 * (fan_in + fan_out) for fan_in, fan_out in shapes)
    peft_model = L.lora_model(str(gpt2_dir))
    trainable = {n: p.numel() for n, p in peft_model.named_parameters() if p.requires_grad}
    assert sum(trainable.values()) == expected == 2 * 64 * (32 + 96)
    assert all("lora_" in name and "c_attn" in name for name in trainable)
    config = peft_model.peft_config["default"]
    assert (config.r, config.lora_alpha, config.lora_dropout, config.bias) == (
        64, 16, 0.1, "none"
    )
