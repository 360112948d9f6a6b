"""True/False pre-marks from report PDFs in the skeleton's form (made here with typst):
10/10 read back against the Homework 3 key, a planted wrong answer and an unanswered
statement found, justifications read whole; on the manual sheet the suggestion sits
beside the item, which stays pending until staff enter points."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import typst
from autograder.config import Settings
from autograder.manual import SHEET_NAME
from autograder.pipeline import run_batch
from autograder.premarks import AnswerKey, pdf_text, premark, read_answers, suggest
from engine_scenarios.engine_helpers import build_submission
from engine_scenarios.toy_plugin import ToyPlugin
from hw3_plugin.tf_key import TF_ITEM, answer_keys

KEY = answer_keys()[TF_ITEM]


def report_pdf(path: Path, verdicts: dict[str, str], why: dict[str, str]) -> Path:
    """A report in the skeleton's form: per statement an Answer and a Justification line."""
    lines = ["#set page(width: 16cm, height: auto)", "= Report", "== True or False"]
    for label, verdict in verdicts.items():
        shown = '#raw("____")' if verdict == "____" else verdict
        lines += [f"Answer {label}: {shown}", "", f"Justification {label}: {why.get(label, '')}",
                  ""]
    source = path.with_suffix(".typ")
    source.write_text("\n".join(lines), encoding="utf-8")
    typst.compile(str(source), output=str(path))
    return path


def _correct() -> dict[str, str]:
    return {q: "True" if v else "False" for q, v in KEY.answers.items()}


LONG = ("Splitting d into h heads of size d/h gives h n^2 (d/h) = n^2 d, the same order as "
        "one head; the projections add O(n d^2), which this wording leaves out but which "
        "does not change the quadratic term in the sequence length at all.")


def test_correct_report_reads_ten_of_ten(tmp_path: Path) -> None:
    why = {q: f"reason for {q}" for q in KEY.answers} | {"1.2": LONG}
    pdf = report_pdf(tmp_path / "report.pdf", _correct(), why)
    answers = read_answers(pdf_text(pdf))
    assert {q: a.verdict for q, a in answers.items()} == dict(KEY.answers)
    assert answers["1.2"].justification == LONG  # wrapped over lines, read whole
    mark = premark(TF_ITEM, KEY, answers)
    assert (mark.points, mark.max_points) == (30, 30)
    assert mark.detail.count(" right") == 10


def test_planted_wrong_and_unanswered_found(tmp_path: Path) -> None:
    verdicts = _correct() | {"1.4": "True", "1.7": "____"}  # key: 1.4 False
    why = {q: "because" for q in KEY.answers} | {"1.9": ""}
    pdf = report_pdf(tmp_path / "report.pdf", verdicts, why)
    mark = premark(TF_ITEM, KEY, read_answers(pdf_text(pdf)))
    assert "1.4 True wrong (key False)" in mark.detail and "1.7 unanswered" in mark.detail
    assert "1.9 False right" in mark.detail
    # 7 right with a justification (3 each) + 1.9 right without one (1) = 22
    assert mark.points == 7 * 3 + 1
    assert "1.4: because" in mark.evidence


def test_no_form_no_suggestion(tmp_path: Path) -> None:
    from engine_scenarios.engine_helpers import pdf_bytes

    (tmp_path / "plain.pdf").write_bytes(pdf_bytes("My report, written freely"))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    assert suggest({TF_ITEM: KEY}, [tmp_path / "broken.pdf", tmp_path / "plain.pdf"]) == ()


def test_sheet_prefilled_never_final(tmp_path: Path) -> None:
    """Through a batch (toy homework, an answer key for its manual item): the sheet shows
    the suggestion and the justifications; the total stays provisional."""
    key = AnswerKey({"1": True, "2": False}, verdict_points=2.0, justification_points=3.0)
    plugin = ToyPlugin()
    plugin.answer_keys = {"essay": key}
    folder = build_submission("perfect", tmp_path / "class")
    report_pdf(folder / "report.pdf", {"1": "True", "2": "True"},
               {"1": "it holds", "2": "it does not"})
    out = tmp_path / "out"
    result = run_batch(Settings(submissions=(folder,), out=out, progress=False,
                                memory_mb=768), plugin, say=lambda _: None)
    (report,) = result.reports
    assert report.premarks[0].points == 5 and report.manual_pending == ("essay",)
    with (out / SHEET_NAME).open(newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["essay (max 10)"] == ""  # for staff to fill: the suggestion is not a mark
    assert row["essay suggested"] == "5"
    assert row["essay detail"] == "1 True right; 2 True wrong (key False)"
    assert row["essay evidence"] == "1: it holds | 2: it does not"

    from autograder.staff import import_marks

    import_marks(out, out / SHEET_NAME)  # imported untouched: still pending
    with (out / "grades.csv").open(newline="") as f:
        assert next(csv.DictReader(f))["manual_pending"] == "essay"
    row["essay (max 10)"] = row["essay suggested"]  # the TA confirms the suggestion
    with (tmp_path / "filled.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    import_marks(out, tmp_path / "filled.csv")
    with (out / "grades.csv").open(newline="") as f:
        graded = next(csv.DictReader(f))
    assert graded["final"] == "True" and float(graded["total"]) == min(30, 25 + 5)


@pytest.mark.parametrize("text", ["Answer 1.1:True", "answer 1.1 : true"])
def test_lenient_spacing_and_case(text: str) -> None:
    assert read_answers(text)["1.1"].verdict is True


@pytest.fixture(scope="module")
def student_templates() -> None:
    """The student package's data folder (templates included), as the bundle ships it."""
    from hw3_plugin.student_data import build

    build()


@pytest.mark.parametrize("planted", [{}, {"1.4": "True", "1.7": ""}])
def test_the_student_report_skeleton_is_read_back(tmp_path: Path, planted: dict,
                                                  student_templates: None) -> None:
    """The PDF the students' own tool writes (hw3_student.report, Typst), not a stand-in:
    every answer read back, a planted wrong one found, an unanswered one left unanswered."""
    from hw3_student import report

    verdicts = _correct() | planted
    toml = "".join(f'[tf."{q}"]\nanswer = "{v}"\njustification = "{LONG if q == "1.2" else q}"\n'
                   for q, v in verdicts.items())
    answers_file = tmp_path / "answers.toml"
    answers_file.write_text(toml, encoding="utf-8")
    _, pdf = report.write({}, tmp_path / "report", answers_file, "Ada")
    answers = read_answers(pdf_text(pdf))
    read = {q: a.verdict for q, a in answers.items() if a.verdict is not None}
    expected = {q: v == "True" for q, v in verdicts.items() if v}
    assert read == expected
    assert answers["1.2"].justification == LONG  # not the next statement's text
    assert answers["1.10"].justification == "1.10"  # not the rest of the report
    mark = premark(TF_ITEM, KEY, answers)
    right = sum(KEY.answers[q] == v for q, v in expected.items())
    assert mark.detail.count(" right") == right == (10 if not planted else 8)
