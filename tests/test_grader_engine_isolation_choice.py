"""Which isolation a run gets: ``auto`` picks only among isolating levels (bwrap, unshare),
``rlimits`` runs only when named (and under root only with --allow-unsafe-isolation), and
real data needs bwrap; each refusal says what to do."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from autograder.cli import main
from autograder.errors import SandboxError
from autograder.models import Isolation
from autograder.sandbox import isolation
from autograder.sandbox.isolation import choose
from engine_scenarios.engine_helpers import build_submission


def _machine(monkeypatch: pytest.MonkeyPatch, working: set[Isolation], root: bool) -> None:
    monkeypatch.setattr(isolation, "works", lambda level: level in working | {Isolation.RLIMITS})
    monkeypatch.setattr(os, "geteuid", lambda: 0 if root else 1000)


@pytest.mark.parametrize("root", [True, False])
def test_auto_never_falls_back_to_rlimits(monkeypatch: pytest.MonkeyPatch, root: bool) -> None:
    _machine(monkeypatch, set(), root)
    with pytest.raises(SandboxError, match="no isolating sandbox works") as err:
        choose("auto")
    assert "apt-get install bubblewrap" in str(err.value)
    assert "--isolation rlimits" in str(err.value)


def test_auto_takes_the_strongest_isolating_level(monkeypatch: pytest.MonkeyPatch) -> None:
    _machine(monkeypatch, {Isolation.UNSHARE}, root=False)
    assert choose("auto") is Isolation.UNSHARE
    _machine(monkeypatch, {Isolation.UNSHARE, Isolation.BWRAP}, root=True)
    assert choose("auto") is Isolation.BWRAP


def test_rlimits_only_when_named_and_under_root_only_when_allowed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _machine(monkeypatch, {Isolation.BWRAP}, root=False)
    assert choose("rlimits") is Isolation.RLIMITS
    _machine(monkeypatch, {Isolation.BWRAP}, root=True)
    with pytest.raises(SandboxError, match="--allow-unsafe-isolation"):
        choose("rlimits")
    assert choose("rlimits", allow_unsafe=True) is Isolation.RLIMITS


@pytest.mark.parametrize("requested", ["auto", "unshare", "rlimits"])
def test_real_data_needs_bwrap(monkeypatch: pytest.MonkeyPatch, requested: str) -> None:
    _machine(monkeypatch, {Isolation.UNSHARE}, root=False)
    with pytest.raises(SandboxError, match=r"real data \(--data PATH\) needs bwrap"):
        choose(requested, real_data=True, allow_unsafe=True)
    _machine(monkeypatch, {Isolation.BWRAP, Isolation.UNSHARE}, root=False)
    assert choose("auto", real_data=True) is Isolation.BWRAP


def test_the_cli_refuses_rlimits_under_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            capsys) -> None:
    _machine(monkeypatch, {Isolation.BWRAP}, root=True)
    folder = build_submission("perfect", tmp_path / "in")
    args = [str(folder), "--out", str(tmp_path / "out"), "--plugin",
            "engine_scenarios.toy_plugin:plugin", "--no-progress", "--isolation", "rlimits"]
    assert main(args) == 2
    assert "--allow-unsafe-isolation" in capsys.readouterr().err
    assert not (tmp_path / "out" / "gradebook.sqlite").exists()
