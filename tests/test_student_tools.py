"""The student package's tools: public checks shared with the grader, report (Markdown and
PDF), the PDF form test shared with the grader, pack."""

from __future__ import annotations

import zipfile
from pathlib import Path

import nbformat
import pytest
from autograder import pdfcheck as grader_pdfcheck
from autograder.form import pdf_export_reason
from autograder.rubric import Rubric
from hw3_plugin import checks_lab1, checks_lab2
from hw3_plugin.plugin import RUBRIC_FILE
from hw3_plugin.student_data import build as build_student_data
from hw3_student import checks, pack, pdfcheck, report, selfcheck

ROOT = Path(__file__).resolve().parents[1]
SUBMISSIONS = ROOT / "fixtures" / "submissions"
NOTEBOOKS = ("LabRNN.ipynb", "LabLLM.ipynb")
EXPORT_PDF = SUBMISSIONS / "form-notebook-pdf" / "report.pdf"


@pytest.fixture(scope="module", autouse=True)
def student_data():
    """The generated self-check data (what the wheel carries), fresh from today's kit."""
    build_student_data()


def _unzip(sample: str, folder: Path) -> dict[str, Path]:
    with zipfile.ZipFile(SUBMISSIONS / sample / "code.zip") as zf:
        zf.extractall(folder)
    return {name: next(folder.rglob(name)) for name in NOTEBOOKS}


# What the reference notebooks print when run (the solution's own print formats).
RNN_OUTPUTS = {
    "lab1a-run": "shape of train data is (35000,)\nshape of valid data is (5000,)\n"
                 "shape of test data is (10000,)\n",
    "lab1b-run": "Length of vocabulary is 38034\n",
    "lab1e-run": "The model has 79,436 trainable parameters\ntorch.Size([2, 2])\n",
    "lab1f-run": "".join(
        f"epoch {e}: train_loss={tl} train_acc={ta} valid_loss={vl} valid_acc={va}\n"
        for e, tl, ta, vl, va in ((1, 0.682, 0.55, 0.646, 0.66), (2, 0.390, 0.83, 0.310, 0.878),
                                  (3, 0.185, 0.93, 0.326, 0.851), (4, 0.114, 0.96, 0.361, 0.851),
                                  (5, 0.067, 0.98, 0.427, 0.871)))
    + "best epoch 2: test_loss=0.3100 test_acc=0.8760\nfirst test review: A fine film.\n"
      "predicted class 1 with probability 0.9412\n",
}
PROMPT_TEXT = "GPT-2 is a language model based on transformer developed by OpenAI"
LLM_OUTPUTS = {
    "lab2a-run": f"{PROMPT_TEXT}, and it writes text.\n",
    "lab2c-run": "Perplexity before fine-tuning: 42.9959\n",
    "lab2d-run": "{'loss': 3.67, 'epoch': 1.0}\n{'eval_loss': 3.34, 'epoch': 1.0}\n"
                 "{'loss': 3.15, 'epoch': 2.0}\n{'eval_loss': 3.35, 'epoch': 2.0}\n"
                 "{'train_runtime': 780.5, 'epoch': 2.0}\n"
                 f"{PROMPT_TEXT} after full fine-tuning.\n"
                 "Perplexity after full fine-tuning: 27.1234\n",
    "lab2e-run": "trainable params: 2,359,296 || all params: 126,799,104 || trainable%: 1.86\n"
                 "{'loss': 4.17, 'epoch': 1.0}\n{'eval_loss': 3.74, 'epoch': 1.0}\n"
                 "{'train_runtime': 540.0, 'epoch': 1.0}\n"
                 f"{PROMPT_TEXT} after LoRA.\nPerplexity after LoRA fine-tuning: 30.2900\n",
}


def _executed(path: Path, outputs: dict[str, str]) -> Path:
    """The notebook at `path` as if run: every code cell counted, the given cells printing."""
    nb = nbformat.read(path, as_version=4)
    for count, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), start=1):
        cell.execution_count = count
        if cell.get("id") in outputs:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                   text=outputs[cell["id"]])]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def executed(tmp_path) -> dict[str, Path]:
    paths = _unzip("reference", tmp_path / "ref")
    _executed(paths["LabRNN.ipynb"], RNN_OUTPUTS)
    _executed(paths["LabLLM.ipynb"], LLM_OUTPUTS)
    return paths


# Public checks: one source, declared in the rubric -----------------------------------


def test_rubric_public_lists_equal_the_student_package_checks():
    declared = {c for item in Rubric.load(RUBRIC_FILE).items for c in item.public}
    assert declared == set(checks.PUBLIC), (
        "rubric.toml's public lists and hw3_student.checks.PUBLIC differ: move the logic of "
        f"{sorted(declared ^ set(checks.PUBLIC))} into or out of hw3_student/checks.py")


def test_selfcheck_counts_hidden_checks_from_the_rubric():
    items = {it.item_id: it for it in Rubric.load(RUBRIC_FILE).items if not it.manual}
    spec = selfcheck.spec()["items"]
    assert list(spec) == list(items)  # the rubric's order
    for item_id, item in items.items():
        assert spec[item_id]["hidden"] == len(item.checks) - len(item.public)


def test_selfcheck_messages_are_the_graders():
    """A wrong vocabulary: the self-check and the plug-in say the same for public ids."""
    vocab = {"movie": 0, "plot": 1, "the": 2}  # no PAD/UNK, a stop word kept
    data = {"vocabs": [vocab, vocab]}
    cases = [{"kept": [], "at_threshold": [], "dropped_rare": [], "dropped_stop": ["the"]}] * 2
    grader = checks_lab1.judge_vocab(data, cases, "<pad>", "<unk>")
    mine = selfcheck.PLANS["lab1b"].judge(data, {"stop_words": [["the"], ["the"]],
                                                 "pad": "<pad>", "unk": "<unk>"})
    for check_id, result in mine.items():
        assert not result.passed
        assert (result.passed, result.message) == (grader[check_id].passed,
                                                   grader[check_id].message)
    seen = checks_lab2.judge_perplexity({"eval": 50.0, "train": 50.0}, 42.0)["lab2c.value"]
    assert checks.perplexity_value({"eval": 50.0}, 42.0) == (seen.passed, seen.message)


def test_selfcheck_in_a_namespace_passes_reference_and_fails_starter(tmp_path):
    from hw3_student import notebook

    ref = _unzip("reference", tmp_path / "ref")
    ns = notebook.namespace(ref["LabRNN.ipynb"])
    reports = selfcheck.run("lab1", ns)
    assert all(r.passed for r in reports if r.results), [r.text() for r in reports]
    public = {c for it in Rubric.load(RUBRIC_FILE).items if it.lab == "lab1" for c in it.public}
    assert {c for r in reports for c in r.results} == public
    starter = _unzip("starter", tmp_path / "starter")
    ns = notebook.namespace(starter["LabRNN.ipynb"])
    reports = selfcheck.run("lab1b", ns)
    assert [r.results["lab1b.special"].message for r in reports] == [
        "build_vocab(...) raised NotImplementedError: lab1b: count the words of x_train "
        "without stop words and keep those seen at least min_freq times in corpus"]
    assert "+ 2 hidden checks" in reports[0].text()


def test_check_leaves_the_students_globals_as_they_were(tmp_path):
    from hw3_student import notebook

    ns = notebook.namespace(_unzip("reference", tmp_path)["LabLLM.ipynb"])
    ns["tokenizer"] = "the student's own"
    ns.pop("model", None)
    assert selfcheck.check("lab2b", namespace=ns)
    assert ns["tokenizer"] == "the student's own" and "model" not in ns


# Report ------------------------------------------------------------------------------


def test_report_pdf_holds_every_section_and_the_tf_lines(executed, tmp_path):
    from pypdf import PdfReader

    answers = tmp_path / "answers.toml"
    answers.write_text('[tf."1.3"]\nanswer = "False"\njustification = "BERT uses '
                       'WordPiece."\n[tf."1.10"]\nanswer = "true"\njustification = ""\n')
    md, pdf = report.write(executed, tmp_path / "report", answers, "Ada")
    text = "\n".join(page.extract_text() for page in PdfReader(pdf).pages)
    lines = text.splitlines()
    assert "Answer 1.3: False" in lines and "Justification 1.3: BERT uses WordPiece." in lines
    assert "Answer 1.10: True" in lines
    assert "Answer 1.1: ____" in lines
    for number, _ in report.STATEMENTS:
        assert sum(line.startswith(f"Answer {number}: ") for line in lines) == 1
    for _, title, questions in report.LABS:
        assert title in text
        for q in questions:
            assert q.title in text
    for value in ("35000", "38034", "79436", "0.8760", "0.9412", "42.9959", "27.1234",
                  "30.2900", "2359296", "780.5", "3.6700", "3.3400", "after LoRA."):
        assert value in text, value
    markdown = md.read_text()
    assert "| 2 | 0.3900 | 0.8300 | 0.3100 | 0.8780 |" in markdown
    assert "- best epoch (printed): 2" in markdown
    assert "Your answer (observations" in markdown


def test_report_marks_what_the_outputs_lack(tmp_path):
    paths = _unzip("reference", tmp_path)  # never run: no outputs
    data = report.build(paths, {}, "", tmp_path)
    lab1f = data["labs"][0]["questions"][5]
    assert lab1f["plot"] is None and {r["value"] for r in lab1f["results"]} == {None}
    assert report.markdown(data).count("not found in the notebook's outputs") >= 8


def test_report_shows_the_students_lines_not_the_given_code(executed):
    data = report.build(executed, {}, "", None)
    lab1b = data["labs"][0]["questions"][1]
    code = "\n".join(b["code"] for b in lab1b["blocks"])
    assert "Counter(" in code  # the reference's own lines
    assert "vocab[hparams.PAD_TOKEN]" not in code and "enumerate" not in code  # given tail


def test_answers_file_errors_name_the_problem(tmp_path):
    bad = tmp_path / "a.toml"
    bad.write_text('[tf."1.3"]\nanswer = "yes"\n')
    with pytest.raises(report.AnswersError, match='must be "True" or "False"'):
        report.read_answers(bad)
    bad.write_text('[tf."2.1"]\nanswer = "True"\n')
    with pytest.raises(report.AnswersError, match="no statement"):
        report.read_answers(bad)


# The PDF form test: one logic for the grader and the students -------------------------


def test_pdfcheck_copies_are_identical():
    assert Path(pdfcheck.__file__).read_bytes() == Path(grader_pdfcheck.__file__).read_bytes(), (
        "hw3_student/pdfcheck.py differs from autograder/pdfcheck.py: copy the grader's over")


def test_grader_form_accepts_the_report_and_refuses_a_notebook_export(executed, tmp_path):
    _, pdf = report.write(executed, tmp_path / "report")
    assert pdf_export_reason(pdf, NOTEBOOKS) is None
    assert "notebook export" in pdf_export_reason(EXPORT_PDF, NOTEBOOKS)


# Pack ------------------------------------------------------------------------------


def test_pack_writes_exactly_the_two_notebooks(executed, tmp_path):
    _, pdf = report.write(executed, tmp_path / "report")
    out = tmp_path / "code.zip"
    result = pack.pack(list(executed.values()), out, pdf)
    assert result.ok, result.problems
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("case, reason", [
    ("missing", "LabLLM.ipynb is missing"),
    ("renamed", "LabRNN (1).ipynb is renamed: name it LabRNN.ipynb"),
    ("starter", "LabRNN.ipynb is still the untouched starter"),
    ("not executed", "LabLLM.ipynb is not executed"),
    ("export", "looks like a notebook export"),
])
def test_pack_refuses_with_the_reason(case, reason, executed, tmp_path):
    paths = dict(executed)
    report_pdf = None
    if case == "missing":
        del paths["LabLLM.ipynb"]
    elif case == "renamed":
        renamed = paths["LabRNN.ipynb"].with_name("LabRNN (1).ipynb")
        paths["LabRNN.ipynb"].rename(renamed)
        paths["LabRNN.ipynb"] = renamed
    elif case == "starter":
        paths["LabRNN.ipynb"] = _executed(
            _unzip("starter", tmp_path / "starter")["LabRNN.ipynb"], {})
    elif case == "not executed":
        paths["LabLLM.ipynb"] = _unzip("reference", tmp_path / "raw")["LabLLM.ipynb"]
    elif case == "export":
        report_pdf = EXPORT_PDF
    out = tmp_path / "code.zip"
    result = pack.pack(list(paths.values()), out, report_pdf)
    assert not result.ok and any(reason in p for p in result.problems), result.problems
    assert not out.exists()
