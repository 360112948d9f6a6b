"""The grader's error tree.

Errors build on standard bases so callers may catch them generically, carry plain
arguments only (picklable), and are made by ``from_*`` class methods where the message
follows a template.
"""

from __future__ import annotations

import signal


class GraderError(Exception):
    """Base of every error the grading engine raises on purpose."""


class ConfigError(GraderError, ValueError):
    """A setting has a bad value; the message names where the value came from."""

    @classmethod
    def from_value(cls, name: str, value: object, source: str, why: str) -> ConfigError:
        return cls(f"setting {name}={value!r} (from {source}): {why}")


class BadSubmission(GraderError):
    """A submission (or one part of it) cannot be read; grading of that part stops."""


class UnsafeArchive(BadSubmission):
    """A zip file breaks a safety rule (path traversal, link, size or ratio cap)."""

    @classmethod
    def from_member(cls, archive: str, member: str, why: str) -> UnsafeArchive:
        return cls(f"{archive}: refused to unpack {member!r}: {why}")


class BadNotebook(BadSubmission):
    """A notebook file is not JSON or not a Jupyter notebook."""

    @classmethod
    def from_path(cls, path: str, why: str) -> BadNotebook:
        return cls(f"{path} is not a readable Jupyter notebook: {why}")


class RubricError(GraderError, ValueError):
    """The rubric file is malformed or does not match the plug-in's checks."""


class PluginError(GraderError):
    """The homework plug-in cannot be loaded or broke its contract."""


class SandboxError(GraderError):
    """The sandbox could not be set up (not a student fault)."""


_SIGNAL_HINTS = {
    signal.SIGKILL: "killed (SIGKILL: memory exhausted or killed from outside)",
    signal.SIGSEGV: "crashed (SIGSEGV: segmentation fault)",
    signal.SIGABRT: "aborted (SIGABRT)",
    signal.SIGXCPU: "stopped by the CPU-time limit (SIGXCPU)",
    signal.SIGXFSZ: "stopped by the file-size limit (SIGXFSZ)",
}


def describe_exit(returncode: int | None) -> str:
    """Say in words how a process ended, from its return code."""
    if returncode is None:
        return "the process did not exit"
    if returncode < 0:
        sig = -returncode
        return f"the process was {_SIGNAL_HINTS.get(sig, f'killed by signal {sig}')}"
    if returncode > 128 and returncode - 128 in _SIGNAL_HINTS:
        return f"the process was {_SIGNAL_HINTS[returncode - 128]}"
    return f"the process exited with code {returncode}"
