"""Isolation levels: the command prefix that shuts a child in, and detection of the
strongest level that works on this machine.

- ``bwrap`` (bubblewrap): a new mount namespace holding only read-only system folders and
  the Python installation (hidden packages installed there masked by empty folders), the
  job's runtime folder read-only and its work folder; every namespace unshared (no
  network), a new session, killed with the grader. When the grader runs as root, the
  child runs as an unprivileged user of its own (``setpriv``: no capabilities, no new
  privileges), since root ignores the process limit and may signal anything.
- ``unshare`` (util-linux): own user, network and PID namespaces (no network; killing the
  sandbox kills everything it started) but the host file system stays visible.
- ``rlimits``: resource limits and a process group only (unprivileged, macOS).

Under ``unshare`` and ``rlimits`` a grader running as root runs the child as root too:
the process limit then does not hold.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import queue
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, SandboxError
from ..models import Isolation

SANDBOX_ROOT = Path("/sandbox")
SYSTEM_DIRS = ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/sbin", "/opt/conda")
ETC_ENTRIES = ("passwd", "group", "nsswitch.conf", "hosts", "localtime", "ld.so.cache",
               "ld.so.conf", "ld.so.conf.d", "alternatives", "ssl", "fonts", "mime.types")
# bwrap options followed by a source and a mount point, or by a mount point only
_TWO_PATHS = frozenset({"--ro-bind", "--bind", "--dev-bind", "--symlink"})
_ONE_PATH = frozenset({"--tmpfs", "--proc", "--dev", "--dir"})


@dataclass(frozen=True)
class Layout:
    """Where the job's folders are on the host and as the child sees them."""

    runtime: Path  # host: child runtime and probe modules
    work: Path  # host: the work folder
    level: Isolation
    uid: int | None = None  # the unprivileged user the child runs as (bwrap under root)

    @property
    def inner_runtime(self) -> Path:
        return SANDBOX_ROOT / "runtime" if self.level is Isolation.BWRAP else self.runtime

    @property
    def inner_work(self) -> Path:
        return SANDBOX_ROOT / "work" if self.level is Isolation.BWRAP else self.work


def python_dirs() -> list[Path]:
    """Folders of this Python installation and environment (bound read-only)."""
    dirs = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)}
    dirs.add(Path(os.path.realpath(sys.executable)).parent.parent)
    return sorted(d for d in dirs if d.is_dir())


def _system_binds() -> list[str]:
    args: list[str] = []
    for name in SYSTEM_DIRS:
        path = Path(name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), name]
        elif path.is_dir():
            args += ["--ro-bind", name, name]
    for entry in ETC_ENTRIES:
        path = Path("/etc") / entry
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
    return args


def package_dirs(names: Iterable[str]) -> list[Path]:
    """Folders of the installed packages ``names`` that lie inside the Python folders (a
    non-editable install), to be masked with an empty folder under bwrap."""
    roots = python_dirs()
    found = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            path = Path(location).resolve()
            if any(root == path or root in path.parents for root in roots):
                found.append(path)
    return found


def bwrap_prefix(layout: Layout, read_only: dict[str, Path],
                 hidden: Iterable[str] = (), devices: Iterable[Path] = ()) -> list[str]:
    """The bwrap command line before the child's own command (``devices``: device files
    the child may use, e.g. a GPU's)."""
    # Under root, a user namespace would map the child to root: keep the host's user
    # namespace and drop to ``layout.uid`` inside instead.
    unshare = ["--unshare-all"] if layout.uid is None else [
        "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
        "--unshare-cgroup-try"]
    args = ["bwrap", "--die-with-parent", *unshare, "--new-session", "--hostname", "sandbox",
            "--proc", "/proc", "--dev", "/dev", "--perms", "01777", "--tmpfs", "/tmp"]
    for device in devices:
        args += ["--dev-bind", str(device), str(device)]
    args += _system_binds()
    for path in python_dirs():
        if not any(str(path).startswith(s + "/") for s in SYSTEM_DIRS):
            args += ["--ro-bind", str(path), str(path)]
    for path in package_dirs(hidden):
        args += ["--tmpfs", str(path)]
    args += ["--ro-bind", str(layout.runtime), str(layout.inner_runtime),
             "--bind", str(layout.work), str(layout.inner_work)]
    for name, host in read_only.items():
        args += ["--ro-bind", str(host), str(layout.inner_work / name)]
    if layout.uid is not None:
        args += _open_mount_parents(args)
    args += ["--chdir", str(layout.inner_work), "--"]
    if layout.uid is not None:
        args += ["setpriv", f"--reuid={layout.uid}", f"--regid={layout.uid}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    return args


def _open_mount_parents(args: list[str]) -> list[str]:
    """``--chmod 0755`` for the folders bwrap made to hold mount points (it makes them 0700),
    so that an unprivileged user can reach what is mounted below them."""
    points: list[Path] = []
    binds: list[Path] = []  # host folders mounted whole: what lies below them exists already
    i = 0
    while i < len(args):
        if args[i] in _TWO_PATHS:
            points.append(Path(args[i + 2]))
            binds.append(Path(args[i + 2]))
            i += 3
        elif args[i] in _ONE_PATH:
            points.append(Path(args[i + 1]))
            i += 2
        else:
            i += 1
    # Folders below a tmpfs (e.g. /tmp, where a CI checkout may live) are made by bwrap too.
    made = {parent for point in points for parent in point.parents
            if parent != Path("/") and parent not in points
            and not any(b in parent.parents for b in binds)}
    return [arg for folder in sorted(made) for arg in ("--chmod", "0755", str(folder))]


USERS_PER_GRADER = 32


def user_ids(grader_pid: int) -> range:
    """The user ids the sandboxes of the grader process ``grader_pid`` run as (under root):
    far above real users' ids and distinct per grader, so that two graders on one machine
    share no process count."""
    first = 200_000 + (grader_pid % 100_000) * USERS_PER_GRADER
    return range(first, first + USERS_PER_GRADER)


def _sandbox_users() -> queue.SimpleQueue[int]:
    users: queue.SimpleQueue[int] = queue.SimpleQueue()
    for uid in user_ids(os.getpid()):
        users.put(uid)
    return users


_USERS = _sandbox_users()


def drops_privileges(level: Isolation) -> bool:
    """Whether a child of ``level`` runs as an unprivileged user of its own (bwrap under
    root, with util-linux setpriv)."""
    return level is Isolation.BWRAP and os.geteuid() == 0 and shutil.which("setpriv") is not None


def check_workers(workers: int, level: Isolation) -> None:
    """Refuse more concurrent sandboxes than the pool of sandbox users (bwrap under root):
    the extra workers would wait for a user forever while holding their own jobs."""
    if drops_privileges(level) and workers > USERS_PER_GRADER:
        raise ConfigError(
            f"--workers {workers} is more than the {USERS_PER_GRADER} sandbox users a grader "
            f"has under root (each bwrap sandbox runs as a user of its own); use --workers "
            f"{USERS_PER_GRADER} or fewer")


@contextlib.contextmanager
def sandbox_user(level: Isolation) -> Iterator[int | None]:
    """A user id no other live sandbox of this grader has (None: the child keeps ours)."""
    if not drops_privileges(level):
        yield None
        return
    uid = _USERS.get()
    try:
        yield uid
    finally:
        _USERS.put(uid)


UNSHARE_PREFIX = ["unshare", "--user", "--map-current-user", "--net", "--pid",
                  "--kill-child", "--mount-proc"]


def prefix(layout: Layout, read_only: dict[str, Path], hidden: Iterable[str] = (),
           devices: Iterable[Path] = ()) -> list[str]:
    """The command prefix of ``layout.level`` (under bwrap, ``hidden``: packages to mask;
    ``devices``: device files to let in; the other levels see the host's /dev)."""
    if layout.level is Isolation.BWRAP:
        return bwrap_prefix(layout, read_only, hidden, devices)
    if layout.level is Isolation.UNSHARE:
        return list(UNSHARE_PREFIX)
    return []


@functools.cache
def works(level: Isolation) -> bool:
    """Whether ``level`` can start Python on this machine (tried once, then cached)."""
    if level is Isolation.RLIMITS:
        return True
    tool = "bwrap" if level is Isolation.BWRAP else "unshare"
    if shutil.which(tool) is None:
        return False
    with tempfile.TemporaryDirectory(prefix="autograde-probe-") as tmp:
        with sandbox_user(level) as uid:
            layout = Layout(Path(tmp, "runtime"), Path(tmp, "work"), level, uid)
            layout.runtime.mkdir()
            layout.work.mkdir()
            command = [*prefix(layout, {}), sys.executable, "-c", "import sys; print('ok')"]
            try:
                done = subprocess.run(command, capture_output=True, timeout=30, check=False)
            except (OSError, subprocess.TimeoutExpired):
                return False
        return done.returncode == 0 and done.stdout.strip() == b"ok"


ISOLATING = (Isolation.BWRAP, Isolation.UNSHARE)  # what ``auto`` may pick, strongest first


def _why_not(level: Isolation) -> str:
    tool = "bwrap" if level is Isolation.BWRAP else "unshare"
    return f"{tool} is not installed" if shutil.which(tool) is None \
        else f"{tool} is not permitted here"


def choose(requested: str, *, allow_unsafe: bool = False, real_data: bool = False
           ) -> Isolation:
    """The level to use: for ``auto`` the strongest isolating level that works (bwrap,
    then unshare; never ``rlimits``), else the one asked for.

    Raises SandboxError when no isolating level works under ``auto``, when the level asked
    for does not work here, when ``rlimits`` is asked for under root without
    ``allow_unsafe`` (student code would run as root beside the solution and the
    gradebook), and when grading real data (``real_data``) under anything but bwrap.
    """
    if requested == "auto":
        level = next((lv for lv in ISOLATING if works(lv)), None)
        if level is None:
            raise SandboxError(
                "no isolating sandbox works on this machine ("
                + "; ".join(_why_not(lv) for lv in ISOLATING) + "). Install bubblewrap "
                "(as root: apt-get install bubblewrap; nox -s grade does it), or name "
                "--isolation rlimits to run student code with resource limits only (it can "
                "then read the solution, the gradebook and every submission)")
    else:
        level = Isolation(requested)
        if not works(level):
            raise SandboxError(
                f"isolation {requested!r} does not work on this machine ({_why_not(level)}); "
                "use --isolation auto to take the strongest isolating level that works")
    if level is Isolation.RLIMITS and os.geteuid() == 0 and not allow_unsafe:
        raise SandboxError(
            "--isolation rlimits under root runs student code as root, with the solution, "
            "the gradebook and the whole machine in reach; use bwrap (apt-get install "
            "bubblewrap), or add --allow-unsafe-isolation if you accept that")
    if real_data and level is not Isolation.BWRAP:
        raise SandboxError(
            f"grading real data (--data PATH) needs bwrap isolation, which hides the "
            f"solution and the other submissions from student code; this run would use "
            f"{level.value}. Install bubblewrap (as root: apt-get install bubblewrap)")
    return level
