"""Run a Job in a sandboxed child process and turn everything that happens into outcomes.

The child gets a cleaned environment, a fresh work folder holding only the files the job
names, resource limits (address space, CPU time, processes, file size), its own process
group, and the isolation level's namespaces. Each step has a wall-clock limit enforced by
killing the process group (never by threads). stdout and stderr are captured with a size
cap. A child that dies or hangs on step k yields outcomes for k, and a fresh child goes
on with step k+1; a child that cannot even load the student module fails every step with
the reason.

Deadlines are the grader's, never the child's: a step's deadline is fixed when its start
arrives, a start counts once and only for the step expected next (student code can find
the channel and its nonce, so any message may be forged), and every attempt and every job
has a hard wall-clock cap (``job_cap_s``). ``stop_all`` (on SIGINT/SIGTERM, see
``stop_on_signals``) kills every live sandbox at once and makes the jobs in progress raise
``GraderStopped``, so that nothing half-run is taken for an outcome.
"""

from __future__ import annotations

import base64
import builtins
import json
import os
import secrets
import select
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import describe_exit
from ..models import CallOutcome, Isolation, Job, JobOutcome, Status, Step
from . import protocol
from .gpu import device_files
from .hidden_code import compile_hidden
from .isolation import Layout, prefix, sandbox_user

ENGINE_PACKAGE = __name__.split(".")[0]  # never importable by student code
RUNTIME_FILES = {"child.py": "_grader_child.py", "protocol.py": "_grader_protocol.py",
                 "hidden_code.py": "_grader_hidden.py"}
# Names the grader may repeat from a child's report of an exception (anything else could
# be text a student made up, e.g. from hidden code it read in its process).
BUILTIN_EXCEPTIONS = frozenset(name for name, value in vars(builtins).items()
                               if isinstance(value, type) and issubclass(value, BaseException))
BETWEEN_STEPS_S = 30.0  # the runtime's own work between two steps
# With a disk quota the outbox comes back through the channel after the last step: that
# hand-over gets a fixed allowance for a full quota at this rate (set when the attempt
# starts, so no message moves it). A 500 MB model took longer than BETWEEN_STEPS_S.
OUTBOX_MIB_PER_S = 50.0
NOTEBOOK_START_S = 60.0  # from a notebook child's start to its kernel's first cell
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "NUMEXPR_NUM_THREADS", "TOKENIZERS_PARALLELISM")


@dataclass(frozen=True)
class SandboxLimits:
    """Resource caps of one sandboxed process."""

    memory_mb: int = 6144
    max_processes: int = 512
    max_file_mb: int = 1024
    output_cap_bytes: int = 64 * 1024
    message_cap_bytes: int = 256 * 1024 * 1024
    threads: int = 1
    disk_mb: int = 0  # the work folder's size under bwrap (a tmpfs; 0: the host's folder)
    extra_env: Mapping[str, str] = field(default_factory=dict)


class GraderStopped(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an error
    """The grader is being stopped (SIGINT/SIGTERM): the job has no outcome. A
    BaseException, so that no ``except Exception`` takes it for a student's failure."""


_LIVE: set[subprocess.Popen] = set()  # every sandbox process running now
_LIVE_LOCK = threading.Lock()
_STOPPING = threading.Event()


def stop_all() -> None:
    """Kill every live sandbox now; sandboxes started later refuse to start."""
    with _LIVE_LOCK:
        _STOPPING.set()
        live = list(_LIVE)
    for proc in live:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """While inside: SIGINT and SIGTERM kill every sandbox at once, then stop the grader
    (KeyboardInterrupt, or SystemExit(143) for SIGTERM). Main thread only."""
    def handler(signum: int, _frame: object) -> None:
        stop_all()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def job_cap_s(job: Job, steps: tuple[Step, ...] | None = None) -> float:
    """The most wall-clock seconds ``job`` may take (over ``steps``, default all): each
    step's own limit, and per attempt the load and the runtime's work between steps (every
    step may need an attempt of its own)."""
    if job.kind == "notebook":
        return NOTEBOOK_START_S + job.timeout_s + BETWEEN_STEPS_S
    steps = job.steps if steps is None else steps
    return sum(s.timeout_s for s in steps) + max(len(steps), 1) * (
        job.load_timeout_s + 2 * BETWEEN_STEPS_S)


def _attempt_cap_s(job: Job, start: int) -> float:
    """The most one attempt from step ``start`` on may take: one load, then every step."""
    if job.kind == "notebook":
        return job_cap_s(job)
    rest = job.steps[start:]
    return job.load_timeout_s + sum(s.timeout_s for s in rest) + (len(rest) + 1) * BETWEEN_STEPS_S


class _Tail:
    """Keeps the last ``cap`` bytes written and counts what was dropped."""

    def __init__(self, cap: int) -> None:
        self.cap, self.data, self.dropped = cap, bytearray(), 0

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > self.cap:
            cut = len(self.data) - self.cap
            self.dropped += cut
            del self.data[:cut]

    def take(self) -> str:
        text = self.data.decode("utf-8", "replace")
        if self.dropped:
            text = f"[... {self.dropped} earlier bytes of output cut ...]\n{text}"
        self.data, self.dropped = bytearray(), 0
        return text


def _rlimits(job: Job, limits: SandboxLimits) -> dict[str, int]:
    """The resource limits the child sets on itself before anything else runs (set there,
    not in a ``preexec_fn``, which is unsafe when the grader runs jobs from threads)."""
    steps = sum(s.timeout_s for s in job.steps) if job.kind == "calls" else job.timeout_s
    cpu = (job.load_timeout_s + steps) * (limits.threads + 1) + 30
    mb = 1024 * 1024
    memory = "RLIMIT_DATA" if job.gpu else "RLIMIT_AS"  # CUDA cannot start under RLIMIT_AS
    return {memory: limits.memory_mb * mb, "RLIMIT_CPU": int(cpu),
            "RLIMIT_NPROC": limits.max_processes, "RLIMIT_FSIZE": limits.max_file_mb * mb,
            "RLIMIT_CORE": 0}


def _environment(job: Job, layout: Layout, limits: SandboxLimits) -> dict[str, str]:
    work = str(layout.inner_work)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": work,
        "TMPDIR": f"{work}/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(layout.inner_runtime),
        "MPLBACKEND": "Agg",
        "XDG_CACHE_HOME": f"{work}/.cache",
        "IPYTHONDIR": f"{work}/.ipython",
        "JUPYTER_RUNTIME_DIR": f"{work}/.jupyter",
        "JUPYTER_PLATFORM_DIRS": "1",
        "GRADER_WORK": work,
        "GRADER_OUTBOX": f"{work}/outbox",
        **({"GRADER_SEED": str(layout.inner_seed)} if layout.quota else {}),
        "USER": "sandbox",  # the sandbox's user may have no passwd entry
        "LOGNAME": "sandbox",
    }
    if not job.gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    elif "CUDA_VISIBLE_DEVICES" in os.environ:  # the GPUs the grader was given
        env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    env.update({var: str(limits.threads) for var in THREAD_VARS})
    env["TOKENIZERS_PARALLELISM"] = "false"
    for key, value in {**limits.extra_env, **job.env}.items():
        env[key] = value.replace("{work}", work)
    return env


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, symlinks=False)
    else:
        shutil.copy2(source, target)


def _prepare(job: Job, base: Path, level: Isolation, uid: int | None,
             disk_mb: int = 0) -> Layout:
    """Create the runtime and work folders of a job under ``base`` (the work folder owned
    by ``uid``, the sandbox's own user, when given; with a quota, the seed of the
    sandbox's own work folder)."""
    layout = Layout(base / "runtime", base / "work", level, uid, disk_mb or None)
    layout.runtime.mkdir(parents=True)
    here = Path(__file__).parent
    for name, target in RUNTIME_FILES.items():
        shutil.copy2(here / name, layout.runtime / target)
    for module in job.probe_modules:
        _copy(Path(module), layout.runtime / Path(module).name)
    for sub in ("tmp", "outbox", ".cache", ".jupyter"):
        (layout.work / sub).mkdir(parents=True, exist_ok=True)
    for name, host in job.writable_files.items():
        _copy(Path(host), layout.work / name)
    if level is not Isolation.BWRAP:  # bwrap binds them read-only instead
        for name, host in job.files.items():
            _copy(Path(host), layout.work / name)
    startup = layout.work / ".ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    for name, code in job.startup_files.items():
        (startup / name).write_text(code, encoding="utf-8")
    if uid is not None:
        for path in (layout.work, *layout.work.rglob("*")):
            os.chown(path, uid, uid, follow_symlinks=False)
    return layout


def _job_message(job: Job, nonce: str, start: int, limits: SandboxLimits) -> dict[str, Any]:
    return {
        "nonce": nonce,
        "kind": job.kind,
        "start": start,
        "module_source": job.module_source,
        "hidden_code": compile_hidden(job.hidden_code) if job.hidden_code else "",
        "hidden_modules": sorted({*job.hidden_modules, ENGINE_PACKAGE}),
        "steps": [{"step_id": s.step_id, "call": s.call, "args": protocol.encode(list(s.args)),
                   "kwargs": protocol.encode(dict(s.kwargs))} for s in job.steps],
        "notebook": job.notebook,
        "cell_timeout_s": job.cell_timeout_s,
        "output_limit": limits.output_cap_bytes,
        "rlimits": _rlimits(job, limits),
    }


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


class _Attempt:
    """One child process working through the steps from ``start`` on."""

    def __init__(self, job: Job, layout: Layout, limits: SandboxLimits, start: int,
                 read_only: dict[str, Path], cap_s: float, outbox: Path) -> None:
        self.job, self.limits, self.start, self.cap_s = job, limits, start, cap_s
        self.outbox, self.received = outbox, 0  # where FILE messages go; bytes so far
        self.outbox_s = limits.disk_mb / OUTBOX_MIB_PER_S if layout.quota else 0.0
        self.nonce = secrets.token_hex(16)
        self.timeouts = {s.step_id: s.timeout_s for s in job.steps}
        self.timeouts["notebook"] = job.timeout_s
        job_file = layout.work / "job.json"
        job_file.write_text(json.dumps(_job_message(job, self.nonce, start, limits)),
                            encoding="utf-8")
        read_fd, write_fd = os.pipe()
        hidden = {*job.hidden_modules, ENGINE_PACKAGE}
        devices = device_files() if job.gpu else []
        inner_job = (layout.inner_seed if layout.quota else layout.inner_work) / "job.json"
        command = [*prefix(layout, read_only, hidden, devices), sys.executable, "-B", "-u", "-s",
                   str(layout.inner_runtime / RUNTIME_FILES["child.py"]),
                   str(inner_job), str(write_fd)]
        with _LIVE_LOCK:
            if _STOPPING.is_set():
                os.close(read_fd)
                os.close(write_fd)
                raise GraderStopped
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, cwd=layout.work,
                env=_environment(job, layout, limits), pass_fds=(write_fd,),
                start_new_session=True,
            )
            _LIVE.add(self.proc)
        os.close(write_fd)
        self.channel = os.fdopen(read_fd, "rb", buffering=0)
        for fd in (read_fd, self.proc.stdout.fileno()):
            os.set_blocking(fd, False)  # a key reported ready may have been drained since
        self.output = _Tail(limits.output_cap_bytes)
        self.load_errors: list[str] = []

    def _next_step(self, outcomes: Mapping[str, CallOutcome]) -> str | None:
        """The step whose start the grader accepts next."""
        return next((s for s in self.job.step_ids[self.start:] if s not in outcomes), None)

    def run(self) -> tuple[dict[str, CallOutcome], str | None, bool]:
        """(outcomes, step that ended the attempt early or None, whether loading failed)."""
        outcomes: dict[str, CallOutcome] = {}
        selector = selectors.DefaultSelector()
        selector.register(self.channel, selectors.EVENT_READ, "channel")
        selector.register(self.proc.stdout, selectors.EVENT_READ, "output")
        pending = bytearray()
        current: str | None = None
        started = time.monotonic()
        hard_end = started + self.cap_s + self.outbox_s  # no message moves this one
        deadline = started + (self.job.load_timeout_s if self.job.kind == "calls"
                              else NOTEBOOK_START_S)
        loaded = self.job.kind == "notebook"
        channel_open = True
        try:
            while channel_open:
                now = time.monotonic()
                if min(deadline, hard_end) - now <= 0:
                    return self._stop(outcomes, current, loaded, timed_out=True, started=started,
                                      reason="" if deadline <= hard_end else
                                      f"the sandbox ran past its total time limit "
                                      f"({self.cap_s:.0f} s) and was stopped")
                remaining = min(deadline, hard_end) - now
                for key, _ in selector.select(timeout=min(remaining, 1.0)):
                    try:
                        chunk = os.read(key.fileobj.fileno(), 1 << 20)
                    except BlockingIOError:
                        continue
                    if key.data == "output":
                        if chunk:
                            self.output.add(chunk)
                        else:
                            selector.unregister(key.fileobj)
                        continue
                    if not chunk:
                        channel_open = False
                        break
                    complete = chunk.rfind(b"\n")  # whole messages end in this chunk
                    if complete < 0:
                        pending += chunk
                        lines = []
                    else:
                        pending += chunk[:complete]
                        lines = bytes(pending).split(b"\n")
                        pending = bytearray(chunk[complete + 1:])
                    if len(pending) > self.limits.message_cap_bytes:
                        return self._stop(outcomes, current, loaded, too_big=True,
                                          started=started)
                    for line in lines:
                        msg = protocol.parse(line, self.nonce)
                        if msg is None:
                            continue
                        kind = msg["type"]
                        if kind is protocol.MessageType.LOADED:
                            if loaded:
                                continue  # said once; a repeat moves nothing
                            loaded = True
                            self.load_errors = [str(e) for e in msg.get("errors", [])]
                            deadline = time.monotonic() + BETWEEN_STEPS_S
                        elif kind is protocol.MessageType.STEP_START:
                            step_id = msg.get("step_id")
                            if not loaded or current is not None \
                                    or step_id != self._next_step(outcomes):
                                continue  # a repeat, or not the step expected next
                            current = str(step_id)
                            started = time.monotonic()
                            deadline = started + self.timeouts.get(current, 30.0)
                        elif kind is protocol.MessageType.STEP_END:
                            if current is None or msg.get("step_id") != current:
                                continue  # not the step in progress: forged or stray
                            outcomes[current] = self._ended(msg)
                            current = None
                            last = self._next_step(outcomes) is None  # the outbox follows
                            deadline = time.monotonic() + BETWEEN_STEPS_S + (
                                self.outbox_s if last else 0.0)
                        elif kind is protocol.MessageType.FILE:
                            self._receive(msg)
                        elif kind is protocol.MessageType.DONE:
                            return outcomes, None, False
                        elif kind is protocol.MessageType.FATAL:
                            return self._stop(outcomes, current, loaded, started=started,
                                              reason=f"the sandbox runtime failed: "
                                                     f"{msg.get('message', '')}")
            self._drain()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass  # it closed the channel but lives on: killed below
            return self._stop(outcomes, current, loaded, started=started)
        finally:
            _kill(self.proc)
            with _LIVE_LOCK:
                _LIVE.discard(self.proc)
            self.channel.close()
            self.proc.stdout.close()
            selector.close()

    def _receive(self, msg: dict[str, Any]) -> None:
        """Append a piece of an outbox file to the grader's copy: a plain relative path, at
        most the quota in all (the grader alone writes that folder: no links in it)."""
        path, data = msg.get("path"), msg.get("data")
        if not isinstance(path, str) or not isinstance(data, str):
            return
        parts = PurePosixPath(path).parts
        if not parts or path.startswith("/") or any(p in (".", "..") for p in parts):
            return
        try:
            raw = base64.b64decode(data, validate=True)
        except ValueError:
            return
        if self.received + len(raw) > self.limits.disk_mb << 20:
            return  # more than the sandbox could hold: forged
        target = self.outbox.joinpath(*parts)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
        except OSError:
            return
        try:
            os.write(fd, raw)
        finally:
            os.close(fd)
        self.received += len(raw)

    def _drain(self, wait: float = 0.2) -> None:
        """Read the output already written (the child flushes before each message)."""
        fd, budget = self.proc.stdout.fileno(), 64 << 20
        while budget > 0 and select.select([fd], [], [], wait)[0]:
            try:
                chunk = os.read(fd, 1 << 20)
            except BlockingIOError:
                return
            if not chunk:
                return
            self.output.add(chunk)
            budget -= len(chunk)
            wait = 0

    def _ended(self, msg: dict[str, Any]) -> CallOutcome:
        self._drain(wait=0)
        try:
            status = Status(msg.get("status"))
        except ValueError:
            status = Status.ERROR
        error = msg.get("error") if isinstance(msg.get("error"), dict) else {}
        kind = error.get("type")
        lines = error.get("lines") if isinstance(error.get("lines"), list) else []
        count = len(self.job.module_source.splitlines())
        return CallOutcome(
            step_id=str(msg.get("step_id")), status=status,
            value=protocol.decode(msg.get("value")), message=str(msg.get("message", "")),
            seconds=float(msg.get("seconds") or 0.0), stdout_tail=self.output.take(),
            error_type=kind if isinstance(kind, str) and kind in BUILTIN_EXCEPTIONS else "",
            error_lines=tuple([n for n in lines[-100:]
                               if type(n) is int and 1 <= n <= count][-3:]),  # noqa: E721
        )

    def _stop(self, outcomes: dict[str, CallOutcome], current: str | None, loaded: bool, *,
              started: float, timed_out: bool = False, too_big: bool = False,
              reason: str = "") -> tuple[dict[str, CallOutcome], str | None, bool]:
        """The attempt ended early: the step in progress gets the reason."""
        _kill(self.proc)
        self._drain(wait=0)
        if not reason:
            if timed_out and current:
                reason = f"stopped after {self.timeouts.get(current, 30.0):g} s (time limit)"
            elif timed_out:
                what = "loading the notebook's code" if not loaded else "the sandbox"
                reason = f"{what} took too long and was stopped"
            elif too_big:
                reason = (f"the result was larger than {self.limits.message_cap_bytes >> 20} MiB"
                          " and was dropped")
            else:
                reason = describe_exit(self.proc.returncode)
        status = Status.TIMEOUT if timed_out else Status.LIMIT if too_big else Status.DIED
        step = current
        if step is None:
            done = set(outcomes)
            step = next((s for s in self.job.step_ids[self.start:] if s not in done), None)
        if step is not None:
            outcomes[step] = CallOutcome(step, status, message=reason,
                                         seconds=time.monotonic() - started,
                                         stdout_tail=self.output.take())
        return outcomes, step, not loaded


def _safe_outbox(outbox: Path) -> Path:
    """The outbox with every link and special file removed, so the grader may read it."""
    if outbox.is_symlink() or not outbox.is_dir():
        if outbox.is_symlink() or outbox.exists():
            outbox.unlink()
        outbox.mkdir()
        return outbox
    for root, dirs, files in os.walk(outbox, followlinks=False):
        for name in [*files, *dirs]:
            path = Path(root, name)
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                path.unlink()
    return outbox


def run_job(job: Job, base: Path, level: Isolation,
            limits: SandboxLimits = SandboxLimits()) -> JobOutcome:
    """Run ``job`` in a sandbox whose folders live under ``base`` (which must not exist).

    The outcome's ``outbox`` is the host path of the job's outbox folder, links removed; it
    lives until ``base`` is removed.
    """
    with sandbox_user(level) as uid:
        return _run_job(job, base, level, limits, uid)


def _run_job(job: Job, base: Path, level: Isolation, limits: SandboxLimits,
             uid: int | None) -> JobOutcome:
    layout = _prepare(job, base, level, uid, limits.disk_mb)
    # With a quota the sandbox's work folder lives and dies with it: the outbox comes back
    # as FILE messages into a folder of the grader's.
    outbox = base / "outbox" if layout.quota else layout.work / "outbox"
    outbox.mkdir(exist_ok=True)
    return _run_attempts(job, layout, level, limits, outbox)


def _run_attempts(job: Job, layout: Layout, level: Isolation, limits: SandboxLimits,
                  outbox: Path) -> JobOutcome:
    started = time.monotonic()
    job_end = started + job_cap_s(job)
    read_only = {name: Path(p) for name, p in job.files.items()} if level is Isolation.BWRAP \
        else {}
    outcomes: dict[str, CallOutcome] = {}
    load_errors: list[str] = []
    load_failure = ""
    start = 0
    while start < len(job.step_ids):
        left = job_end - time.monotonic()
        if left <= 0:
            for step in job.step_ids[start:]:
                outcomes[step] = CallOutcome(step, Status.TIMEOUT, message=(
                    f"the job ran past its total time limit ({job_cap_s(job):.0f} s); this "
                    "step was not run"))
            break
        attempt = _Attempt(job, layout, limits, start, read_only,
                           min(_attempt_cap_s(job, start), left), outbox)
        got, stopped_at, load_failed = attempt.run()
        if _STOPPING.is_set():
            raise GraderStopped
        outcomes.update(got)
        load_errors = attempt.load_errors or load_errors
        if stopped_at is None:
            break
        if load_failed:
            reason = load_failure = outcomes[stopped_at].message
            for step in job.step_ids[start:]:
                outcomes[step] = CallOutcome(
                    step, outcomes[stopped_at].status,
                    message=f"the notebook's code could not be loaded: {reason}")
            break
        start = job.step_ids.index(stopped_at) + 1
    for step in job.step_ids:
        outcomes.setdefault(step, CallOutcome(step, Status.DIED,
                                              message="the sandbox stopped before this step"))
    return JobOutcome(job.job_id, {s: outcomes[s] for s in job.step_ids}, level,
                      tuple(load_errors), time.monotonic() - started, _safe_outbox(outbox),
                      load_failure)
