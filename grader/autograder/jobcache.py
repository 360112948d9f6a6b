"""Job outcomes kept by content. Grading is deterministic, so the same job (same student
code, arguments, probe code, data files, environment, isolation level and library versions)
has the same outcome: it runs once, and every later submission holding the same notebook
(an untouched starter lab, a re-submission, a `--regrade` after a rubric change) reuses it.

Entries are plain JSON (values in the sandbox protocol's tagged form, never pickle) plus a
copy of the job's outbox, under ``<out>/.cache/jobs/<key>/``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

from . import __version__
from .models import CallOutcome, Isolation, Job, JobOutcome, Status
from .sandbox.protocol import decode, encode

FORMAT = 2  # of the stored entries (2: with the outcome's load_failure)
# The engine's own libraries that run student code; a plug-in adds those its jobs use
# (``HomeworkPlugin.libraries``).
ENGINE_LIBRARIES = ("nbclient", "nbformat", "ipykernel")


@cache
def _tree_digest(path: Path) -> str:
    """Names, sizes and modification times of a file or every file under a folder."""
    h = hashlib.sha256()
    paths = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in paths:
        st = p.stat()
        h.update(f"{p.relative_to(path) if p != path else p.name}\0{st.st_size}\0"
                 f"{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


@cache
def _environment(libraries: tuple[str, ...]) -> str:
    """The Python, kit and library versions (distribution names) a job's outcome depends on."""
    versions = []
    for name in (*ENGINE_LIBRARIES, *libraries):
        try:
            versions.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name}=-")
    return f"{sys.version}|{__version__}|{'|'.join(versions)}"


def job_key(job: Job, isolation: Isolation, limits: object,
            libraries: tuple[str, ...] = ()) -> str:
    """The content address of a job's outcome; ``libraries``: the distributions (beyond the
    engine's) whose versions may change it."""
    spec = {
        "format": FORMAT, "kind": job.kind, "module_source": job.module_source,
        "notebook": job.notebook,
        "steps": [dataclasses.asdict(s) for s in job.steps],
        "timeouts": [job.cell_timeout_s, job.timeout_s, job.load_timeout_s],
        "probes": [Path(p).read_text(encoding="utf-8") for p in job.probe_modules],
        "files": {k: _tree_digest(Path(p)) for k, p in sorted(job.files.items())},
        "writable": {k: _tree_digest(Path(p)) for k, p in sorted(job.writable_files.items())},
        "env": dict(job.env), "startup": dict(job.startup_files),
        "hidden": list(job.hidden_modules), "isolation": isolation.value, "gpu": job.gpu,
        "limits": repr(limits), "environment": _environment(tuple(libraries)),
    }
    text = json.dumps(spec, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class JobCache:
    """A folder of finished job outcomes, keyed by `job_key`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def get(self, key: str, job_id: str) -> JobOutcome | None:
        entry = self.root / key
        try:
            data = json.loads((entry / "outcome.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        steps = {s["step_id"]: CallOutcome(s["step_id"], Status(s["status"]),
                                           decode(s["value"]), s["message"], s["seconds"],
                                           s["stdout_tail"]) for s in data["steps"]}
        outbox = entry / "outbox"
        return JobOutcome(job_id, steps, Isolation(data["isolation"]),
                          tuple(data["load_errors"]), data["seconds"],
                          outbox if outbox.is_dir() else None, data.get("load_failure", ""))

    def put(self, key: str, outcome: JobOutcome) -> None:
        """Store an outcome; timeouts and crashes are not stored (they may be load-bound)."""
        if any(s.status in (Status.TIMEOUT, Status.DIED) for s in outcome.steps.values()):
            return
        entry = self.root / key
        tmp = self.root / f".{key}.{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if outcome.outbox is not None and outcome.outbox.is_dir():
            shutil.copytree(outcome.outbox, tmp / "outbox", symlinks=True)
        steps = [{"step_id": s.step_id, "status": s.status.value, "value": encode(s.value),
                  "message": s.message, "seconds": s.seconds, "stdout_tail": s.stdout_tail}
                 for s in outcome.steps.values()]
        (tmp / "outcome.json").write_text(json.dumps({
            "steps": steps, "isolation": outcome.isolation.value,
            "load_errors": list(outcome.load_errors), "seconds": outcome.seconds,
            "load_failure": outcome.load_failure,
        }), encoding="utf-8")
        shutil.rmtree(entry, ignore_errors=True)
        tmp.rename(entry)
