"""noxfile.py: `nox -s tests` and `nox -s grade` share one helper that installs the
sandbox's programs (as root, with apt-get) and never hides a failed install."""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@functools.cache
def _noxfile():
    spec = importlib.util.spec_from_file_location("kit_noxfile", ROOT / "noxfile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Session:
    def __init__(self, fail: bool = False) -> None:
        self.runs: list[tuple[str, ...]] = []
        self.logs: list[str] = []
        self.fail = fail

    def run(self, *args: str, **_: object) -> None:
        self.runs.append(args)
        if self.fail and "install" in args:
            raise RuntimeError("apt-get install failed")  # as nox does: the session fails

    def log(self, text: str) -> None:
        self.logs.append(text)


def _machine(monkeypatch: pytest.MonkeyPatch, present: set[str], root: bool) -> None:
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}" if name in present
                        else None if name in ("bwrap", "setpriv", "unshare") else which(name))
    monkeypatch.setattr(os, "geteuid", lambda: 0 if root else 1000)


def test_root_with_apt_installs_what_the_sandbox_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    nox_file = _noxfile()
    _machine(monkeypatch, {"apt-get", "unshare"}, root=True)
    session = _Session()
    nox_file._sandbox_tools(session)
    assert session.runs[-1] == ("apt-get", "install", "-y", "-qq", "bubblewrap", "util-linux")


def test_a_failed_install_fails_the_session(monkeypatch: pytest.MonkeyPatch) -> None:
    nox_file = _noxfile()
    _machine(monkeypatch, {"apt-get"}, root=True)
    with pytest.raises(RuntimeError, match="apt-get install failed"):
        nox_file._sandbox_tools(_Session(fail=True))


def test_without_root_it_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    nox_file = _noxfile()
    _machine(monkeypatch, {"apt-get", "setpriv", "unshare"}, root=False)
    session = _Session()
    nox_file._sandbox_tools(session)
    assert session.runs == [] and "bubblewrap missing" in session.logs[0]


def test_both_sessions_use_the_helper() -> None:
    text = (ROOT / "noxfile.py").read_text()
    tests_body = text[text.index("def tests("):text.index("def grade(")]
    grade_body = text[text.index("def grade("):text.index("def lint(")]
    assert "_sandbox_tools(session" in tests_body and "_sandbox_tools(session)" in grade_body
    ci = (ROOT / ".ci" / "run").read_text()
    assert "||" not in ci and "set -euo pipefail" in ci and "CI=" in ci
