"""Tests of the LabLLM notebook: stubs and tags of the starter, the solution notebook as the
module's source, the bare starter's run, and (on the fixtures) the drift test."""

import ast
import inspect

import nbformat
import pytest
from hw3_solution import lab_llm, notebooks
from hw3_solution.layout import Imports, Source
from hw3_solution.layout_llm import LAYOUT
from hw3_solution.nbrun import cell_by_id, cell_text, run_notebook
from nbclient.exceptions import CellExecutionError

# Question id -> number of fenced regions (one per function the student completes).
REGIONS = {"lab2a": 2, "lab2b": 2, "lab2c": 1, "lab2d": 2, "lab2e": 2}


def test_starter_has_the_stubs_and_one_tagged_cell_per_question(code_cells):
    starter = notebooks.build_starter_notebook("llm")
    code = "\n".join(cell.source for cell in code_cells(starter))
    for qid, regions in REGIONS.items():
        assert code.count(f"raise NotImplementedError('{qid}: ") == regions, qid
        tagged = [c.id for c in code_cells(starter) if qid in c.metadata.get("tags", [])]
        assert tagged == [qid]
    assert "# TODO[" not in code
    for cell in code_cells(starter):
        ast.parse(cell.source)


def test_starter_hides_the_solution(code_cells):
    starter = "\n".join(c.source for c in code_cells(notebooks.build_starter_notebook("llm")))
    for secret in (
        'padding="max_length"',
        "CrossEntropyLoss(",
        "get_peft_model(model",
        'eval_strategy="epoch"',
        "model.generate(",
        "DataCollatorForLanguageModeling(tokenizer",
    ):
        assert secret not in starter, secret
    for given in ("def tokenize_function(examples: dict)", '"warmup_steps": 500',
                  'PROMPT = "GPT-2 is a language model based on transformer developed by OpenAI"'):
        assert given in starter, given


def test_solution_notebook_is_the_module_source(code_cells):
    solution = notebooks.build_solution_notebook("llm")
    assert [c.id for c in solution.cells] == [c.id for c in LAYOUT.cells]
    code = "\n".join(cell.source for cell in code_cells(solution))
    assert "NotImplementedError" not in code and "# TODO[" not in code
    definitions = {c.id for c in LAYOUT.cells if isinstance(c, (Imports, Source))}
    namespace: dict = {}
    for cell in code_cells(solution):
        if cell.id in definitions | {"constants"}:
            exec(compile(cell.source, cell.id, "exec"), namespace)
    for name in ("generate_text", "tokenize_function", "prepare_data", "evaluate_perplexity",
                 "make_trainer", "full_fine_tune", "lora_model", "lora_fine_tune"):
        source = inspect.getsource(getattr(lab_llm, name))
        unfenced = "\n".join(line for line in source.splitlines() if "# TODO[" not in line)
        assert unfenced in code, name
        assert callable(namespace[name])
    for name in ("MODEL_NAME", "PROMPT", "SEED", "TRAINING_ARGS", "LORA_OUTPUT_DIR"):
        assert namespace[name] == getattr(lab_llm, name), name
    assert "tokenizer" not in namespace  # the notebook's global comes from (a), not the module


@pytest.mark.slow
def test_bare_starter_runs_up_to_the_first_todo(tmp_path):
    starter = nbformat.read(notebooks.STARTER_DIR / "LabLLM.ipynb", as_version=4)
    with pytest.raises(CellExecutionError) as info:
        run_notebook(starter, tmp_path, {"HF_HUB_OFFLINE": "1"}, timeout=120)
    assert info.value.ename == "NotImplementedError"
    assert info.value.evalue.startswith("lab2a: ")
    assert cell_text(cell_by_id(starter, "setup")) == ""
