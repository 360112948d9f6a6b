"""The committed fixture files: regenerated identically, and shaped like the real data."""

import json
import re
from pathlib import Path

import pytest
from hw3_fixtures.generate import generate
from hw3_fixtures.gpt2 import TinyGPT2Spec, build_tiny_gpt2
from hw3_fixtures.sources import FIXTURE_DATA, DataSource

WIKI = FIXTURE_DATA / "wikitext-2-raw"


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    """The cheap parts written afresh into a temporary folder."""
    out = tmp_path_factory.mktemp("fixtures")
    generate(out, ("imdb", "wikitext", "nltk"))
    return out


@pytest.mark.parametrize("name", [
    "IMDBDataset.csv", "wikitext-2-raw/wiki.train.raw", "wikitext-2-raw/wiki.valid.raw",
    "wikitext-2-raw/wiki.test.raw", "nltk_data/corpora/stopwords/english",
])
def test_generation_reproduces_the_committed_bytes(regenerated: Path, name: str) -> None:
    assert (regenerated / name).read_bytes() == (FIXTURE_DATA / name).read_bytes()


def test_generate_rejects_an_unknown_part(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown parts \['imbd'\]"):
        generate(tmp_path, ("imbd",))


def test_wikitext_rows_follow_the_raw_format() -> None:
    for name, low, high in (("train", 3000, 4000), ("valid", 400, 600), ("test", 400, 600)):
        lines = (WIKI / f"wiki.{name}.raw").read_text(encoding="utf-8").splitlines(True)
        assert low <= len(lines) <= high, name
        assert all(line.startswith(" ") and line.endswith(" \n") for line in lines), name
        blank = sum(line == " \n" for line in lines)
        assert 0.25 < blank / len(lines) < 0.45, name
        titles = [line for line in lines if re.fullmatch(r" = [^=]+ = \n", line)]
        subheads = [line for line in lines if re.fullmatch(r" = = [^=]+ = = \n", line)]
        assert len(titles) >= 10 and len(subheads) > len(titles), name
        first_tenth = lines[: len(lines) // 10]
        assert sum(line != " \n" for line in first_tenth) > len(first_tenth) // 2, name
    text = (WIKI / "wiki.train.raw").read_text(encoding="utf-8")
    for token in (" @-@ ", " @,@ ", " @.@ ", " , ", " . ", " = = = "):
        assert token in text, token


def test_tiny_gpt2_loads_like_gpt2() -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = FIXTURE_DATA / "gpt2"
    for name in ("vocab.json", "merges.txt", "tokenizer.json", "model.safetensors"):
        assert (folder / name).is_file(), name
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert model.config.model_type == "gpt2" and model.config.n_positions == 1024
    assert tokenizer.model_max_length <= 256 and tokenizer.pad_token is None
    eos = "<|endoftext|>"
    assert tokenizer.eos_token == tokenizer.bos_token == tokenizer.unk_token == eos
    assert model.config.eos_token_id == tokenizer.eos_token_id
    assert 1000 <= len(tokenizer) == model.config.vocab_size <= 8192
    text = " = = History = = \n"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    tokenizer.pad_token = tokenizer.eos_token  # a notebook that pads to 512 still runs
    batch = tokenizer(["The ship was"] * 2, padding="max_length", max_length=512,
                      return_tensors="pt")
    assert model(**batch).logits.shape[:2] == (2, 512)


def test_tiny_gpt2_is_built_deterministically(tmp_path: Path) -> None:
    spec = TinyGPT2Spec(vocab_size=300, n_embd=16, steps=3, batch_size=2, block_size=16)
    texts = [f"The {word} was built in {1900 + i}." for i, word in
             enumerate(["ship", "road", "town", "bridge"] * 20)]
    losses = [build_tiny_gpt2(texts, texts, tmp_path / run, spec) for run in ("a", "b")]
    assert losses[0] == losses[1]
    for name in ("model.safetensors", "tokenizer.json", "vocab.json", "merges.txt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["n_positions"] == 1024 and config["n_embd"] == 16


def test_fixture_source_names_the_committed_files() -> None:
    source = DataSource.fixtures()
    assert source.name == "fixtures" and source.imdb_csv == FIXTURE_DATA / "IMDBDataset.csv"
    assert (source.wikitext_dir / "wiki.train.raw").is_file()


def test_fixture_source_names_missing_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"IMDBDataset\.csv.*hw3_fixtures\.generate"):
        DataSource.fixtures(tmp_path)


def test_real_source_names_missing_shared_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"IMDBDataset\.csv\.gz"):
        DataSource.real(tmp_path / "shared", tmp_path / "work")
