"""The program that runs INSIDE the sandbox: ``python child.py JOB_FILE CHANNEL_FD``.

It reads the job (then deletes the file), refuses imports of the hidden packages, runs the
student module and the probe steps (or a notebook with nbclient), and writes typed
messages with the job's nonce to the channel fd. Student output goes to stdout/stderr,
which the grader captures with a size cap. Standard library only, besides what a job
needs (nbformat/nbclient for notebooks); the grader package is not importable here.
"""

from __future__ import annotations

import ast
import errno
import importlib
import importlib.abc
import json
import linecache
import os
import sys
import time
import traceback
import types
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

if __package__:
    from . import protocol
    from .hidden_code import run_hidden
else:  # copied into the sandbox next to this file
    import _grader_protocol as protocol  # type: ignore[no-redef]
    from _grader_hidden import run_hidden  # type: ignore[no-redef]

MessageType, StepStatus = protocol.MessageType, protocol.StepStatus
STUDENT_FILE = "<student>"
MESSAGE_LIMIT = 4000


class MissingName(KeyError):
    """A probe asked the student namespace for a name the notebook does not define."""


class StudentNamespace(MutableMapping):
    """The student module's globals as probes see them: ``ns["name"]`` of an undefined
    name raises MissingName (reported as status ``missing``); writes go through."""

    def __init__(self, module: types.ModuleType) -> None:
        self.module = module

    def __getitem__(self, name: str) -> Any:
        try:
            return self.module.__dict__[name]
        except KeyError:
            raise MissingName(name) from None

    def __setitem__(self, name: str, value: Any) -> None:
        self.module.__dict__[name] = value

    def __delitem__(self, name: str) -> None:
        del self.module.__dict__[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.module.__dict__)

    def __len__(self) -> int:
        return len(self.module.__dict__)


class _Refuse(importlib.abc.MetaPathFinder):
    """Refuses to import the grader's hidden packages (solution, checks)."""

    def __init__(self, names: list[str]) -> None:
        self.names = set(names)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


class Channel:
    """Writes this job's messages to the grader's dedicated pipe."""

    def __init__(self, fd: int, nonce: str) -> None:
        os.set_inheritable(fd, False)
        self.fd, self.nonce, self.pid = fd, nonce, os.getpid()

    def send(self, kind: protocol.MessageType, **fields: Any) -> None:
        if os.getpid() != self.pid:  # a copy forked by student code never speaks for the job
            os._exit(0)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a student may have replaced or closed it
                pass
        data = protocol.message(kind, self.nonce, **fields)
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]


def _short(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 20] + " ... (cut)"


def _error_facts(exc: BaseException) -> dict[str, Any]:
    """What the grader may show of an exception from a job holding hidden code: the type's
    name if it is a built-in one, and the student module's line numbers in the traceback
    (the grader checks both and takes the lines' text from its own copy)."""
    kind = type(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    return {"type": kind.__name__ if kind.__module__ == "builtins" else "",
            "lines": [f.lineno for f in frames if f.filename == STUDENT_FILE][-3:]}


def _describe(exc: BaseException) -> tuple[protocol.StepStatus, str]:
    """Status and message for an exception from student or probe code."""
    if isinstance(exc, MissingName):
        return StepStatus.MISSING, f"the notebook defines no {exc.args[0]!r}"
    if isinstance(exc, AttributeError) and isinstance(getattr(exc, "obj", None), types.ModuleType) \
            and getattr(exc.obj, "__name__", "") == "student":
        return StepStatus.MISSING, f"the notebook defines no {exc.name!r}"
    if isinstance(exc, MemoryError) or "can't allocate memory" in str(exc) or (
        "not enough memory" in str(exc)
    ):
        return StepStatus.LIMIT, f"memory limit reached ({type(exc).__name__}: {str(exc)[:200]})"
    if isinstance(exc, OSError) and exc.errno == errno.EAGAIN or (
        isinstance(exc, RuntimeError) and "can't start new thread" in str(exc)
    ):
        return StepStatus.LIMIT, f"process limit reached ({type(exc).__name__}: {exc})"
    if isinstance(exc, SystemExit):
        return StepStatus.ERROR, f"the code called exit({exc.code!r})"
    frames = traceback.extract_tb(exc.__traceback__)
    student = [f for f in frames if f.filename == STUDENT_FILE]
    where = "".join(traceback.format_list(student[-3:])) if student else ""
    detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return StepStatus.ERROR, _short(f"{detail}\n{where}".strip())


def load_student(source: str) -> tuple[types.ModuleType, list[str]]:
    """Exec the student source statement by statement into a fresh module ``student``;
    a failing statement is reported and the rest still runs."""
    module = types.ModuleType("student")
    module.__file__ = STUDENT_FILE
    sys.modules["student"] = module
    lines = source.splitlines(keepends=True)
    linecache.cache[STUDENT_FILE] = (len(source), None, lines, STUDENT_FILE)
    errors: list[str] = []
    try:
        tree = ast.parse(source, STUDENT_FILE)
    except SyntaxError as exc:
        return module, [f"the module does not parse: {exc}"]
    for stmt in tree.body:
        code = compile(ast.Module(body=[stmt], type_ignores=[]), STUDENT_FILE, "exec")
        try:
            exec(code, module.__dict__)
        except BaseException as exc:  # noqa: BLE001 - reported, the rest goes on
            first = lines[stmt.lineno - 1].strip() if stmt.lineno <= len(lines) else "?"
            errors.append(_short(f"`{first[:80]}` failed: {_describe(exc)[1]}"))
    errors.extend(module.__dict__.get("__grader_import_errors__", []))
    return module, errors


def _resolve(call: str, module: types.ModuleType) -> tuple[Any, bool]:
    """(function, whether it is a probe that takes the namespace first)."""
    where, _, name = call.partition(":")
    if where == "student":
        if name not in module.__dict__:
            raise MissingName(name)
        return module.__dict__[name], False
    return getattr(importlib.import_module(where), name), True


def run_step(step: dict[str, Any], module: types.ModuleType, channel: Channel) -> None:
    channel.send(MessageType.STEP_START, step_id=step["step_id"])
    started = time.perf_counter()
    try:
        func, is_probe = _resolve(step["call"], module)
        args = protocol.decode(step.get("args", []))
        kwargs = protocol.decode(step.get("kwargs", {}))
        if is_probe:
            args = [StudentNamespace(module), *args]
        value = protocol.encode(func(*args, **kwargs))
        status, text, facts = StepStatus.OK, "", None
    except BaseException as exc:  # noqa: BLE001 - every outcome is a message
        value = None
        status, text = _describe(exc)
        facts = _error_facts(exc)
    channel.send(MessageType.STEP_END, step_id=step["step_id"], status=status.value,
                 value=value, message=text, error=facts, seconds=time.perf_counter() - started)


# --------------------------------------------------------------------------- notebooks


def _cell_text(cell: dict[str, Any], limit: int) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(str(out.get("text", "")))
        elif "data" in out and "text/plain" in out["data"]:
            parts.append(str(out["data"]["text/plain"]) + "\n")
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}\n")
    text = "".join(parts)
    return text if len(text) <= limit else "... (cut) ..." + text[-limit:]


def _cap_outputs(nb: Any, limit: int) -> None:
    """Cut every output's text so a flood of prints cannot fill the disk or the grader."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text" in out and len(out["text"]) > limit:
                out["text"] = "... (cut) ..." + out["text"][-limit:]
            for key, value in list(out.get("data", {}).items()):
                if isinstance(value, str) and len(value) > limit:
                    out["data"][key] = value[:limit] + "... (cut)"


def run_notebook(job: dict[str, Any], channel: Channel) -> None:
    """Execute the job's notebook with nbclient; one step, ``notebook``."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError
    from traitlets.config import Config

    channel.send(MessageType.STEP_START, step_id="notebook")
    started = time.perf_counter()
    outbox = Path(os.environ["GRADER_OUTBOX"])
    limit = int(job.get("output_limit", 20000))
    nb = nbformat.from_dict(job["notebook"])
    config = Config()
    config.KernelManager.transport = "ipc"  # no TCP: the sandbox may have no loopback
    client = NotebookClient(nb, config=config, kernel_name="python3",
                            timeout=job.get("cell_timeout_s", 60), allow_errors=True,
                            interrupt_on_timeout=True,
                            resources={"metadata": {"path": os.getcwd()}})
    status, text = StepStatus.OK, ""
    try:
        client.execute()
    except DeadKernelError as exc:
        status, text = StepStatus.ERROR, f"the kernel died: {exc}"
    except BaseException as exc:  # noqa: BLE001 - reported, partial outputs still count
        status, text = StepStatus.ERROR, _short(f"{type(exc).__name__}: {exc}")
    _cap_outputs(nb, limit)
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        error = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"),
                     None)
        cells.append({
            "index": index, "id": cell.get("id"), "tags": cell.get("metadata", {}).get("tags", []),
            "execution_count": cell.get("execution_count"),
            "error": {"ename": error.get("ename"), "evalue": str(error.get("evalue"))[:limit]}
            if error else None,
            "text": _cell_text(cell, limit),
        })
    outbox.mkdir(exist_ok=True)
    nbformat.write(nb, str(outbox / "executed.ipynb"))
    files = {}
    for path in sorted(outbox.glob("*.json")):
        if path.is_file() and not path.is_symlink() and path.stat().st_size <= 50_000_000:
            try:
                files[path.name] = json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                files[path.name] = {"__repr__": f"not JSON: {exc}"}
    channel.send(MessageType.STEP_END, step_id="notebook", status=status.value,
                 value={"cells": cells, "outbox": files}, message=text,
                 seconds=time.perf_counter() - started)


# ------------------------------------------------------------------------------- main


def set_limits(limits: dict[str, int]) -> None:
    """Cap this process (and all it starts): address space, CPU time, processes, file size."""
    import resource

    for name, value in limits.items():
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError):
            pass  # a lower hard limit already applies


def seed_work(seed: str) -> None:
    """Copy the prepared folder into this sandbox's own (size-limited) work folder."""
    import shutil

    for entry in os.scandir(seed):  # the work folder itself is root's tmpfs: no copystat
        if entry.name == "job.json" or entry.is_symlink():
            continue
        if entry.is_dir():
            shutil.copytree(entry.path, entry.name, symlinks=False, dirs_exist_ok=True)
        else:
            shutil.copy2(entry.path, entry.name)


def send_outbox(channel: Channel, chunk: int = 4 << 20) -> None:
    """Hand the outbox's plain files to the grader (the work folder dies with us)."""
    import base64

    outbox = Path(os.environ["GRADER_OUTBOX"])
    for root, dirs, files in os.walk(outbox, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = Path(root, name)
            if path.is_symlink() or not path.is_file():
                continue
            relative = path.relative_to(outbox).as_posix()
            with open(path, "rb") as handle:
                while piece := handle.read(chunk):
                    channel.send(MessageType.FILE, path=relative,
                                 data=base64.b64encode(piece).decode())


def main(job_file: str, fd: str) -> int:
    job = json.loads(Path(job_file).read_text(encoding="utf-8"))
    try:
        os.unlink(job_file)
    except OSError:
        pass  # read-only (the seed of a size-limited work folder)
    set_limits(job.get("rlimits", {}))
    channel = Channel(int(fd), job["nonce"])
    seed = os.environ.pop("GRADER_SEED", "")
    sys.meta_path.insert(0, _Refuse(job.get("hidden_modules", [])))
    sys.stdin = open(os.devnull)  # noqa: SIM115 - the process's lifetime
    channel.send(MessageType.HELLO, pid=os.getpid(), python=sys.version.split()[0])
    try:
        if seed:
            seed_work(seed)
        if job["kind"] == "notebook":
            run_notebook(job, channel)
        else:
            started = time.perf_counter()
            module, errors = load_student(job.get("module_source", ""))
            hidden = job.pop("hidden_code", "")
            if hidden:  # the grader's own code, run after the student's, with no source
                try:
                    run_hidden(hidden, module.__dict__)
                except BaseException as exc:  # noqa: BLE001 - reported like the student's
                    errors.append(f"the grader's code failed: {type(exc).__name__}")
            del hidden
            channel.send(MessageType.LOADED, errors=errors,
                         seconds=time.perf_counter() - started)
            for step in job["steps"][job.get("start", 0):]:
                run_step(step, module, channel)
        if seed:
            send_outbox(channel)
    except BaseException as exc:  # noqa: BLE001 - the runtime itself failed
        channel.send(MessageType.FATAL, message=_short(traceback.format_exc() or repr(exc)))
        return 1
    channel.send(MessageType.DONE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
