"""The submission-form rule: the notebooks, under their own names, inside one zip that
holds nothing else, and a PDF report that is not a notebook export. Breaking it costs a
fixed fraction of the grade (once, however many reasons); every reason is stated. A graded
notebook under another name (``Lab1 (1).ipynb``) is reported as misnamed, not as an extra
file; a file beside it (the untouched ``Lab2.ipynb`` next to a graded copy) as extra.

Whether a PDF is a notebook export is decided by ``pdfcheck`` (shared with the student
package's pack command, see there); a PDF it cannot inspect gets a note and costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .models import FormVerdict
from .pdfcheck import inspect_pdf, pdf_export_reason  # noqa: F401 - re-exported


@dataclass(frozen=True)
class FormRule:
    """What the form rule asks for, and what breaking it costs."""

    deduction: float = 0.2
    zip_only_notebooks: bool = True  # the zip holds the notebooks and nothing else
    require_report: bool = True


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
            verdicts = [inspect_pdf(p, expected) for p in reports]
            if notes is not None:
                notes.extend(v.note for v in verdicts if v.note)
            if all(v.reason for v in verdicts):
                reasons.extend(v.reason for v in verdicts if v.reason)
    return FormVerdict(rule.deduction if reasons else 0.0, tuple(reasons))
