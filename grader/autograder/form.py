"""The submission-form rule: the notebooks, under their own names, inside one zip that
holds nothing else, and a PDF report that is not a notebook export. Breaking it costs a
fixed fraction of the grade (once, however many reasons); every reason is stated. A graded
notebook under another name (``LabRNN (1).ipynb``) is reported as misnamed, not as an extra
file; a file beside it (the untouched ``LabLLM.ipynb`` next to a graded copy) as extra.

A PDF counts as a notebook export when its metadata (producer, creator, title, subject)
mentions nbconvert, Jupyter, IPython, Colab or ``.ipynb``, when its title is a notebook's
name, or when its first page shows notebook prompts (``In [1]:``).
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


@dataclass(frozen=True)
class FormRule:
    """What the form rule asks for, and what breaking it costs."""

    deduction: float = 0.2
    zip_only_notebooks: bool = True  # the zip holds the notebooks and nothing else
    require_report: bool = True


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


def judge_form(rule: FormRule, notebooks: Mapping[str, str], found: Mapping[str, Path | None],
               containers: Mapping[str, str | None], zip_members: Mapping[str, list[str]],
               reports: Sequence[Path]) -> FormVerdict:
    """The verdict for one submission.

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
    misnamed = [(path.name, notebooks[lab]) for lab, path in found.items()
                if path is not None and path.name.lower() != notebooks[lab].lower()]
    for name, wanted_name in misnamed:
        reasons.append(f"the notebook {name} is misnamed: the form asks for {wanted_name}")
    if rule.zip_only_notebooks:
        wanted = {path.name.lower() for path in found.values() if path is not None}
        for name in sorted(zips):
            extra = [m for m in zip_members.get(name, []) if Path(m).name.lower() not in wanted]
            if extra:
                shown = ", ".join(extra[:5]) + (" ..." if len(extra) > 5 else "")
                reasons.append(f"{name} holds files besides the notebooks: {shown}")
    if rule.require_report:
        if not reports:
            reasons.append("no PDF report")
        else:
            problems = [pdf_export_reason(p, expected) for p in reports]
            if all(problems):
                reasons.extend(p for p in problems if p)
    return FormVerdict(rule.deduction if reasons else 0.0, tuple(reasons))
