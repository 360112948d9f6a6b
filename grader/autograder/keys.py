"""One key derivation for everything the grader keeps between runs: the gradebook's
grading key and the job cache's content address.

A key is the sha256 of its named parts as canonical JSON. Code enters a key as the hash of
its source files (``code_digest``), never as a version string, so that editing a check, a
probe, the engine's scoring or the sandbox runtime changes exactly the keys that depend on
it:

- a job's key (jobcache.py) holds what runs in the sandbox: the job's own code and inputs,
  the probe files, and the sandbox runtime (``SANDBOX_RUNTIME``); a change to a check that
  only judges leaves every job's key, so its outcomes are reused;
- a grading key (pipeline.py) holds the submission, the rubric, the plug-in's code
  (``plugin_modules``) and the engine's grading code (``ENGINE_GRADING``): any of them
  changed, the submission is graded again (its jobs still come from the cache when their
  keys did not change). The reporters are not part of it: their output is rewritten from
  the stored reports on every run.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SOURCE_SUFFIXES = (".py", ".toml", ".j2")
ENGINE = Path(__file__).parent
# The engine's code that decides a report (everything but its output writers and its CLI).
ENGINE_GRADING_EXCLUDED = ("reporters", "cli.py")
SANDBOX_RUNTIME = ENGINE / "sandbox"


def derive_key(**parts: Any) -> str:
    """The sha256 (hex) of the named ``parts``, as canonical JSON."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _sources(path: Path, excluded: Iterable[str] = ()) -> list[Path]:
    if path.is_file():
        return [path]
    skip = set(excluded)
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SOURCE_SUFFIXES
                  and "__pycache__" not in p.parts
                  and p.relative_to(path).parts[0] not in skip)


def source_digest(paths: Iterable[Path], excluded: Iterable[str] = ()) -> str:
    """sha256 over the names (relative to each path) and bytes of the source files
    (``SOURCE_SUFFIXES``) of files or folders ``paths``; ``excluded``: top-level entries of
    a folder left out."""
    digest = hashlib.sha256()
    for root in paths:
        root = Path(root)
        for path in _sources(root, tuple(excluded)):
            name = path.name if path == root else str(path.relative_to(root))
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def module_path(name: str) -> Path:
    """The folder of package ``name``, or the file of module ``name``."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None and not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"no module named {name!r}")
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin)


@functools.cache
def code_digest(*modules: str) -> str:
    """The source digest of the packages or modules ``modules`` (cached per process: code
    does not change under a running grader)."""
    return source_digest([module_path(name) for name in modules])


@functools.cache
def engine_digest() -> str:
    """The engine's grading code: every source file of the engine but its reporters and CLI
    (the sandbox runtime included)."""
    return source_digest([ENGINE], excluded=ENGINE_GRADING_EXCLUDED)


@functools.cache
def sandbox_digest() -> str:
    """The sandbox runtime's code (runner, child, protocol, isolation)."""
    return source_digest([SANDBOX_RUNTIME])


def plugin_modules(plugin: object) -> tuple[str, ...]:
    """The modules whose code decides a plug-in's results: its ``code_modules`` attribute
    when it has one (e.g. its reference solution too), else the top-level package of the
    module that defines its class."""
    declared = getattr(plugin, "code_modules", None)
    if declared:
        return tuple(declared)
    return (type(plugin).__module__.split(".")[0],)
