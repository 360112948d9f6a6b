"""Unpack zip files safely.

Refused, with the reason: absolute paths and drive letters, ``..`` components, symbolic
links and other special files, encrypted members, more than ``max_files`` members, more
than ``max_bytes`` unpacked in total (counted while writing, not taken from the headers),
and members over 1 MiB that are compressed more than ``max_ratio`` times (zip bombs).
``__MACOSX`` resource forks are skipped. One ``Budget`` can be shared by nested archives.

A class export (a course site's zip of every student's files) is unpacked by parts
(``safe_extract_parts``): each student's part has caps of its own, so an export of any size
is fine when every student's part is within them; a part that breaks a rule is left out,
with its reason, and the other parts are unpacked. Every refusal names the setting (the
command-line flag) whose cap it hit.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import BadSubmission, UnsafeArchive

CHUNK = 1 << 20
JUNK_PARTS = frozenset({"__MACOSX", ".ipynb_checkpoints", ".DS_Store", "Thumbs.db"})
# The settings (command-line flags) behind each cap, named in refusals.
FLAG_BYTES, FLAG_FILES, FLAG_RATIO = "--zip-max-mb", "--zip-max-files", "--zip-max-ratio"


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps on what unpacking may produce."""

    max_bytes: int = 1 << 30
    max_files: int = 5000
    max_ratio: float = 200.0
    ratio_min_bytes: int = 1 << 20  # small members may compress well legitimately


class Budget:
    """Bytes and files still allowed; shared by an archive and the archives inside it."""

    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.bytes_left = limits.max_bytes
        self.files_left = limits.max_files


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"


def is_junk(path: PurePosixPath | Path) -> bool:
    """Operating-system and editor leftovers that are never part of a submission."""
    return any(part in JUNK_PARTS or part.startswith("._") for part in path.parts)


def _member_path(archive: str, info: zipfile.ZipInfo) -> PurePosixPath:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive.from_member(archive, info.filename, "absolute path")
    path = PurePosixPath(name)
    if ".." in path.parts:
        raise UnsafeArchive.from_member(archive, info.filename, "path traversal ('..')")
    kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip records no file type
    if kind == stat.S_IFLNK:
        raise UnsafeArchive.from_member(archive, info.filename, "symbolic link")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise UnsafeArchive.from_member(archive, info.filename, "special file")
    if info.flag_bits & 0x1:
        raise UnsafeArchive.from_member(archive, info.filename, "encrypted member")
    return path


def _check_ratio(archive: str, info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    if info.file_size > limits.ratio_min_bytes:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_ratio:
            raise UnsafeArchive.from_member(
                archive, info.filename,
                f"compression ratio {ratio:.0f}:1 exceeds {limits.max_ratio:g}:1 (zip bomb?; "
                f"the cap is {FLAG_RATIO})")


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, archive: str,
                 budget: Budget) -> None:
    with zf.open(info) as src, open(dest, "xb") as out:
        while chunk := src.read(CHUNK):
            budget.bytes_left -= len(chunk)
            if budget.bytes_left < 0:
                raise UnsafeArchive.from_member(
                    archive, info.filename,
                    f"unpacked size exceeds {_mib(budget.limits.max_bytes)} (zip bomb?; the "
                    f"cap is {FLAG_BYTES})")
            out.write(chunk)


def _write_members(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], root: Path, label: str,
                   budget: Budget, written: list[Path]) -> None:
    """Write ``infos`` of the open ``zf`` under the resolved folder ``root`` within
    ``budget`` (junk such as ``__MACOSX`` skipped); each file goes into ``written`` before it
    is filled, so that a refusal can remove it. Raises UnsafeArchive."""
    for info in infos:
        path = _member_path(label, info)
        if is_junk(path) or not path.parts:
            continue
        dest = (root / path).resolve()
        if root not in dest.parents:
            raise UnsafeArchive.from_member(label, info.filename, "leaves the folder")
        if info.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
            continue
        _check_ratio(label, info, budget.limits)
        budget.files_left -= 1
        dest.parent.mkdir(parents=True, exist_ok=True)
        written.append(dest)
        _copy_member(zf, info, dest, label, budget)


def safe_extract(archive: Path, target: Path, budget: Budget) -> list[Path]:
    """Unpack ``archive`` into ``target`` (created); return the files written.

    Raises UnsafeArchive (nothing is left in ``target``) or BadSubmission.
    """
    label = archive.name
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadSubmission(f"{label} is not a readable zip file ({exc})") from None
    target.mkdir(parents=True, exist_ok=False)
    root = target.resolve()
    written: list[Path] = []
    try:
        with zf:
            infos = zf.infolist()
            if len(infos) > budget.files_left:
                raise UnsafeArchive(f"{label}: {len(infos)} files exceed the cap of "
                                    f"{budget.limits.max_files} ({FLAG_FILES})")
            declared = sum(i.file_size for i in infos)
            if declared > budget.bytes_left:
                raise UnsafeArchive(f"{label}: declares {_mib(declared)} unpacked, more than "
                                    f"the {_mib(budget.bytes_left)} left of the cap of "
                                    f"{_mib(budget.limits.max_bytes)} ({FLAG_BYTES})")
            _write_members(zf, infos, root, label, budget, written)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise BadSubmission(f"{label} could not be unpacked ({exc})") from None
    except BadSubmission:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return written


def _wrapper_depth(paths: list[PurePosixPath]) -> int:
    """How many leading folders every path shares (folders holding nothing but one folder)."""
    depth = 0
    while paths and all(len(p.parts) > depth + 1 for p in paths) \
            and len({p.parts[depth] for p in paths}) == 1:
        depth += 1
    return depth


def safe_extract_parts(archive: Path, target: Path, limits: ArchiveLimits,
                       part_of: Callable[[str, bool], str]) -> dict[str, str]:
    """Unpack ``archive`` into ``target`` (created) part by part; return the parts refused
    (part -> reason), whose members are left out. Every part has the caps of ``limits``.

    A member's part is ``part_of(name, is_folder)`` of its first path component below
    the folders that wrap everything (``is_folder``: whether that component is a folder).
    Raises BadSubmission when ``archive`` is not a readable zip.
    """
    label = archive.name
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadSubmission(f"{label} is not a readable zip file ({exc})") from None
    with zf:
        infos = [i for i in zf.infolist()
                 if not is_junk(PurePosixPath(i.filename.replace("\\", "/")))]
        paths = [PurePosixPath(i.filename.replace("\\", "/").lstrip("/")) for i in infos]
        depth = _wrapper_depth([p for p, i in zip(paths, infos) if not i.is_dir()])
        parts: dict[str, list[zipfile.ZipInfo]] = {}
        tops: dict[str, set[PurePosixPath]] = {}  # part -> its entries below the wrappers
        for path, info in zip(paths, infos):
            if len(path.parts) <= depth:
                continue  # a wrapper folder itself
            first = path.parts[depth]
            folder = len(path.parts) > depth + 1 or info.is_dir()
            part = part_of(first, folder)
            parts.setdefault(part, []).append(info)
            tops.setdefault(part, set()).add(PurePosixPath(*path.parts[:depth + 1]))
    target.mkdir(parents=True, exist_ok=False)
    refused: dict[str, str] = {}
    for part, members in parts.items():
        try:
            _extract_members(archive, members, target, Budget(limits))
        except BadSubmission as exc:
            refused[part] = f"{part}'s part of {label}: {exc}"
            for top in tops[part]:  # nothing of a refused part stays
                entry = target / top
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
    return refused


def _extract_members(archive: Path, members: list[zipfile.ZipInfo], target: Path,
                     budget: Budget) -> None:
    """Unpack ``members`` of ``archive`` under ``target`` within ``budget``; on a refusal,
    remove what was written of them and raise."""
    label = archive.name
    root = target.resolve()
    written: list[Path] = []
    try:
        if len(members) > budget.files_left:
            raise UnsafeArchive(f"{len(members)} files exceed the cap of "
                                f"{budget.limits.max_files} ({FLAG_FILES})")
        declared = sum(i.file_size for i in members)
        if declared > budget.bytes_left:
            raise UnsafeArchive(f"declares {_mib(declared)} unpacked, more than the cap of "
                                f"{_mib(budget.limits.max_bytes)} ({FLAG_BYTES})")
        with zipfile.ZipFile(archive) as zf:
            _write_members(zf, members, root, label, budget, written)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        _remove(written)
        raise BadSubmission(f"could not be unpacked ({exc})") from None
    except BadSubmission:
        _remove(written)
        raise


def _remove(files: list[Path]) -> None:
    for path in files:
        path.unlink(missing_ok=True)
