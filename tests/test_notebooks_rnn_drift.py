"""THE DRIFT TEST: the filled solution notebook, run on the fixtures, prints the same
per-epoch results as the package's train_and_test_model_with_hparams on the same data."""

import os
import re
import subprocess
import sys

import pandas as pd
import pytest
from hw3_fixtures.offline import stage_workdir
from hw3_fixtures.sources import DataSource
from hw3_solution import notebooks
from hw3_solution.nbrun import cell_by_id, cell_text, run_notebook

PACKAGE_RUN = (
    "import sys; from hw3_solution import lab_rnn as L; "
    "L.train_and_test_model_with_hparams(L.HyperParams(), csv_path=sys.argv[1])"
)
RESULT_LINE = re.compile(r"^(epoch \d+: .*|best epoch .*|Length of vocabulary .*|The model .*)$")


@pytest.mark.slow
def test_solution_notebook_matches_the_package(tmp_path, kernel_env):
    """THE DRIFT TEST: the notebook's printed training results equal the package's.

    The package runs in a separate process (same environment) while the notebook runs.
    """
    source = DataSource.fixtures()
    reference = subprocess.Popen(
        [sys.executable, "-c", PACKAGE_RUN, str(source.imdb_csv)],
        env={**os.environ, **kernel_env},
        stdout=subprocess.PIPE,
        text=True,
    )
    stage_workdir(tmp_path, source)
    notebook = notebooks.build_solution_notebook("rnn")
    run_notebook(notebook, tmp_path, kernel_env, timeout=600)
    printed = cell_text(cell_by_id(notebook, "lab1f-run")).splitlines()
    in_notebook = [line for line in printed if RESULT_LINE.match(line)]

    out, _ = reference.communicate(timeout=600)
    assert reference.returncode == 0
    in_package = [line for line in out.splitlines() if RESULT_LINE.match(line)]
    assert len(in_package) == 3 + 5  # vocabulary, parameters, best epoch, 5 epochs
    assert in_notebook == in_package
    rows = len(pd.read_csv(source.imdb_csv))
    assert f"shape of train data is ({rows * 7 // 10},)" in cell_text(
        cell_by_id(notebook, "lab1a-run")
    )
