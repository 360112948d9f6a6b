"""Whether a PDF report is acceptable: a PDF, and not a notebook export.

A PDF counts as a notebook export when the software that made it (producer, creator)
is nbconvert, Jupyter, IPython or Colab, when its title or subject names a notebook file
(``.ipynb``, nbconvert, a notebook's name, or a browser's print of a notebook page such as
``... - Colab``), or when its first page shows notebook prompts (``In [1]:``). A title is
the author's words: "Colab" or "Jupyter" inside it (``My report, trained on Colab``) is no
evidence and costs nothing.

A file that does not start like a PDF (``%PDF-``) is not a report. A PDF that pypdf cannot
inspect (real PDFs make it raise IndexError, NotImplementedError for some filters, ...) is
a failure of the heuristic, not of the student: it counts as a report, the submission gets
the note "could not inspect report.pdf", and nothing is deducted for it.

One logic, two packages: the grader's form rule (``autograder.form``) and the student
package's pack command (its own ``pdfcheck``) run this same file. Neither package may
import the other, so the student package carries a byte-identical copy (standard library
and pypdf only); ``tests/test_student_tools.py`` fails when the two copies differ. Edit
``grader/autograder/pdfcheck.py`` and copy it over.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

EXPORT_WORDS = re.compile(r"nbconvert|jupyter|ipython|colab|\.ipynb", re.IGNORECASE)
# In a title or subject: a notebook file, or the page title a browser prints for one.
NOTEBOOK_TITLE = re.compile(
    r"\.ipynb|nbconvert|\s[-|]\s*(colab(oratory)?|jupyter( notebook| lab)?)\s*$", re.IGNORECASE)
SOFTWARE_KEYS = ("/Producer", "/Creator")
PROMPT = re.compile(r"(In|Out)\s*\[\s*\d*\s*\]\s*:")
META_KEYS = ("/Producer", "/Creator", "/Title", "/Subject")
PDF_MAGIC = b"%PDF-"
HEADER_BYTES = 1024  # the PDF header may follow some junk bytes (ISO 32000-1, annex H)


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
        evidence = (EXPORT_WORDS if key in SOFTWARE_KEYS else NOTEBOOK_TITLE).search(value)
        if evidence or (key == "/Title" and value.strip().lower() in stems):
            return f"{path.name} looks like a notebook export (its {key[1:].lower()} is {value!r})"
    match = PROMPT.search(first or "")
    if match:
        return f"{path.name} looks like a notebook export (its first page shows {match.group()!r})"
    return None
