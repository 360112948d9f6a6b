"""Similarity between students' own code, per question, with copydetect (staff only).

    autograde similarity [SUBMISSIONS...] [--out DIR] [--threshold 0.6]

A plug-in that offers ``similarity`` (an object with ``groups``: group id -> (lab id,
names defined in that lab's notebook) and ``boilerplate()``: source texts every student
was given or may not be credited for, e.g. the handouts' given code and the reference)
is compared group by group: each student's unit is the code of the group's definitions,
sorted by name (so reordering functions changes nothing); copydetect tokenizes it
(identifiers normalized, so renaming variables changes nothing), winnows k-gram
fingerprints, and drops every fingerprint that occurs in the boilerplate before comparing.
A pair is listed when both sides share at least ``threshold`` of their remaining tokens
(the smaller of the two shares) and at least ``min_tokens`` tokens.

Output (``<out>/similarity/``, for staff, never in student feedback): ``pairs.csv``,
``index.html`` and one side-by-side page per pair with the shared code highlighted.
"""

from __future__ import annotations

import ast
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd
from copydetect import CodeFingerprint, compare_files
from copydetect.utils import filter_code, get_token_coverage, hashed_kgrams, highlight_overlap

from .extract import ExtractedNotebook

NOISE_TOKENS = 12  # k: shorter shared runs are ignored (copydetect's noise threshold)
WINDOW = 4  # winnowing window: any shared run of k + WINDOW - 1 tokens is found


class SimilaritySpec(Protocol):
    """What a plug-in offers for similarity checks."""

    groups: Mapping[str, tuple[str, tuple[str, ...]]]  # group -> (lab id, names)

    def boilerplate(self) -> Sequence[str]:
        """Source texts whose fingerprints never count (given code, the reference)."""


@dataclass(frozen=True)
class Pair:
    """Two students whose code for one group is alike."""

    group: str
    a: str
    b: str
    similarity: float  # the smaller of the two shares of shared tokens, 0..1
    shared_tokens: int
    page: str = ""  # the side-by-side page, relative to the report folder


def unit_code(notebook: ExtractedNotebook, names: Sequence[str]) -> str:
    """The code of ``names``' definitions in ``notebook``, sorted by name ("" if none)."""
    found = notebook.definitions
    units = {found[n].code for n in sorted(names) if n in found}
    return "\n\n".join(sorted(units))


def _fingerprint(label: str, code: str, boilerplate: frozenset[int] = frozenset()
                 ) -> CodeFingerprint:
    """copydetect's fingerprint of ``code`` less every hash in ``boilerplate``.

    (copydetect's own ``boilerplate=`` compares winnowed hashes with ``np.intersect1d``
    under ``assume_unique``, which a document's repeated hashes break; dropping them from
    the fingerprint's table and recounting its coverage is exact.)"""
    fp = CodeFingerprint(f"{label}.py", NOISE_TOKENS, WINDOW, fp=io.StringIO(code))
    if boilerplate:
        fp.hash_idx = {h: i for h, i in fp.hash_idx.items() if h not in boilerplate}
        fp.hashes = set(fp.hash_idx)
        fp.token_coverage = get_token_coverage(fp.hash_idx, fp.k, len(fp.filtered_code))
    return fp


def boilerplate_hashes(texts: Sequence[str]) -> frozenset[int]:
    """Every k-gram hash of the boilerplate (all of them, not only the winnowed ones, so
    a student's copy of given code is removed wherever winnowing samples it)."""
    hashes: set[int] = set()
    for text in texts:
        for form in (text, _unparsed(text)):  # as written, and as the units are (ast)
            filtered, _ = filter_code(form, "boilerplate.py")
            if len(filtered) >= NOISE_TOKENS:
                hashes.update(int(h) for h in hashed_kgrams(filtered, k=NOISE_TOKENS))
    return frozenset(hashes)


def _unparsed(text: str) -> str:
    """``text`` printed back by ``ast`` as extracted units are ("" if it does not parse)."""
    try:
        return ast.unparse(ast.parse(text))
    except (SyntaxError, ValueError):
        return ""


def _side(code: str, slices) -> str:
    """``code`` as HTML with the shared ``slices`` in <mark>."""
    return highlight_overlap(code, slices, "<mark>", "</mark>", escape_html=True)[0]


def compare(units: Mapping[str, Mapping[str, str]], boilerplate: Sequence[str], *,
            threshold: float = 0.6, min_tokens: int = 20,
            pages: Path | None = None) -> list[Pair]:
    """Pairs above ``threshold`` per group. ``units``: student -> group -> code. With
    ``pages``, a side-by-side HTML page per pair is written there."""
    removed = boilerplate_hashes(boilerplate)
    groups = sorted({g for per in units.values() for g in per})
    pairs: list[Pair] = []
    for group in groups:
        prints = {s: _fingerprint(s, per[group], removed) for s, per in sorted(units.items())
                  if per.get(group, "").strip()}
        students = list(prints)
        for i, a in enumerate(students):
            for b in students[i + 1:]:
                shared, (sim_a, sim_b), slices = compare_files(prints[a], prints[b])
                similarity = float(min(sim_a, sim_b))
                if similarity < threshold or shared < min_tokens:
                    continue
                page = ""
                if pages is not None:
                    page = f"{group}--{a}--{b}.html"
                    pages.mkdir(parents=True, exist_ok=True)
                    (pages / page).write_text(_pair_page(
                        group, a, b, similarity, _side(units[a][group], slices[0]),
                        _side(units[b][group], slices[1])), encoding="utf-8")
                pairs.append(Pair(group, a, b, round(similarity, 4), int(shared), page))
    return sorted(pairs, key=lambda p: (-p.similarity, p.group, p.a, p.b))


def _pair_page(group: str, a: str, b: str, similarity: float, left: str, right: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(group)}: {html.escape(a)} and
{html.escape(b)}</title>
<style>body {{ font-family: sans-serif; margin: 1em; }} .sides {{ display: flex; gap: 1em; }}
.sides div {{ flex: 1; min-width: 0; }} pre {{ background: #f6f6f6; padding: 0.5em;
white-space: pre-wrap; }} mark {{ background: #ffd27f; }}</style></head><body>
<h1>{html.escape(group)}: {html.escape(a)} and {html.escape(b)} ({similarity:.0%} shared)</h1>
<p>Highlighted: code both share, given code and the reference left out. For staff only.</p>
<div class="sides"><div><h2>{html.escape(a)}</h2><pre>{left}</pre></div>
<div><h2>{html.escape(b)}</h2><pre>{right}</pre></div></div></body></html>
"""


def write_report(pairs: Sequence[Pair], folder: Path, threshold: float) -> Path:
    """``pairs.csv`` and ``index.html`` in ``folder`` (the pair pages are already there)."""
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([p.__dict__ for p in pairs],
                 columns=["group", "a", "b", "similarity", "shared_tokens", "page"]).to_csv(
        folder / "pairs.csv", index=False)
    rows = "".join(
        f"<tr><td>{html.escape(p.group)}</td><td>{html.escape(p.a)}</td>"
        f"<td>{html.escape(p.b)}</td><td>{p.similarity:.0%}</td><td>{p.shared_tokens}</td>"
        f"<td><a href=\"{html.escape(p.page)}\">side by side</a></td></tr>" for p in pairs)
    index = folder / "index.html"
    index.write_text(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Similarity"
        "</title></head><body><h1>Similar code (staff only)</h1>"
        f"<p>{len(pairs)} pair(s) sharing at least {threshold:.0%} of their own code "
        "(copydetect; given code and the reference excluded).</p><table border=\"1\">"
        "<tr><th>group</th><th>student</th><th>student</th><th>shared</th><th>tokens</th>"
        f"<th></th></tr>{rows}</table></body></html>\n", encoding="utf-8")
    return index


def collect_units(submissions: Sequence[Path], plugin, spec: SimilaritySpec,
                  limits) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Student -> group -> code, read from ``submissions`` as the grader reads them (the
    same intake, the same notebook extraction); and the inputs that could not be read."""
    import tempfile

    from .archives import Budget
    from .errors import BadNotebook, BadSubmission
    from .extract import read_notebook
    from .form import FormRule
    from .intake import discover, unpack

    units: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="autograde-similarity-") as tmp:
        staging = Path(tmp)
        candidates, problems = discover(submissions, plugin.notebooks.values(), staging,
                                        Budget(limits))
        for cand in candidates:
            try:
                sub = unpack(cand, staging, plugin.notebooks, FormRule(), Budget(limits))
            except BadSubmission as exc:
                problems.append(f"{cand.student_id}: {exc}")
                continue
            notebooks = {}
            for lab, path in sub.notebooks.items():
                if path is not None:
                    try:
                        notebooks[lab] = read_notebook(path, plugin.path_redirects)
                    except BadNotebook as exc:
                        problems.append(f"{cand.student_id}: {exc}")
            units[cand.student_id] = {
                group: unit_code(notebooks[lab], names)
                for group, (lab, names) in spec.groups.items() if lab in notebooks}
    return units, problems
