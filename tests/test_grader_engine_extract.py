"""Extraction: magics and shell dropped, cells in any order, dependency closure, path
redirects, unparsable cells, tolerant reading. Nothing is ever executed."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from autograder.errors import BadNotebook
from autograder.extract import IMPORT_ERRORS, clean_cell, extract, read_notebook
from engine_scenarios.engine_helpers import notebook_from_cells

REDIRECTS = {"IMDBDataset.csv": "./IMDBDataset.csv"}


def _extract(text: str):
    return extract(notebook_from_cells(text), REDIRECTS)


def _run(source: str) -> dict:
    namespace: dict = {}
    exec(compile(source, "<module>", "exec"), namespace)
    return namespace


def test_shell_and_line_magics_are_dropped() -> None:
    text, tree, notes = clean_cell(
        "!pip install x\n%matplotlib inline\nfiles = !ls\nif True:\n    !echo hi\nx = 1\n"
        "s = '''\n!not shell\n'''\n")
    assert tree is not None
    assert "pip" not in text and "matplotlib" not in text and "ls" not in text
    assert "if True:\n    pass" in text
    assert "!not shell" in text  # inside a string: kept
    assert len(notes) == 4


@pytest.mark.parametrize("magic, kept", [("%%time", True), ("%%capture out", True),
                                         ("%%bash", False), ("%%writefile x.py", False)])
def test_cell_magics(magic: str, kept: bool) -> None:
    text, tree, notes = clean_cell(f"{magic}\nx = 1\n")
    assert ("x = 1" in text) is kept
    assert tree is not None and len(notes) == 1


def test_colab_drive_is_removed() -> None:
    text, _, notes = clean_cell("from google.colab import drive, files\n"
                                "drive.mount('/content/drive')\nup = files.upload()\n"
                                "import google.colab\nkeep = 2\n")
    assert text.strip() == "keep = 2"
    assert any("google.colab" in n for n in notes)


def test_path_redirect_in_defaults_and_assignments() -> None:
    ex = _extract("def load_imdb(base_csv='/content/drive/MyDrive/IMDBDataset.csv'):\n"
                  "    return base_csv\n"
                  "# %%\nPATH = '/content/drive/MyDrive/data/IMDBDataset.csv'\n"
                  "def f():\n    return PATH\n")
    ns = _run(ex.module_source(["load_imdb", "f"]))
    assert ns["load_imdb"]() == "./IMDBDataset.csv" == ns["f"]()
    assert any("read '/content/drive/MyDrive/IMDBDataset.csv' as './IMDBDataset.csv'"
               in str(p) for p in ex.problems)


@pytest.mark.parametrize("expression", [
    "'/content/drive/MyDrive/IMDBDataset.csv'",
    "f'{BASE}/IMDBDataset.csv'",
    "pathlib.Path(BASE) / 'IMDBDataset.csv'",
    "os.path.join(BASE, 'data', 'IMDBDataset.csv')",
    "'./IMDBDataset.csv'",
])
def test_path_redirect_forms(expression: str) -> None:
    ex = _extract(f"import os, pathlib\nBASE = '/content/drive'\ndef path():\n"
                  f"    return {expression}\n")
    assert _run(ex.module_source(["path"]))["path"]() == "./IMDBDataset.csv"


def test_reordered_cells_and_dependency_closure() -> None:
    ex = _extract(
        "class Model(Base):\n    SIZE = WIDTH\n"
        "    def run(self):\n        return helper(self.SIZE)\n"
        "# %%\nimport math\nimport os\n"
        "# %%\ndef helper(x):\n    return math.sqrt(x)\n"
        "# %%\nclass Base:\n    pass\n"
        "# %%\nWIDTH = 16\nhparams = Model()\n"
        "# %%\ndef unrelated():\n    return os.getcwd()\n")
    source = ex.module_source(["Model", "hparams"])
    ns = _run(source)
    assert ns["hparams"].run() == 4.0
    assert "unrelated" not in ns and "import os" not in source


def test_notebook_computed_globals_are_kept_and_loose_calls_left_out(tmp_path: Path) -> None:
    """`STOP_WORDS = english_stop_words()` is valid code: the global is computed at load;
    a bare call or a print at top level is not kept."""
    marker = tmp_path / "ran"
    ex = _extract(
        f"def load():\n    open({str(marker)!r}, 'a').write('x')\n    return [1, 2]\n"
        "# %%\ndata = load()\nvocab = sorted(data)\nmodel = Net(len(vocab))\n"
        "# %%\nclass Net:\n    def __init__(self, n):\n        self.n = n\n"
        "# %%\ndef predict(x):\n    return model.n + x\n"
        "# %%\nload()\nprint('noise')\n")
    source = ex.module_source(["predict", "load", "Net"])
    assert not marker.exists()  # nothing runs at extraction
    ns = _run(source)
    assert ns["predict"](1) == 3
    assert marker.read_text() == "x"  # load() ran once, for `data`; the bare call was dropped
    assert ns[IMPORT_ERRORS] == []


def test_computed_globals_share_a_time_budget(monkeypatch) -> None:
    monkeypatch.setattr("autograder.extract.COMPUTED_BUDGET_S", 0.5)
    ex = _extract("import time\ndef slow():\n    while True:\n        time.sleep(0.01)\n"
                  "def fast():\n    return 7\n"
                  "# %%\nA = slow()\nB = fast()\n"
                  "def f():\n    return B\n"
                  "def g():\n    return A\n")
    ns = _run(ex.module_source(["f", "g"]))
    assert ns["f"]() == 7
    assert "A" not in ns
    assert any(e.startswith("A = slow()") and "TimeoutError" in e for e in ns[IMPORT_ERRORS])


@pytest.mark.parametrize("block", [
    "if torch_ok:\n    DEVICE = 'cuda'\nelse:\n    DEVICE = 'cpu'\n",
    "for DEVICE in ['cpu']:\n    pass\n",
    "with open(__file__ if False else 'x', 'a') if False else nullcontext():\n"
    "    DEVICE = 'cpu'\n",
    "try:\n    DEVICE = ['cpu'][0]\nexcept IndexError:\n    DEVICE = None\n",
])
def test_guarded_top_level_blocks_are_kept(block: str) -> None:
    ex = _extract("from contextlib import nullcontext\ntorch_ok = False\n# %%\n" + block
                  + "# %%\ndef where():\n    return DEVICE\n")
    assert _run(ex.module_source(["where"]))["where"]() == "cpu"


def test_a_block_that_updates_a_global_keeps_its_earlier_definition() -> None:
    ex = _extract("total = 10\nfor x in [1, 2]:\n    total += x\n"
                  "# %%\ndef get():\n    return total\n")
    ns = _run(ex.module_source(["get"]))
    assert ns["get"]() == 13 and ns[IMPORT_ERRORS] == []


def test_a_top_level_loop_that_never_ends_is_stopped(monkeypatch) -> None:
    monkeypatch.setattr("autograder.extract.COMPUTED_BUDGET_S", 0.5)
    ex = _extract("steps = 0\nwhile True:\n    steps += 1\n"
                  "# %%\ndef count():\n    return steps\n")
    ns = _run(ex.module_source(["count"]))
    assert ns["count"]() > 0
    assert any(e.startswith("while True:") and "TimeoutError" in e for e in ns[IMPORT_ERRORS])


def test_input_is_answered_with_an_empty_line() -> None:
    text, _, notes = clean_cell("name = input('Press Enter to start... ')\nx = name + 'ok'\n")
    assert "input(" not in text and _run(text)["x"] == "ok"
    assert any("answered `input('Press Enter to start... ')` with an empty line" in n
               for n in notes)


def test_last_definition_wins_and_imports_are_guarded() -> None:
    ex = _extract("import not_a_real_module_xyz\nimport json\n"
                  "def f():\n    return 1\n"
                  "# %%\ndef f():\n    return json.dumps(2) + str(not_a_real_module_xyz)\n")
    ns = _run(ex.module_source(["f"]))
    assert ns[IMPORT_ERRORS] and "not_a_real_module_xyz" in ns[IMPORT_ERRORS][0]
    with pytest.raises(NameError):
        ns["f"]()  # the last f was taken: it needs the missing module
    assert ex.definitions["f"].position == (1, 0)


def test_unparsable_cell_is_reported_and_the_rest_goes_on() -> None:
    ex = _extract("def good():\n    return 1\n# %%\ndef bad(:\n    pass\n")
    assert ex.has("good") and not ex.has("bad")
    assert ex.missing(["good", "bad"]) == ["bad"]
    assert any("cell 2: does not parse" in str(p) for p in ex.problems)


def test_display_is_supplied_when_the_notebook_uses_it() -> None:
    ns = _run(_extract("def show(x):\n    display(x)\n    return x\n").module_source(["show"]))
    assert callable(ns["display"])


def test_sanitized_notebook_keeps_cells_and_clears_outputs() -> None:
    nb = notebook_from_cells("!pip install x\nx = 1\n# %%\n%%bash\nls\n")
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="old")]
    clean = extract(nb).sanitized()
    assert [c.source.strip() for c in clean.cells] == ["x = 1", ""]
    assert clean.cells[0].outputs == [] and nb.cells[0].outputs  # the original is untouched


def test_reading_bad_files(tmp_path: Path) -> None:
    (tmp_path / "a.ipynb").write_text("{ not json")
    (tmp_path / "b.ipynb").write_text(json.dumps({"hello": 1}))
    (tmp_path / "c.ipynb").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(BadNotebook, match="not JSON"):
        read_notebook(tmp_path / "a.ipynb")
    with pytest.raises(BadNotebook, match="without notebook cells"):
        read_notebook(tmp_path / "b.ipynb")
    with pytest.raises(BadNotebook, match="not UTF-8"):
        read_notebook(tmp_path / "c.ipynb")


def test_schema_breaking_notebook_is_still_read(tmp_path: Path) -> None:
    raw = {"cells": [{"cell_type": "code", "source": ["def f():\n", "    return 3\n"]},
                     {"cell_type": "markdown", "source": "text"}], "nbformat": 4}
    (tmp_path / "n.ipynb").write_text(json.dumps(raw))
    ex = read_notebook(tmp_path / "n.ipynb")
    assert _run(ex.module_source(["f"]))["f"]() == 3
