"""From the paths a user gives to one unpacked Submission per student.

Inputs: a folder of submissions, one student's folder, one ``code.zip``, or a zip of the
whole class as a course site exports it (one folder, or one set of files, per student).

One student or a class? A zip whose name ends in ``code`` (``code.zip``,
``Name_12345_code.zip``) is always one submission. Any other folder or zip, after stepping
into wrapper folders that hold nothing but one folder, is ONE submission when (1) it
directly holds an expected notebook or a ``code.zip``, or (2) no expected notebook name
occurs twice in it (counting the files inside its zips) and its entries do not carry two
different course-site ids (``Name_12345...``). Anything else is a class.

Student identity (made file-name safe: letters, digits, ``.``, ``_``, ``-``):
- in a class, a folder's or file's name up to its first ``_<digits>`` group (course-site
  exports: ``Name_12345_code.zip`` and ``Name_12345_report.pdf`` -> ``Name_12345``), else
  a folder's whole name, else a file's name before its first ``_`` (``alice_code.zip`` ->
  ``alice``); the files and folders with the same id form one submission;
- for one submission given alone, the id of its folder or zip by the same rule (for a
  bare ``code.zip``, the name of the folder holding it).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .archives import Budget, is_junk, safe_extract, safe_extract_parts
from .errors import BadSubmission, UnsafeArchive
from .form import FormRule, judge_form
from .models import Submission

_ID_WITH_NUMBER = re.compile(r"^(.+?_\d+)(?=[_.\-\s]|$)")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
UNZIPPED = ".unzipped"
MAX_NESTING = 3
# Loose files in a class folder that can be (part of) a submission; others are skipped.
SUBMISSION_SUFFIXES = frozenset({".zip", ".ipynb", ".pdf"})


@dataclass(frozen=True)
class Candidate:
    """One student's paths, before unpacking."""

    student_id: str
    sources: tuple[Path, ...]
    refused: str = ""  # why this student's part of a class export was not unpacked


def student_key(name: str, folder: bool = False) -> str:
    """The student id a file or folder name stands for (see the module doc)."""
    stem = name if folder else Path(name).stem or name
    match = _ID_WITH_NUMBER.match(stem)
    if match:
        key = match.group(1)
    else:
        key = stem if folder else stem.split("_")[0] or stem
    return _UNSAFE.sub("_", key).strip("_") or "student"


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not is_junk(Path(p.name)))


def _unwrap(folder: Path) -> Path:
    """Step into folders that hold nothing but one folder."""
    while True:
        entries = _entries(folder)
        if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
            folder = entries[0]
        else:
            return folder


def _is_code_zip(path: Path) -> bool:
    return path.suffix.lower() == ".zip" and path.stem.lower().endswith("code")


def _names_inside(folder: Path) -> list[str]:
    """Lower-case file names under ``folder``, including the members of zip files."""
    names = []
    for path in folder.rglob("*"):
        if not path.is_file() or is_junk(path.relative_to(folder)):
            continue
        names.append(path.name.lower())
        if path.suffix.lower() == ".zip":
            try:
                with zipfile.ZipFile(path) as zf:
                    names += [PurePosixPath(m).name.lower() for m in zf.namelist()
                              if not is_junk(PurePosixPath(m))]
            except (zipfile.BadZipFile, OSError):
                pass
    return names


def _is_single(folder: Path, notebook_names: Iterable[str]) -> bool:
    wanted = {n.lower() for n in notebook_names}
    top = {p.name.lower() for p in _entries(folder)}
    if top & wanted or "code.zip" in top:
        return True
    names = _names_inside(folder)
    if any(names.count(n) > 1 for n in wanted):
        return False
    numbered = {student_key(p.name) for p in _entries(folder)}
    return len({k for k in numbered if re.search(r"_\d+$", k)}) < 2


def _several_ids(folder: Path, refused: Iterable[str]) -> bool:
    """Whether ``folder``'s entries and the refused parts of its export carry two different
    course-site ids (a class export, even when all but one part was refused)."""
    keys = {student_key(p.name, p.is_dir()) for p in _entries(folder)} | set(refused)
    return len({k for k in keys if re.search(r"_\d+$", k)}) >= 2


def _single_id(path: Path) -> str:
    if path.is_file() and path.stem.lower() == "code":
        return student_key(path.resolve().parent.name, folder=True)
    if path.is_dir():
        keys = {student_key(p.name) for p in _entries(path)}
        numbered = {k for k in keys if re.search(r"_\d+$", k)}
        if len(keys) == len(numbered) == 1:
            return keys.pop()
    return student_key(path.name, path.is_dir())


def _class_candidates(folder: Path, problems: list[str]) -> list[Candidate]:
    """One candidate per student id. Loose files that cannot be (part of) a submission
    (a grading sheet ``.csv``/``.json``/``.txt``, a README) are skipped with a note when
    nothing else carries their id; beside a student's folder, zip, notebook or PDF they
    are that student's (a course site exports every upload as ``<id>_<name>``)."""
    groups: dict[str, list[Path]] = {}
    for entry in _entries(folder):
        if not entry.is_symlink():
            groups.setdefault(student_key(entry.name, entry.is_dir()), []).append(entry)
    candidates = []
    for sid, paths in groups.items():
        if any(p.is_dir() or p.suffix.lower() in SUBMISSION_SUFFIXES for p in paths):
            candidates.append(Candidate(sid, tuple(paths)))
            continue
        problems += [f"skipped {p.name} in {folder.name}: a loose {p.suffix or 'extension-less'}"
                     " file is no submission (a student's folder, zip, notebook or PDF)"
                     for p in paths]
    return candidates


def discover(paths: Sequence[Path], notebook_names: Iterable[str], staging: Path,
             budget: Budget) -> tuple[list[Candidate], list[str]]:
    """The students in ``paths`` and the problems met (an unreadable input is one).

    A zip is unpacked with the caps of ``budget.limits`` for each student's part (a class
    export of any size is fine when every part is within them); a student whose part breaks
    a cap is a candidate that is refused, with the reason, when graded.
    """
    names = list(notebook_names)
    found: list[Candidate] = []
    problems: list[str] = []
    for index, path in enumerate(paths):
        path = Path(path)
        if not path.exists():
            problems.append(f"{path}: no such file or folder")
            continue
        if path.is_file() and path.suffix.lower() != ".zip":
            problems.append(f"{path}: neither a folder nor a zip file")
            continue
        if path.is_file() and _is_code_zip(path):
            found.append(Candidate(_single_id(path), (path,)))
            continue
        folder = path
        refused: dict[str, str] = {}
        if path.is_file():  # a class export, or one student's zip: caps per student
            folder = staging / "_inputs" / f"{index}-{student_key(path.name)}"
            try:
                refused = safe_extract_parts(path, folder, budget.limits, student_key)
            except BadSubmission as exc:
                problems.append(str(exc))
                continue
        inner = _unwrap(folder)
        if not _is_single(inner, names) or _several_ids(inner, refused):
            found.extend(_class_candidates(inner, problems))
            found.extend(Candidate(sid, (), refused=why) for sid, why in refused.items())
        elif path.is_dir():
            found.append(Candidate(_single_id(inner), (inner,)))
        else:  # one student's zip: unpacked again, with the student's files, when graded
            found.append(Candidate(_single_id(path if inner == folder else inner), (path,)))
    return _unique_ids(found), problems


def _unique_ids(candidates: list[Candidate]) -> list[Candidate]:
    seen: dict[str, int] = {}
    out = []
    for cand in candidates:
        n = seen.get(cand.student_id, 0) + 1
        seen[cand.student_id] = n
        out.append(cand if n == 1 else Candidate(f"{cand.student_id}-{n}", cand.sources))
    return out


# ----------------------------------------------------------------------------- unpacking


@dataclass
class _Staged:
    root: Path
    containers: dict[Path, str] = field(default_factory=dict)  # unzipped dir -> zip name
    zip_members: dict[str, list[str]] = field(default_factory=dict)  # zip name -> files
    problems: list[str] = field(default_factory=list)


def _copy_tree(source: Path, target: Path, staged: _Staged) -> None:
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if is_junk(rel):
            continue
        if path.is_symlink():
            staged.problems.append(f"ignored the link {source.name}/{rel}")
        elif path.is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / rel)


def _unzip(archive: Path, target: Path, staged: _Staged, budget: Budget) -> None:
    written = safe_extract(archive, target, budget)
    staged.containers[target] = archive.name
    staged.zip_members[archive.name] = sorted(str(p.relative_to(target)) for p in written)


def _stage(candidate: Candidate, root: Path, budget: Budget) -> _Staged:
    staged = _Staged(root)
    root.mkdir(parents=True)
    for source in candidate.sources:
        if source.is_dir():
            _copy_tree(source, root / source.name, staged)
        elif source.suffix.lower() == ".zip":
            _unzip(source, root / (source.name + UNZIPPED), staged, budget)
        else:
            shutil.copyfile(source, root / source.name)
    tried: set[Path] = set()
    for _ in range(MAX_NESTING):
        nested = [p for p in root.rglob("*.zip") if p.is_file() and p not in tried
                  and not is_junk(p.relative_to(root))]
        for archive in nested:
            tried.add(archive)
            try:
                _unzip(archive, archive.with_name(archive.name + UNZIPPED), staged, budget)
            except UnsafeArchive:
                raise
            except BadSubmission as exc:
                staged.problems.append(str(exc))
    return staged


def _container(path: Path, staged: _Staged) -> str | None:
    """The zip a staged file came from (the innermost one), if any."""
    for parent in path.parents:
        if parent in staged.containers:
            return staged.containers[parent]
    return None


_COPY_MARKS = re.compile(
    r"^copy of\s+|\s*\(\d+\)$|[\s_-]*-?\s*copy(\s*\(?\d+\)?)?$", re.IGNORECASE)
_STUB = re.compile(r"^\s*raise\s+NotImplementedError\b", re.MULTILINE)


def _plain_stem(name: str) -> str:
    """A notebook's stem without the marks that copies and repeated downloads add
    (``Copy of X``, ``X (1)``, ``X - Copy``, ``X_copy``), lower case."""
    stem = Path(name).stem.lower()
    while True:
        bare = _COPY_MARKS.sub("", stem).strip()
        if bare == stem:
            return stem
        stem = bare


def _stubs_left(path: Path) -> int:
    """How many ``raise NotImplementedError`` lines the notebook's code cells still hold
    (a starter's TODO stubs); a file that cannot be read counts as all stubs."""
    try:
        cells = json.loads(path.read_bytes().decode("utf-8-sig")).get("cells", [])
        return sum(len(_STUB.findall("".join(c.get("source", "")) if isinstance(
            c.get("source"), list) else str(c.get("source", ""))))
                   for c in cells if isinstance(c, dict) and c.get("cell_type") == "code")
    except (OSError, ValueError, AttributeError):
        return 1 << 30


def find_notebook(root: Path, name: str) -> tuple[Path | None, list[str]]:
    """The notebook called ``name`` anywhere under ``root`` (any case); notes on choices.

    Candidates: the exact name, a name starting with the expected stem, and a copy's
    name (``Lab1 (1).ipynb``, ``Copy of Lab1.ipynb``). Among several, the one with
    the fewest starter stubs left (``raise NotImplementedError``), so a worked copy beside
    an untouched starter is graded; then an exact name, the shallowest, the first by path.
    """
    notebooks = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() == ".ipynb"
                 and not is_junk(p.relative_to(root))]
    stem = Path(name).stem.lower()
    pool = [p for p in notebooks if p.stem.lower().startswith(stem)
            or _plain_stem(p.name) == stem]
    if not pool:
        return None, []
    stubs = {p: _stubs_left(p) for p in pool}
    pool.sort(key=lambda p: (stubs[p], p.name.lower() != name.lower(),
                             len(p.relative_to(root).parts), str(p)))
    chosen = pool[0]
    rel = chosen.relative_to(root)
    notes = []
    exact = [p for p in pool if p.name.lower() == name.lower()]
    if chosen.name.lower() != name.lower():
        notes.append(f"took {rel} as {name}")
    if exact and chosen not in exact:
        notes.append(f"graded {rel}, not {exact[0].relative_to(root)}: that one still holds "
                     f"{stubs[exact[0]]} of the starter's unfinished stubs, {rel} "
                     f"{stubs[chosen]}")
    elif len(pool) > 1:
        others = ", ".join(str(p.relative_to(root)) for p in pool[1:])
        notes.append(f"several files could be {name}; graded {rel}, not {others}")
    return chosen, notes


def fingerprint(paths: Iterable[Path]) -> str:
    """sha256 over the names and bytes of every file under ``paths`` (junk skipped)."""
    digest = hashlib.sha256()
    for source in sorted(Path(p) for p in paths):
        files = [source] if source.is_file() else sorted(
            p for p in source.rglob("*") if p.is_file() and not p.is_symlink()
            and not is_junk(p.relative_to(source)))
        for path in files:
            rel = path.name if source.is_file() else str(path.relative_to(source))
            digest.update(rel.encode() + b"\0")
            with open(path, "rb") as handle:  # file_digest feeds the running digest
                hashlib.file_digest(handle, lambda: digest)
            digest.update(b"\0")
    return digest.hexdigest()


def unpack(candidate: Candidate, staging: Path, notebooks: Mapping[str, str],
           rule: FormRule, budget: Budget, digest: str = "") -> Submission:
    """Stage one student's files, find the notebooks and PDFs, apply the form rule
    (``digest``: the sources' fingerprint if already computed).

    Raises UnsafeArchive when any zip in it breaks a safety rule (nothing of it is graded)
    and BadSubmission when the student's own zip cannot be read; a corrupt zip nested
    deeper is a noted problem, and a missing notebook is recorded, not raised.
    """
    if candidate.refused:
        raise UnsafeArchive(candidate.refused)
    staged = _stage(candidate, staging / candidate.student_id, budget)
    found: dict[str, Path | None] = {}
    problems = list(staged.problems)
    for lab, name in notebooks.items():
        path, notes = find_notebook(staged.root, name)
        found[lab] = path
        problems.extend(notes)
    reports = tuple(sorted(p for p in staged.root.rglob("*")
                           if p.is_file() and p.suffix.lower() == ".pdf"
                           and not is_junk(p.relative_to(staged.root))))
    containers = {lab: _container(p, staged) if p else None for lab, p in found.items()}
    form = judge_form(rule, notebooks, found, containers, staged.zip_members, reports,
                      problems)
    return Submission(
        student_id=candidate.student_id,
        sources=candidate.sources,
        root=staged.root,
        notebooks=found,
        reports=reports,
        form=form,
        problems=tuple(problems),
        fingerprint=digest or fingerprint(candidate.sources),
    )
