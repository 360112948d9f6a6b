"""The submission-form rule: the notebooks inside one zip that holds nothing else, and a
PDF report that is not a notebook export. Breaking it costs a fixed fraction of the
grade (once, however many reasons); every reason is stated.

A PDF counts as a notebook export when its metadata (producer, creator, title, subject)
mentions nbconvert, Jupyter, IPython, Colab or ``.ipynb``, when its title is a notebook's
name, or when its first page shows notebook prompts (``In [1]:``).

A file that does not start like a PDF (``%PDF-``) is not a report. A PDF that pypdf cannot
inspect (real PDFs make it raise IndexError, NotImplementedError for some filters, ...) is
a failure of the heuristic, not of the student: it counts as a report, the submission gets
the note "could not inspect report.pdf", and nothing is deducted for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .models import FormVerdict

EXPORT_WORDS = re.compile(r"nbconvert|jupyter|ipython|colab|\.ipynb", re.IGNORECASE)
PROMPT = re.compile(r"(In|Out)\s*\[\s*\d*\s*\]\s*:")
META_KEYS = ("/Producer", "/Creator", "/Title", "/Subject")
PDF_MAGIC = b"%PDF-"
HEADER_BYTES = 1024  # the PDF header may follow some junk bytes (ISO 32000-1, annex H)


@dataclass(frozen=True)
class FormRule:
    """What the form rule asks for, and what breaking it costs."""

    deduction: float = 0.2
    zip_only_notebooks: bool = True  # the zip holds the notebooks and nothing else
    require_report: bool = True


@dataclass(frozen=True)
class PdfVerdict:
    """What the form check learned from one PDF: why it is not an acceptable report
    (``reason``, which deducts), or why it could not be inspected (``note``, which does not)."""

    reason: str | None = None
    note: str | None = None


def inspect_pdf(path: Path, notebook_names: Sequence[str]) -> PdfVerdict:
    """Whether ``path`` is an acceptable report; never raises for the file's content."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEADER_BYTES)
    except OSError as exc:
        return PdfVerdict(note=f"could not inspect {path.name} ({type(exc).__name__})")
    if PDF_MAGIC not in head:
        return PdfVerdict(reason=f"{path.name} could not be read as a PDF (not a PDF file)")
    try:
        return PdfVerdict(reason=_export_reason(path, notebook_names))
    except Exception as exc:  # noqa: BLE001 - the heuristic could not decide: no deduction
        return PdfVerdict(note=f"could not inspect {path.name} ({type(exc).__name__}); "
                               "it counts as the report and nothing is deducted")


def pdf_export_reason(path: Path, notebook_names: Sequence[str]) -> str | None:
    """Why ``path`` is not an acceptable report (not a PDF, or a notebook export), or None."""
    return inspect_pdf(path, notebook_names).reason


def _export_reason(path: Path, notebook_names: Sequence[str]) -> str | None:
    """The export evidence in a PDF's metadata and first page (pypdf may raise anything)."""
    from pypdf import PdfReader

    reader = PdfReader(path)
    meta = reader.metadata or {}
    first = reader.pages[0].extract_text() if reader.pages else ""
    stems = {Path(n).stem.lower() for n in notebook_names}
    for key in META_KEYS:
        value = str(meta.get(key) or "")
        if EXPORT_WORDS.search(value) or (key == "/Title" and value.strip().lower() in stems):
            return f"{path.name} looks like a notebook export (its {key[1:].lower()} is {value!r})"
    match = PROMPT.search(first or "")
    if match:
        return f"{path.name} looks like a notebook export (its first page shows {match.group()!r})"
    return None


def judge_form(rule: FormRule, notebooks: Mapping[str, str], found: Mapping[str, Path | None],
               containers: Mapping[str, str | None], zip_members: Mapping[str, list[str]],
               reports: Sequence[Path], notes: list[str] | None = None) -> FormVerdict:
    """The verdict for one submission (``notes``: gets what the check could not decide,
    which costs nothing).

    ``found``: lab -> staged notebook path; ``containers``: lab -> name of the zip it came
    from; ``zip_members``: zip name -> files it held; ``reports``: PDF files found.
    """
    reasons: list[str] = []
    expected = list(notebooks.values())
    missing = [notebooks[lab] for lab, path in found.items() if path is None]
    if missing:
        reasons.append(f"missing notebook(s): {', '.join(missing)}")
    zips = {containers[lab] for lab, path in found.items() if path is not None}
    loose = [notebooks[lab] for lab, path in found.items()
             if path is not None and containers[lab] is None]
    if loose:
        reasons.append(f"{', '.join(loose)} not inside a zip file (code.zip)")
    zips.discard(None)
    if len(zips) > 1:
        reasons.append(f"the notebooks are spread over several zip files: {sorted(zips)}")
    if rule.zip_only_notebooks:
        wanted = {n.lower() for n in expected}
        for name in sorted(zips):
            extra = [m for m in zip_members.get(name, []) if Path(m).name.lower() not in wanted]
            if extra:
                shown = ", ".join(extra[:5]) + (" ..." if len(extra) > 5 else "")
                reasons.append(f"{name} holds files besides the notebooks: {shown}")
    if rule.require_report:
        if not reports:
            reasons.append("no PDF report")
        else:
            verdicts = [inspect_pdf(p, expected) for p in reports]
            if notes is not None:
                notes.extend(v.note for v in verdicts if v.note)
            if all(v.reason for v in verdicts):
                reasons.extend(v.reason for v in verdicts if v.reason)
    return FormVerdict(rule.deduction if reasons else 0.0, tuple(reasons))
