"""Lab 2 end to end on the fixtures (offline `gpt2` and `wikitext`): the fine-tuning trend
of the package, and THE DRIFT TEST (the solution notebook prints the package's numbers)."""

import json
import os
import re
import subprocess
import sys

import pytest
from hw3_fixtures.offline import prepare_offline_home
from hw3_fixtures.sources import DataSource
from hw3_solution import notebooks
from hw3_solution.nbrun import cell_by_id, cell_text, run_notebook
from transformers import AutoModelForCausalLM

pytestmark = pytest.mark.slow

PERPLEXITY_LINES = {  # notebook cell -> (printed label, key of the package's report)
    "lab2c-run": ("before fine-tuning", ("initial_perplexity",)),
    "lab2d-run": ("after full fine-tuning", ("full", "perplexity")),
    "lab2e-run": ("after LoRA fine-tuning", ("lora", "perplexity")),
}


@pytest.fixture(scope="module")
def source():
    return DataSource.fixtures()


@pytest.fixture(scope="module")
def offline_env(source, tmp_path_factory):
    return prepare_offline_home(source, tmp_path_factory.mktemp("hf-home"))


@pytest.fixture(scope="module")
def report(offline_env, tmp_path_factory):
    """The package's whole Lab 2 run, in a fresh process that sees the offline home."""
    workdir = tmp_path_factory.mktemp("package-run")
    done = subprocess.run(
        [sys.executable, "-m", "hw3_solution.lab_llm_cli", "--json", "report.json"],
        cwd=workdir, env={**os.environ, **offline_env}, capture_output=True, text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    print(done.stdout)
    return json.loads((workdir / "report.json").read_text(encoding="utf-8"))


def test_fine_tuning_lowers_perplexity_full_more_than_lora(report, source, capsys):
    before, full, lora = (report["initial_perplexity"], report["full"]["perplexity"],
                          report["lora"]["perplexity"])
    with capsys.disabled():
        print(f"\n[fixtures] perplexity before {before:.2f}, full {full:.2f}, LoRA {lora:.2f}")
    assert full < lora < before
    for method in ("full", "lora"):
        assert len(report[method]["train_loss"]) == len(report[method]["eval_loss"]) == 3
    assert report["full"]["eval_loss"][-1] < report["full"]["eval_loss"][0]
    config = json.loads((source.gpt2_dir / "config.json").read_text(encoding="utf-8"))
    lora_params = config["n_layer"] * 64 * (config["n_embd"] + 3 * config["n_embd"])
    assert report["lora"]["trainable_params"] == lora_params
    model = AutoModelForCausalLM.from_pretrained(source.gpt2_dir)
    assert report["full"]["trainable_params"] == sum(p.numel() for p in model.parameters())
    lines = {
        split: len((source.wikitext_dir / f"wiki.{name}.raw").read_text("utf-8").splitlines())
        for split, name in (("train", "train"), ("eval", "valid"))
    }
    assert (report["train_rows"], report["eval_rows"]) == (lines["train"] // 10,
                                                           lines["eval"] // 10)


def test_solution_notebook_matches_the_package(report, offline_env, tmp_path):
    """THE DRIFT TEST: the executed solution notebook prints the package's numbers and texts."""
    notebook = notebooks.build_solution_notebook("llm")
    run_notebook(notebook, tmp_path, offline_env, timeout=600)
    for cell_id, (label, keys) in PERPLEXITY_LINES.items():
        printed = re.findall(rf"^Perplexity {label}: ([0-9.]+)$",
                             cell_text(cell_by_id(notebook, cell_id)), flags=re.MULTILINE)
        expected = report[keys[0]] if len(keys) == 1 else report[keys[0]][keys[1]]
        assert printed == [f"{expected:.4f}"], cell_id
    assert report["pretrained_text"] in cell_text(cell_by_id(notebook, "lab2a-run"))
    assert report["full"]["generated"] in cell_text(cell_by_id(notebook, "lab2d-run"))
    assert report["lora"]["generated"] in cell_text(cell_by_id(notebook, "lab2e-run"))
    comparison = cell_text(cell_by_id(notebook, "lab2f-run"))
    assert "perplexity after" in comparison and "trainable parameters" in comparison
    assert (tmp_path / "gpt2-wikitext-2" / "model.safetensors").is_file()
    assert (tmp_path / "gpt2-lora-wikitext-2" / "adapter_model.safetensors").is_file()
