"""Job outcomes kept by content. Grading is deterministic, so the same job (same student
code, arguments, probe code, data files, environment, isolation level, sandbox runtime
code and library versions) has the same outcome: it runs once, and every later submission
holding the same notebook (an untouched starter lab, a re-submission, a `--regrade` after a
rubric change) reuses it.

Entries are plain JSON (values in the sandbox protocol's tagged form, never pickle) under
``<out>/.cache/jobs/<key>/``; never the job's outbox (saved weights and the like: a job
that needs them reads them in its own sandbox, ``Job.reads_outbox_of``), so an outcome from
the cache has no ``outbox``. The cache is bounded (``cache_max_gb``): after each store the
least recently used entries are removed until it fits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

from .keys import derive_key, sandbox_digest, source_digest
from .models import CallOutcome, Isolation, Job, JobOutcome, Status
from .sandbox.protocol import decode, encode

log = logging.getLogger("autograder")
FORMAT = 3  # of the stored entries (2: with the outcome's load_failure; 3: no outbox)
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
    return f"{sys.version}|{'|'.join(versions)}"


def job_key(job: Job, isolation: Isolation, limits: object,
            libraries: tuple[str, ...] = ()) -> str:
    """The content address of a job's outcome (keys.py: the same derivation as the
    gradebook's; code enters it as the hash of its source, the sandbox runtime's too);
    ``libraries``: the distributions (beyond the engine's) whose versions may change it."""
    return derive_key(
        format=FORMAT, kind=job.kind, module_source=job.module_source, notebook=job.notebook,
        steps=[dataclasses.asdict(s) for s in job.steps],
        timeouts=[job.cell_timeout_s, job.timeout_s, job.load_timeout_s],
        probes=source_digest(Path(p) for p in job.probe_modules),
        files={k: _tree_digest(Path(p)) for k, p in sorted(job.files.items())},
        writable={k: _tree_digest(Path(p)) for k, p in sorted(job.writable_files.items())},
        env=dict(job.env), startup=dict(job.startup_files),
        hidden=list(job.hidden_modules), isolation=isolation.value, gpu=job.gpu,
        limits=repr(limits), environment=_environment(tuple(libraries)),
        runtime=sandbox_digest(),
    )


class JobCache:
    """A folder of finished job outcomes, keyed by `job_key`, at most ``max_bytes`` big."""

    def __init__(self, root: Path, max_bytes: int | None = None) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes

    def get(self, key: str, job_id: str) -> JobOutcome | None:
        """The stored outcome, or None. An entry that cannot be read back whole (cut short,
        edited, from an older format) is a miss: it is removed and the job runs again."""
        entry = self.root / key
        if not (entry / "outcome.json").is_file():
            return None
        try:
            data = json.loads((entry / "outcome.json").read_text(encoding="utf-8"))
            steps = {s["step_id"]: CallOutcome(s["step_id"], Status(s["status"]),
                                               decode(s["value"]), s["message"], s["seconds"],
                                               s["stdout_tail"]) for s in data["steps"]}
            outcome = JobOutcome(job_id, steps, Isolation(data["isolation"]),
                                 tuple(data["load_errors"]), data["seconds"], None,
                                 data["load_failure"])
        except Exception:  # noqa: BLE001 - any damage: not an outcome
            log.warning("job cache entry %s is damaged; running the job again", key,
                        exc_info=True)
            shutil.rmtree(entry, ignore_errors=True)
            return None
        os.utime(entry)  # recently used: evicted last
        return outcome

    def put(self, key: str, outcome: JobOutcome) -> None:
        """Store an outcome; timeouts and crashes are not stored (they may be load-bound)."""
        if any(s.status in (Status.TIMEOUT, Status.DIED) for s in outcome.steps.values()):
            return
        entry = self.root / key
        tmp = self.root / f".{key}.{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
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
        self.evict()

    def evict(self) -> list[str]:
        """Remove the least recently used entries until the cache fits ``max_bytes``; the
        keys removed."""
        if self.max_bytes is None or not self.root.is_dir():
            return []
        entries = []
        for entry in self.root.iterdir():
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            size = sum(p.stat().st_size for p in entry.rglob("*") if p.is_file())
            entries.append((entry.stat().st_mtime_ns, entry.name, size))
        total = sum(size for *_, size in entries)
        removed = []
        for _, name, size in sorted(entries):
            if total <= self.max_bytes:
                break
            shutil.rmtree(self.root / name, ignore_errors=True)
            total -= size
            removed.append(name)
        return removed
