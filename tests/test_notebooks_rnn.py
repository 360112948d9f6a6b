"""Tests of the notebook builder on Lab 1: starter freshness, stubs, tags, the bare run."""

import ast

import nbformat
import pytest
from hw3_fixtures.offline import stage_workdir
from hw3_fixtures.sources import DataSource
from hw3_solution import lab_rnn, notebooks
from hw3_solution.layout import Imports, Source
from hw3_solution.layout_rnn import LAYOUT
from hw3_solution.nbrun import cell_by_id, cell_text, run_notebook
from nbclient.exceptions import CellExecutionError

QUESTIONS = ["lab1a", "lab1b", "lab1c", "lab1d", "lab1e_init", "lab1e_forward", "lab1f"]


def test_committed_starter_is_fresh(capsys):
    assert notebooks.stale_starters() == []
    assert notebooks.main(["--check"]) == 0
    assert "rnn" in capsys.readouterr().out


def test_check_reports_a_stale_or_missing_starter(tmp_path, capsys):
    assert notebooks.main(["--check", "--out", str(tmp_path)]) == 1
    assert notebooks.main(["--out", str(tmp_path)]) == 0
    assert notebooks.main(["--check", "--out", str(tmp_path)]) == 0
    path = tmp_path / "LabRNN.ipynb"
    path.write_text(path.read_text().replace("lab1a:", "lab1a :"))
    assert notebooks.main(["--check", "--out", str(tmp_path)]) == 1
    assert "LabRNN.ipynb" in capsys.readouterr().err


def test_starter_has_one_stub_per_question_and_tags(code_cells):
    starter = notebooks.build_starter_notebook("rnn")
    code = "\n".join(cell.source for cell in code_cells(starter))
    for qid in QUESTIONS:
        assert (
            code.count(f"raise NotImplementedError('{qid}: ")
            + code.count(f'raise NotImplementedError("{qid}: ')
            == 1
        ), qid
        tagged = [c.id for c in code_cells(starter) if qid in c.metadata.get("tags", [])]
        assert len(tagged) == 1, qid
    assert "# TODO[" not in code
    for cell in code_cells(starter):
        ast.parse(cell.source)  # every cell parses


def test_starter_hides_the_solution(code_cells):
    starter = "\n".join(c.source for c in code_cells(notebooks.build_starter_notebook("rnn")))
    for secret in ("train_test_split(", "Counter(", "pack_padded_sequence(", "deepcopy("):
        assert secret not in starter
    assert "def train_and_test_model_with_hparams" in starter
    assert "ConstantWithWarmup(optimizer, num_warmup_steps=200)" in starter


def test_solution_notebook_is_the_module_source(code_cells):
    solution = notebooks.build_solution_notebook("rnn")
    code = "\n".join(cell.source for cell in code_cells(solution))
    assert "NotImplementedError" not in code and "# TODO[" not in code
    definitions = {c.id for c in LAYOUT.cells if isinstance(c, (Imports, Source))}
    namespace: dict = {}
    for cell in code_cells(solution):
        if cell.id in definitions:
            exec(compile(cell.source, cell.id, "exec"), namespace)
    for name in ("load_imdb", "build_vocab", "tokenize", "LSTM", "IMDB"):
        assert namespace[name].__doc__ == getattr(lab_rnn, name).__doc__
    assert solution.cells[0].id == "intro" and [c.id for c in solution.cells] == [
        c.id for c in notebooks.build_starter_notebook("rnn").cells
    ]


def test_cell_ids_are_stable_and_unique():
    ids = [cell.id for cell in notebooks.build_starter_notebook("rnn").cells]
    assert ids == [cell.id for cell in LAYOUT.cells]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("    # TODO[q1] begin\n    x = 1\n", "never ends"),
        ("    x = 1\n    # TODO[q1] end\n", "end without its begin"),
        ("# TODO[q1] begin\n# TODO[q2] begin\n", "begins inside"),
    ],
)
def test_unbalanced_fences_are_errors(code, message):
    with pytest.raises(ValueError, match=message):
        notebooks.apply_fences(code, {"q1": "do it", "q2": "do it"})


def test_fence_without_hint_is_an_error():
    with pytest.raises(ValueError, match="no hint for question 'q9'"):
        notebooks.apply_fences("# TODO[q9] begin\nx = 1\n# TODO[q9] end", {})


def test_unknown_lab_is_an_error():
    with pytest.raises(ValueError, match="unknown lab 'cnn'"):
        notebooks.load_layout("cnn")


@pytest.mark.slow
def test_bare_starter_runs_up_to_the_first_todo(tmp_path, kernel_env):
    starter = nbformat.read(notebooks.STARTER_DIR / "LabRNN.ipynb", as_version=4)
    stage_workdir(tmp_path, DataSource.fixtures())
    with pytest.raises(CellExecutionError) as info:
        run_notebook(starter, tmp_path, kernel_env, timeout=120)
    assert info.value.ename == "NotImplementedError"
    assert info.value.evalue.startswith("lab1a: ")
    assert "179 stop words" in cell_text(cell_by_id(starter, "hparams"))
