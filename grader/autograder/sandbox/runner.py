"""Run a Job in a sandboxed child process and turn everything that happens into outcomes.

The child gets a cleaned environment, a fresh work folder holding only the files the job
names, resource limits (address space, CPU time, processes, file size), its own process
group, and the isolation level's namespaces. Each step has a wall-clock limit enforced by
killing the process group (never by threads). stdout and stderr are captured with a size
cap. A child that dies or hangs on step k yields outcomes for k, and a fresh child goes
on with step k+1; a child that cannot even load the student module fails every step with
the reason.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import describe_exit
from ..models import CallOutcome, Isolation, Job, JobOutcome, Status
from . import protocol
from .gpu import device_files
from .isolation import Layout, prefix, sandbox_user

ENGINE_PACKAGE = __name__.split(".")[0]  # never importable by student code
RUNTIME_FILES = {"child.py": "_grader_child.py", "protocol.py": "_grader_protocol.py"}
BETWEEN_STEPS_S = 30.0  # the runtime's own work between two steps
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
    extra_env: Mapping[str, str] = field(default_factory=dict)


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


def _prepare(job: Job, base: Path, level: Isolation, uid: int | None) -> Layout:
    """Create the runtime and work folders of a job under ``base`` (the work folder owned
    by ``uid``, the sandbox's own user, when given)."""
    layout = Layout(base / "runtime", base / "work", level, uid)
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
                 read_only: dict[str, Path]) -> None:
        self.job, self.limits, self.start = job, limits, start
        self.nonce = secrets.token_hex(16)
        self.timeouts = {s.step_id: s.timeout_s for s in job.steps}
        self.timeouts["notebook"] = job.timeout_s
        job_file = layout.work / "job.json"
        job_file.write_text(json.dumps(_job_message(job, self.nonce, start, limits)),
                            encoding="utf-8")
        read_fd, write_fd = os.pipe()
        hidden = {*job.hidden_modules, ENGINE_PACKAGE}
        devices = device_files() if job.gpu else []
        command = [*prefix(layout, read_only, hidden, devices), sys.executable, "-B", "-u", "-s",
                   str(layout.inner_runtime / RUNTIME_FILES["child.py"]),
                   str(layout.inner_work / "job.json"), str(write_fd)]
        self.proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, cwd=layout.work, env=_environment(job, layout, limits),
            pass_fds=(write_fd,), start_new_session=True,
        )
        os.close(write_fd)
        self.channel = os.fdopen(read_fd, "rb", buffering=0)
        for fd in (read_fd, self.proc.stdout.fileno()):
            os.set_blocking(fd, False)  # a key reported ready may have been drained since
        self.output = _Tail(limits.output_cap_bytes)
        self.load_errors: list[str] = []

    def run(self) -> tuple[dict[str, CallOutcome], str | None, bool]:
        """(outcomes, step that ended the attempt early or None, whether loading failed)."""
        outcomes: dict[str, CallOutcome] = {}
        selector = selectors.DefaultSelector()
        selector.register(self.channel, selectors.EVENT_READ, "channel")
        selector.register(self.proc.stdout, selectors.EVENT_READ, "output")
        pending = b""
        current: str | None = None
        started = time.monotonic()
        deadline = started + (self.job.load_timeout_s if self.job.kind == "calls" else 60.0)
        loaded = self.job.kind == "notebook"
        channel_open = True
        try:
            while channel_open:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return self._stop(outcomes, current, loaded, timed_out=True, started=started)
                for key, _ in selector.select(timeout=min(remaining, 1.0)):
                    try:
                        chunk = os.read(key.fileobj.fileno(), 1 << 16)
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
                    pending += chunk
                    if len(pending) > self.limits.message_cap_bytes:
                        return self._stop(outcomes, current, loaded, too_big=True,
                                          started=started)
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        msg = protocol.parse(line, self.nonce)
                        if msg is None:
                            continue
                        kind = msg["type"]
                        if kind is protocol.MessageType.LOADED:
                            loaded = True
                            self.load_errors = [str(e) for e in msg.get("errors", [])]
                            deadline = time.monotonic() + BETWEEN_STEPS_S
                        elif kind is protocol.MessageType.STEP_START:
                            current = str(msg.get("step_id"))
                            started = time.monotonic()
                            deadline = started + self.timeouts.get(current, 30.0)
                        elif kind is protocol.MessageType.STEP_END:
                            if current is None or msg.get("step_id") != current:
                                continue  # not the step in progress: forged or stray
                            outcomes[current] = self._ended(msg)
                            current = None
                            deadline = time.monotonic() + BETWEEN_STEPS_S
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
            self.channel.close()
            self.proc.stdout.close()
            selector.close()

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
        return CallOutcome(
            step_id=str(msg.get("step_id")), status=status,
            value=protocol.decode(msg.get("value")), message=str(msg.get("message", "")),
            seconds=float(msg.get("seconds") or 0.0), stdout_tail=self.output.take(),
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


def _safe_outbox(work: Path) -> Path:
    """The outbox with every link and special file removed, so the grader may read it."""
    outbox = work / "outbox"
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
    started = time.monotonic()
    layout = _prepare(job, base, level, uid)
    read_only = {name: Path(p) for name, p in job.files.items()} if level is Isolation.BWRAP \
        else {}
    outcomes: dict[str, CallOutcome] = {}
    load_errors: list[str] = []
    load_failure = ""
    start = 0
    while start < len(job.step_ids):
        attempt = _Attempt(job, layout, limits, start, read_only)
        got, stopped_at, load_failed = attempt.run()
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
                      tuple(load_errors), time.monotonic() - started, _safe_outbox(layout.work),
                      load_failure)
