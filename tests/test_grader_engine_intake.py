"""Intake: every input shape, unsafe zips refused, notebooks found anywhere, the form rule."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest
from autograder.archives import ArchiveLimits, Budget, safe_extract
from autograder.errors import BadSubmission, UnsafeArchive
from autograder.form import FormRule, pdf_export_reason
from autograder.intake import discover, find_notebook, student_key, unpack
from engine_scenarios.engine_helpers import pdf_bytes, pdf_pypdf_cannot_inspect, write_zip

NOTEBOOKS = {"lab1": "ToyA.ipynb", "lab2": "ToyB.ipynb"}
NB = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
CODE = {"ToyA.ipynb": NB, "ToyB.ipynb": NB}


def _budget(**kw) -> Budget:
    return Budget(ArchiveLimits(**kw))


def _discover(paths, tmp_path: Path):
    return discover(paths, NOTEBOOKS.values(), tmp_path / "staging", _budget())


def _unpack(candidate, tmp_path: Path):
    return unpack(candidate, tmp_path / "staged", NOTEBOOKS, FormRule(), _budget())


# ------------------------------------------------------------------------- identity


@pytest.mark.parametrize("name, key", [
    ("Name_12345_code.zip", "Name_12345"),
    ("Name_12345_report.pdf", "Name_12345"),
    ("Jane Doe_123456_assignsubmission_file_", "Jane_Doe_123456"),
    ("alice_code.zip", "alice"),
    ("bob.zip", "bob"),
    ("carol", "carol"),
])
def test_student_key(name: str, key: str) -> None:
    assert student_key(name) == key


def test_folder_keeps_its_whole_name() -> None:
    assert student_key("twin_a", folder=True) == "twin_a" and student_key("twin_a.zip") == "twin"


# ---------------------------------------------------------------------- input shapes


def test_single_code_zip_takes_the_folder_name(tmp_path: Path) -> None:
    code = write_zip(tmp_path / "dana" / "code.zip", CODE)
    (cand,), problems = _discover([code], tmp_path)
    assert (cand.student_id, cand.sources, problems) == ("dana", (code,), [])
    sub = _unpack(cand, tmp_path)
    assert all(sub.notebooks.values())
    assert sub.form.reasons == ("no PDF report",)


def test_single_student_folder(tmp_path: Path) -> None:
    folder = tmp_path / "erin"
    write_zip(folder / "code.zip", CODE)
    (folder / "report.pdf").write_bytes(pdf_bytes())
    (cand,), _ = _discover([folder], tmp_path)
    sub = _unpack(cand, tmp_path)
    assert cand.student_id == "erin"
    assert sub.form.ok and sub.form.deduction == 0
    assert [p.name for p in sub.reports] == ["report.pdf"]


def test_class_folder_of_course_site_files(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    for student in ("Ann_111", "Ben_222"):
        write_zip(folder / f"{student}_code.zip", CODE)
        (folder / f"{student}_report.pdf").write_bytes(pdf_bytes())
    cands, _ = _discover([folder], tmp_path)
    assert sorted(c.student_id for c in cands) == ["Ann_111", "Ben_222"]
    assert all(len(c.sources) == 2 for c in cands)
    subs = [_unpack(c, tmp_path) for c in cands]
    assert all(s.form.ok and all(s.notebooks.values()) for s in subs)
    assert subs[0].fingerprint != subs[1].fingerprint or subs[0].student_id != subs[1].student_id


def test_class_zip_with_student_folders_and_nested_code_zip(tmp_path: Path) -> None:
    inner = write_zip(tmp_path / "build" / "code.zip", CODE).read_bytes()
    export = write_zip(tmp_path / "HW3-export.zip", {
        "Jane Doe_123456_assignsubmission_file_/code.zip": inner,
        "Jane Doe_123456_assignsubmission_file_/report.pdf": pdf_bytes(),
        "Li Wei_654321_assignsubmission_file_/LabNotes/code.zip": inner,
        "__MACOSX/._junk": b"x",
    })
    cands, problems = _discover([export], tmp_path)
    assert problems == []
    assert sorted(c.student_id for c in cands) == ["Jane_Doe_123456", "Li_Wei_654321"]
    jane, li = sorted((_unpack(c, tmp_path) for c in cands), key=lambda s: s.student_id)
    assert all(jane.notebooks.values()) and all(li.notebooks.values())
    assert jane.form.ok
    assert li.form.reasons == ("no PDF report",)


def test_class_of_a_zipped_and_a_loose_student(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    write_zip(folder / "ann" / "code.zip", CODE)
    for name, data in CODE.items():
        (folder / "ben" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "ben" / name).write_bytes(data)
    cands, _ = _discover([folder], tmp_path)
    assert sorted(c.student_id for c in cands) == ["ann", "ben"]


def test_a_stray_sheet_is_skipped_but_a_students_extra_upload_is_kept(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    write_zip(folder / "Ann_101_code.zip", CODE)
    (folder / "Ann_101_notes.txt").write_text("my own notes")  # Ann's upload: Ann's
    write_zip(folder / "Ben_102_code.zip", CODE)
    (folder / "grading-sheet.json").write_text("{}")  # no student's: skipped, named
    cands, problems = _discover([folder], tmp_path)
    assert sorted(c.student_id for c in cands) == ["Ann_101", "Ben_102"]
    ann = next(c for c in cands if c.student_id == "Ann_101")
    assert sorted(p.name for p in ann.sources) == ["Ann_101_code.zip", "Ann_101_notes.txt"]
    assert all(_unpack(ann, tmp_path).notebooks.values())
    assert problems == ["skipped grading-sheet.json in class: a loose .json file is no "
                        "submission (a student's folder, zip, notebook or PDF)"]


def test_zip_of_one_student_is_not_a_class(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "frank.zip", {
        "lab1/ToyA.ipynb": NB, "lab2/ToyB.ipynb": NB, "report.pdf": pdf_bytes()})
    (cand,), _ = _discover([archive], tmp_path)
    assert cand.student_id == "frank"
    assert all(_unpack(cand, tmp_path).notebooks.values())


def test_missing_input_is_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    cands, problems = _discover([tmp_path / "nope", tmp_path / "notes.txt"], tmp_path)
    assert cands == []
    assert "no such file" in problems[0] and "neither a folder nor a zip" in problems[1]


def test_repeated_ids_are_made_unique(tmp_path: Path) -> None:
    a = write_zip(tmp_path / "x" / "gus" / "code.zip", CODE)
    b = write_zip(tmp_path / "y" / "gus" / "code.zip", CODE)
    cands, _ = _discover([a, b], tmp_path)
    assert [c.student_id for c in cands] == ["gus", "gus-2"]


# ------------------------------------------------------------------- finding notebooks


def test_notebooks_found_nested_in_odd_case_ignoring_junk(tmp_path: Path) -> None:
    root = tmp_path / "s"
    for rel in ("__MACOSX/deep/ToyA.ipynb", "work/.ipynb_checkpoints/ToyA.ipynb",
                "Work/Final/toya.IPYNB"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(NB)
    found, notes = find_notebook(root, "ToyA.ipynb")
    assert found == root / "Work/Final/toya.IPYNB"
    assert notes == []


def test_close_name_is_taken_with_a_note(tmp_path: Path) -> None:
    (tmp_path / "ToyA (1).ipynb").write_bytes(NB)
    found, notes = find_notebook(tmp_path, "ToyA.ipynb")
    assert found.name == "ToyA (1).ipynb" and "took ToyA (1).ipynb as ToyA.ipynb" in notes[0]


STUB_NB = (b'{"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], '
           b'"execution_count": null, "source": ["def f():\\n", '
           b'"    raise NotImplementedError\\n"]}], "metadata": {}, "nbformat": 4, '
           b'"nbformat_minor": 5}')


def test_worked_copy_beside_an_untouched_starter_is_graded_with_a_note(tmp_path: Path) -> None:
    code = write_zip(tmp_path / "ivy" / "code.zip", {
        "ToyA.ipynb": NB, "ToyB.ipynb": STUB_NB, "Copy of ToyB.ipynb": NB})
    (cand,), _ = _discover([code], tmp_path)
    sub = _unpack(cand, tmp_path)
    assert sub.notebooks["lab2"].name == "Copy of ToyB.ipynb"
    assert any("took" in n and "Copy of ToyB.ipynb as ToyB.ipynb" in n for n in sub.problems)
    assert any("graded " in n and "ToyB.ipynb: that one still holds 1 of the starter's" in n
               for n in sub.problems)
    assert sub.form.reasons == (
        "the notebook Copy of ToyB.ipynb is misnamed: the form asks for ToyB.ipynb",
        "code.zip holds files besides the notebooks: ToyB.ipynb", "no PDF report")


def test_renamed_download_is_graded_and_called_misnamed(tmp_path: Path) -> None:
    code = write_zip(tmp_path / "jo" / "code.zip", {"ToyA (1).ipynb": NB, "ToyB.ipynb": NB})
    (cand,), _ = _discover([code], tmp_path)
    sub = _unpack(cand, tmp_path)
    assert sub.notebooks["lab1"].name == "ToyA (1).ipynb"
    assert any("ToyA (1).ipynb as ToyA.ipynb" in n for n in sub.problems)
    assert [r for r in sub.form.reasons if "PDF" not in r] == [
        "the notebook ToyA (1).ipynb is misnamed: the form asks for ToyA.ipynb"]


@pytest.mark.parametrize("stray", ["grades.csv", "sheet.json", "notes.txt", "README.md"])
def test_stray_file_in_a_class_folder_is_skipped_with_a_note(tmp_path: Path, stray) -> None:
    folder = tmp_path / "class"
    write_zip(folder / "ann" / "code.zip", CODE)
    write_zip(folder / "ben" / "code.zip", CODE)
    (folder / stray).write_text("student,points\nann,3\n")
    cands, problems = _discover([folder], tmp_path)
    assert sorted(c.student_id for c in cands) == ["ann", "ben"]
    assert len(problems) == 1 and problems[0].startswith(f"skipped {stray} in class")


def test_missing_notebook_is_recorded_not_raised(tmp_path: Path) -> None:
    code = write_zip(tmp_path / "hal" / "code.zip", {"ToyA.ipynb": NB})
    (cand,), _ = _discover([code], tmp_path)
    sub = _unpack(cand, tmp_path)
    assert sub.notebooks["lab2"] is None and sub.notebooks["lab1"] is not None
    assert "missing notebook(s): ToyB.ipynb" in sub.form.reasons


# ------------------------------------------------------------------------ unsafe zips


def _zip_with(path: Path, info: zipfile.ZipInfo, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(info, data)
    return path


@pytest.mark.parametrize("member, why", [
    ("../evil.txt", "path traversal"),
    ("a/../../evil.txt", "path traversal"),
    ("/etc/evil.txt", "absolute path"),
    ("C:/evil.txt", "absolute path"),
])
def test_unsafe_paths_are_refused(tmp_path: Path, member: str, why: str) -> None:
    archive = _zip_with(tmp_path / "bad.zip", zipfile.ZipInfo(member), b"x")
    target = tmp_path / "out" / "inner"
    with pytest.raises(UnsafeArchive, match=why):
        safe_extract(archive, target, _budget())
    assert not target.exists() and not (tmp_path / "evil.txt").exists()


def test_symlink_is_refused(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = _zip_with(tmp_path / "bad.zip", info, b"/etc/passwd")
    with pytest.raises(UnsafeArchive, match="symbolic link"):
        safe_extract(archive, tmp_path / "out", _budget())


def test_zip_bomb_ratio_is_refused(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "bomb.zip", {"zeros.bin": bytes(20 << 20)})
    with pytest.raises(UnsafeArchive, match=r"ratio 1\d\d\d:1 exceeds 200:1 \(zip bomb"):
        safe_extract(archive, tmp_path / "out", _budget())


def test_total_size_cap_is_shared_by_nested_archives(tmp_path: Path) -> None:
    budget = _budget(max_bytes=1 << 20, max_ratio=1e9)
    first = write_zip(tmp_path / "a.zip", {"f": bytes(600 << 10)})
    second = write_zip(tmp_path / "b.zip", {"g": bytes(600 << 10)})
    safe_extract(first, tmp_path / "a", budget)
    with pytest.raises(UnsafeArchive, match=r"b.zip: declares 0.6 MiB unpacked, more than the "
                                            r"0.4 MiB left of the cap of 1.0 MiB"):
        safe_extract(second, tmp_path / "b", budget)
    assert not (tmp_path / "b").exists()


def test_file_count_cap(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "many.zip", {f"f{i}.txt": b"x" for i in range(20)})
    with pytest.raises(UnsafeArchive, match="20 files exceed the cap of 10"):
        safe_extract(archive, tmp_path / "out", _budget(max_files=10))


def test_not_a_zip_is_a_bad_submission(tmp_path: Path) -> None:
    fake = tmp_path / "code.zip"
    fake.write_bytes(b"PK not really")
    with pytest.raises(BadSubmission, match="not a readable zip"):
        safe_extract(fake, tmp_path / "out", _budget())


def test_unsafe_nested_zip_refuses_the_submission(tmp_path: Path) -> None:
    folder = tmp_path / "ivy"
    folder.mkdir()
    _zip_with(folder / "code.zip", zipfile.ZipInfo("../x.ipynb"), NB)
    (cand,), _ = _discover([folder], tmp_path)
    with pytest.raises(UnsafeArchive, match="path traversal"):
        _unpack(cand, tmp_path)


# ---------------------------------------------------------------------------- the form


@pytest.mark.parametrize("first_line, meta, verdict", [
    ("My report on LSTMs", {"Producer": "pdfTeX-1.40", "Creator": "LaTeX"}, None),
    ("My report", {"Creator": "nbconvert 7.16"}, "creator is 'nbconvert 7.16'"),
    ("My report", {"Title": "LabRNN.ipynb - Colab"}, "title is 'LabRNN.ipynb - Colab'"),
    ("My report", {"Title": "ToyA"}, "title is 'ToyA'"),
    ("My report", {"Title": "LabLLM - Jupyter Notebook"}, "title is 'LabLLM - Jupyter Notebook'"),
    ("My report", {"Subject": "toy_a.ipynb"}, "subject is 'toy_a.ipynb'"),
    # the author's own words in a title are no evidence
    ("My report", {"Title": "HW3 report (handout-split-colab-pandas)"}, None),
    ("My report", {"Title": "Fine-tuning GPT-2 on Colab: my report"}, None),
    ("In [1]: import torch", {}, "first page shows 'In [1]:'"),
])
def test_pdf_export_detection(tmp_path: Path, first_line: str, meta: dict,
                              verdict: str | None) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(pdf_bytes(first_line, **meta))
    reason = pdf_export_reason(pdf, list(NOTEBOOKS.values()))
    if verdict is None:
        assert reason is None
    else:
        assert "looks like a notebook export" in reason and verdict in reason


def test_not_a_pdf_is_not_a_report(tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_text("a Word file renamed")
    assert "could not be read as a PDF" in pdf_export_reason(pdf, [])


def _form_of(tmp_path: Path, files: dict[str, bytes]):
    folder = tmp_path / "kim"
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    (cand,), _ = _discover([folder], tmp_path)
    return _unpack(cand, tmp_path).form


def test_form_rule_reasons(tmp_path: Path) -> None:
    extra = write_zip(tmp_path / "z" / "code.zip", {**CODE, "data/IMDBDataset.csv": b"x"})
    form = _form_of(tmp_path, {"code.zip": extra.read_bytes(),
                               "report.pdf": pdf_bytes("In [3]: x = 1")})
    assert form.deduction == 0.2
    assert any("holds files besides the notebooks: data/IMDBDataset.csv" in r
               for r in form.reasons)
    assert any("looks like a notebook export" in r for r in form.reasons)


def test_loose_notebooks_break_the_form(tmp_path: Path) -> None:
    form = _form_of(tmp_path, {**CODE, "report.pdf": pdf_bytes()})
    assert form.reasons == ("ToyA.ipynb, ToyB.ipynb not inside a zip file (code.zip)",)
    assert form.deduction == 0.2


def test_a_pdf_pypdf_cannot_inspect_is_noted_not_deducted(tmp_path: Path) -> None:
    """pypdf raising on a real PDF (here NotImplementedError: an unknown filter) is the
    heuristic failing: the report counts, the form is intact, the submission is noted."""
    folder = tmp_path / "kim"
    write_zip(folder / "code.zip", CODE)
    (folder / "report.pdf").write_bytes(pdf_pypdf_cannot_inspect())
    (cand,), _ = _discover([folder], tmp_path)
    submission = _unpack(cand, tmp_path)
    assert submission.form.deduction == 0 and submission.form.reasons == ()
    assert any(p.startswith("could not inspect report.pdf (NotImplementedError)")
               for p in submission.problems), submission.problems
    assert all(path is not None for path in submission.notebooks.values())
