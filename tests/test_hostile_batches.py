"""The hostile corpus's attacks on a batch as a whole (tests/hostile/make_corpus.py,
``BATCH_ATTACKS``): each graded through the command line in a batch of its own, with the
engine's toy homework, and held to its outcome in expected.json: the exit code, who was
graded, who was refused and why, who met an internal error, and on a rerun the same."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from autograder.cli import main
from autograder.failures import ERRORS_FILE, STAFF_DIR
from autograder.models import Isolation
from autograder.sandbox import isolation
from hostile.make_corpus import BATCH_ATTACKS, EXPECTED_FILE, BatchAttack

EXPECTED = json.loads(EXPECTED_FILE.read_text())


def _stored(out: Path) -> dict[str, dict]:
    if not (out / "gradebook.sqlite").exists():
        return {}
    with sqlite3.connect(out / "gradebook.sqlite") as db:
        return {sid: json.loads(text) for sid, text in
                db.execute("SELECT student_id, report FROM results").fetchall()}


def _run(attack: BatchAttack, path: Path, out: Path, capsys) -> tuple[int, str, str]:
    code = main([str(path), "--out", str(out), "--plugin", attack.plugin, "--no-progress",
                 *attack.flags])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _check(want: dict, code: int, out_text: str, err: str, out: Path, before: dict) -> None:
    assert code == want["exit"], err
    if "stderr" in want:
        assert want["stderr"] in err
    stored = _stored(out)
    graded = sorted(s for s in stored if stored[s] != before.get(s))
    assert graded == sorted(want["graded"])
    for student, reason in want.get("refused", {}).items():
        assert reason in stored[student]["error"]
    for student in set(want["graded"]) - set(want.get("refused", {})):
        assert stored[student]["error"] == ""
    staff = out / STAFF_DIR / ERRORS_FILE
    if want["internal_errors"]:
        text = staff.read_text()
        assert all(f"## {s} (" in text for s in want["internal_errors"])
        assert not set(want["internal_errors"]) & set(stored)
    else:
        assert not staff.exists()


@pytest.mark.parametrize("attack", BATCH_ATTACKS, ids=lambda a: a.name)
def test_batch_attack(attack: BatchAttack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      capsys) -> None:
    want = EXPECTED[attack.name]
    if attack.as_root and not isolation.drops_privileges(Isolation.BWRAP):
        # The pool of sandbox users exists under root with bwrap; elsewhere, as if there.
        monkeypatch.setattr(isolation, "drops_privileges", lambda level: True)
    path, env = attack.build(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "out"
    code, text, err = _run(attack, path, out, capsys)
    _check(want, code, text, err, out, {})
    if "rerun" in want:
        before = _stored(out)
        code, text, err = _run(attack, path, out, capsys)
        again = {"refused": {}, **want["rerun"]}  # only what the rerun states
        _check(again, code, text, err, out, before)
