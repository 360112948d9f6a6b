"""The offline Hugging Face home: unmodified notebook code finds `gpt2`, `wikitext` and NLTK's
stop words in a fresh process, with no network."""

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hw3_fixtures.offline import prepare_offline_home, stage_workdir
from hw3_fixtures.sources import FIXTURE_DATA, DataSource

# What a student's notebook does, run in a fresh process with the home's environment.
STUDENT_CODE = r"""
import json, time
from datasets import load_dataset
from transformers import (AutoModelForCausalLM, AutoTokenizer, GPT2LMHeadModel,
                          GPT2Tokenizer, GPT2TokenizerFast)

facts = {}
for name in ("gpt2", "openai-community/gpt2"):
    model = AutoModelForCausalLM.from_pretrained(name)
    tokenizer = AutoTokenizer.from_pretrained(name)
    facts[name] = [model.config.n_positions, tokenizer.eos_token, len(tokenizer)]
facts["classes"] = [type(GPT2LMHeadModel.from_pretrained("gpt2")).__name__,
                    GPT2Tokenizer.from_pretrained("gpt2").eos_token,
                    GPT2TokenizerFast.from_pretrained("gpt2").eos_token]
for name in ("wikitext", "Salesforce/wikitext"):
    data = load_dataset(name, "wikitext-2-raw-v1")
    facts[name] = {split: list(data[split]["text"]) for split in data}
import nltk
start = time.monotonic()
facts["download"] = nltk.download("stopwords", quiet=True)
facts["download_seconds"] = time.monotonic() - start
from nltk.corpus import stopwords
facts["stopwords"] = stopwords.words("english")
print("FACTS" + json.dumps(facts))
"""


def run_offline(env: dict[str, str], cwd: Path) -> dict:
    """Run STUDENT_CODE with `env` (and no inherited Hugging Face settings); its facts."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS"))}
    result = subprocess.run(
        [sys.executable, "-c", STUDENT_CODE], env={**clean, **env}, cwd=cwd,
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("FACTS"))
    return json.loads(line[len("FACTS"):])


def hub_rows(raw_file: Path) -> list[str]:
    """The rows the Hub's wikitext builder made of a .raw file."""
    lines = raw_file.read_text(encoding="utf-8").splitlines(keepends=True)
    return [line if line.strip() else "" for line in lines]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    target = tmp_path_factory.mktemp("offline") / "home"
    return target, prepare_offline_home(DataSource.fixtures(), target)


def test_unmodified_notebook_code_runs_offline(home, tmp_path: Path) -> None:
    target, env = home
    assert env["HF_HUB_OFFLINE"] == env["HF_DATASETS_OFFLINE"] == "1"
    assert env["HF_HOME"] == str(target.resolve())
    facts = run_offline(env, tmp_path)
    gpt2 = DataSource.fixtures().gpt2_dir
    vocab = json.loads((gpt2 / "config.json").read_text())["vocab_size"]
    assert facts["gpt2"] == facts["openai-community/gpt2"] == [1024, "<|endoftext|>", vocab]
    assert facts["classes"] == ["GPT2LMHeadModel", "<|endoftext|>", "<|endoftext|>"]
    wiki = DataSource.fixtures().wikitext_dir
    expected = {split: hub_rows(wiki / name) for split, name in
                (("test", "wiki.test.raw"), ("train", "wiki.train.raw"),
                 ("validation", "wiki.valid.raw"))}
    for name in ("wikitext", "Salesforce/wikitext"):
        rows = facts[name]
        assert list(rows) == ["test", "train", "validation"]
        assert rows == expected
        assert "" in rows["train"] and all(r == "" or r.endswith("\n") for r in rows["train"])
    assert facts["download"] is False and facts["download_seconds"] < 30
    assert len(facts["stopwords"]) == 179 and facts["stopwords"][:3] == ["i", "me", "my"]


def test_the_home_is_reused_until_its_source_changes(home, tmp_path: Path) -> None:
    target, env = home
    stamp = target / "hw3-offline-home.json"
    before = stamp.stat().st_mtime_ns
    assert prepare_offline_home(DataSource.fixtures(), target) == env
    assert stamp.stat().st_mtime_ns == before

    data = tmp_path / "data"
    shutil.copytree(FIXTURE_DATA, data)
    changed = DataSource.fixtures(data)
    with open(changed.wikitext_dir / "wiki.valid.raw", "a", encoding="utf-8") as handle:
        handle.write(" An extra row . \n")
    copy = tmp_path / "home"
    shutil.copytree(target, copy)
    prepare_offline_home(changed, copy)
    assert json.loads((copy / stamp.name).read_text())["digest"] != json.loads(
        stamp.read_text())["digest"]
    builds = list((copy / "datasets" / "wikitext").rglob("dataset_info.json"))
    assert len(builds) == 1  # the old build is gone, only the new one is left
    info = builds[0].read_text()
    rows = len(hub_rows(changed.wikitext_dir / "wiki.valid.raw"))
    assert json.loads(info)["splits"]["validation"]["num_examples"] == rows


def test_stage_workdir_puts_the_csv_where_the_handout_reads_it(tmp_path: Path) -> None:
    source = DataSource.fixtures()
    target = stage_workdir(tmp_path / "work", source)
    assert target == tmp_path / "work" / "IMDBDataset.csv"
    assert target.read_bytes() == source.imdb_csv.read_bytes()


@pytest.mark.slow
def test_real_source_stages_the_shared_layout(tmp_path: Path) -> None:
    """A miniature of ../shared/data: staged once, the test file standing in for train."""
    shared = tmp_path / "shared"
    (shared / "imdb").mkdir(parents=True)
    with gzip.open(shared / "imdb" / "IMDBDataset.csv.gz", "wb") as handle:
        handle.write(b"review,sentiment\nGood film.,positive\n")
    shutil.copytree(FIXTURE_DATA / "wikitext-2-raw", shared / "wikitext-2-raw")
    (shared / "wikitext-2-raw" / "wiki.train.raw").unlink()
    (shared / "gpt2-tokenizer").mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"):
        shutil.copyfile(FIXTURE_DATA / "gpt2" / name, shared / "gpt2-tokenizer" / name)

    source = DataSource.real(shared, tmp_path / "work")
    assert source.name == "real"
    assert source.imdb_csv.read_bytes() == b"review,sentiment\nGood film.,positive\n"
    test_file = (shared / "wikitext-2-raw" / "wiki.test.raw").read_bytes()
    assert (source.wikitext_dir / "wiki.train.raw").read_bytes() == test_file
    config = json.loads((source.gpt2_dir / "config.json").read_text())
    assert (config["n_layer"], config["n_embd"], config["vocab_size"]) == (12, 768, 50257)
    model = source.gpt2_dir / "model.safetensors"
    built = model.stat().st_mtime_ns
    assert DataSource.real(shared, tmp_path / "work") == source
    assert model.stat().st_mtime_ns == built  # built once
