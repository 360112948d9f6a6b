"""Whether a PDF report is acceptable: readable, and not a notebook export.

A PDF counts as a notebook export when its metadata (producer, creator, title, subject)
mentions nbconvert, Jupyter, IPython, Colab or ``.ipynb``, when its title is a notebook's
name, or when its first page shows notebook prompts (``In [1]:``).

One logic, two packages: the grader's form rule (``autograder.form``) and the students'
``hw3-pack`` (``hw3_student.pdfcheck``) run this same file. Neither package may import the
other, so the student package carries a byte-identical copy (standard library and pypdf
only); ``tests/test_student_pdfcheck.py`` fails when the two copies differ. Edit
``grader/autograder/pdfcheck.py`` and copy it over.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

EXPORT_WORDS = re.compile(r"nbconvert|jupyter|ipython|colab|\.ipynb", re.IGNORECASE)
PROMPT = re.compile(r"(In|Out)\s*\[\s*\d*\s*\]\s*:")
META_KEYS = ("/Producer", "/Creator", "/Title", "/Subject")


def pdf_export_reason(path: Path, notebook_names: Sequence[str]) -> str | None:
    """Why ``path`` is not an acceptable report (unreadable or a notebook export), or None."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        meta = reader.metadata or {}
        first = reader.pages[0].extract_text() if reader.pages else ""
    except (PdfReadError, OSError, ValueError, KeyError, TypeError) as exc:
        return f"{path.name} could not be read as a PDF ({type(exc).__name__})"
    stems = {Path(n).stem.lower() for n in notebook_names}
    for key in META_KEYS:
        value = str(meta.get(key) or "")
        if EXPORT_WORDS.search(value) or (key == "/Title" and value.strip().lower() in stems):
            return f"{path.name} looks like a notebook export (its {key[1:].lower()} is {value!r})"
    match = PROMPT.search(first or "")
    if match:
        return f"{path.name} looks like a notebook export (its first page shows {match.group()!r})"
    return None
