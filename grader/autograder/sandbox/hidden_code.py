"""Code the grader runs inside a sandbox without letting the sandbox read it back as text.

A plug-in may run hidden code (e.g. a reference solution's pieces) next to a student's,
so that a later item does not pay for an earlier mistake. Such code
is compiled HERE, in the grader, with ``optimize=2`` (no docstrings, no asserts) under a
file name that has no source anywhere (``HIDDEN_FILE``), and travels as a marshalled code
object: ``inspect.getsource``, ``linecache``, tracebacks and ``__doc__`` have no text for
it. What a code object must hold (names, constants) stays readable by code in the same
process, so reports of jobs that carry hidden code must still show students only text the
grader wrote (see the plug-in's messages and ``CheckResult.detail``).

The blob is base64 of the interpreter's bytecode magic number and ``marshal.dumps`` (format
2: no reference-count-dependent back-references, so the same source gives the same bytes
and the same job-cache key in every run); the sandbox runs the grader's own Python, and a
mismatch is refused with a clear error.
"""

from __future__ import annotations

import base64
import importlib.util
import marshal

HIDDEN_FILE = "<grader-hidden>"
# Defines __grader_hidden__(blob) in an IPython kernel's user namespace (a startup file):
# a notebook cell calling it runs hidden code with no source in the cell, `In` or history.
NOTEBOOK_STARTUP = '''
def __grader_hidden__(blob, _ns=globals()):
    import base64, importlib.util, marshal
    data = base64.b64decode(blob)
    magic = importlib.util.MAGIC_NUMBER
    if data[:len(magic)] != magic:
        raise RuntimeError("the grader's hidden code was compiled by another Python")
    exec(marshal.loads(data[len(magic):]), _ns)
'''


def compile_hidden(source: str) -> str:
    """``source`` compiled apart (docstrings and asserts removed), as base64 text."""
    code = compile(source, HIDDEN_FILE, "exec", optimize=2, dont_inherit=True)
    return base64.b64encode(importlib.util.MAGIC_NUMBER + marshal.dumps(code, 2)).decode()


def run_hidden(blob: str, namespace: dict) -> None:
    """Execute a blob of ``compile_hidden`` into ``namespace`` (in the sandbox)."""
    data = base64.b64decode(blob)
    magic = importlib.util.MAGIC_NUMBER
    if data[:len(magic)] != magic:
        raise RuntimeError("the grader's hidden code was compiled by another Python")
    exec(marshal.loads(data[len(magic):]), namespace)  # noqa: S102 - the grader's own code
