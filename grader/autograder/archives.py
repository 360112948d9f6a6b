"""Unpack zip files safely.

Refused, with the reason: absolute paths and drive letters, ``..`` components, symbolic
links and other special files, encrypted members, more than ``max_files`` members, more
than ``max_bytes`` unpacked in total (counted while writing, not taken from the headers),
and members over 1 MiB that are compressed more than ``max_ratio`` times (zip bombs).
``__MACOSX`` resource forks are skipped. One ``Budget`` can be shared by nested archives.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import BadSubmission, UnsafeArchive

CHUNK = 1 << 20
JUNK_PARTS = frozenset({"__MACOSX", ".ipynb_checkpoints", ".DS_Store", "Thumbs.db"})


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
                f"compression ratio {ratio:.0f}:1 exceeds {limits.max_ratio:g}:1 (zip bomb?)")


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, archive: str,
                 budget: Budget) -> None:
    with zf.open(info) as src, open(dest, "xb") as out:
        while chunk := src.read(CHUNK):
            budget.bytes_left -= len(chunk)
            if budget.bytes_left < 0:
                raise UnsafeArchive.from_member(
                    archive, info.filename,
                    f"unpacked size exceeds {_mib(budget.limits.max_bytes)} (zip bomb?)")
            out.write(chunk)


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
                                    f"{budget.limits.max_files}")
            declared = sum(i.file_size for i in infos)
            if declared > budget.bytes_left:
                raise UnsafeArchive(f"{label}: declares {_mib(declared)} unpacked, more than "
                                    f"the {_mib(budget.bytes_left)} left of the cap of "
                                    f"{_mib(budget.limits.max_bytes)}")
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
                _copy_member(zf, info, dest, label, budget)
                written.append(dest)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise BadSubmission(f"{label} could not be unpacked ({exc})") from None
    except BadSubmission:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return written
