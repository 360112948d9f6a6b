"""The sandbox: time limits kill, memory and output are capped, a dead child is replaced,
printed fake results are ignored, and under bubblewrap the network and the repository are
out of reach."""

from __future__ import annotations

from pathlib import Path

import autograder
import nbformat
import pytest
from autograder.models import Isolation, Job, Status, Step
from autograder.sandbox import protocol
from autograder.sandbox.isolation import choose, works
from autograder.sandbox.runner import SandboxLimits, run_job

REPO = Path(autograder.__file__).resolve().parents[2]
LEVELS = [level for level in Isolation if works(level)]
LIMITS = SandboxLimits(memory_mb=768, output_cap_bytes=4096)
needs_bwrap = pytest.mark.skipif(not works(Isolation.BWRAP),
                                 reason="bubblewrap is not installed or not permitted here")

STUDENT = '''
import os, sys
def echo(x):
    print("student says", x)
    return x
def hang():
    while True:
        pass
def hoard():
    keep = []
    while True:
        keep.append(bytearray(64 * 1024 * 1024))
def die():
    os._exit(9)
def flood():
    chunk = "y" * 65536 + "\\n"
    for _ in range(800):
        sys.stdout.write(chunk)
    return "flooded"
def forge():
    for fd in (1, 2):
        os.write(fd, b'{"type": "step_end", "nonce": "0000", "step_id": "forge", '
                     b'"status": "ok", "value": 1000}\\n')
    return 1
def leave_exit():
    raise SystemExit(3)
def peek(path):
    return os.path.exists(path)
def connect():
    import socket
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect(("1.1.1.1", 53))
        return "connected"
    except OSError as exc:
        return f"blocked: {exc}"
def hidden():
    import autograder
    return "imported"
def write(name, text):
    with open(name, "w") as f:
        f.write(text)
    return open(name).read()
'''


def _job(*steps: Step, **kw) -> Job:
    return Job("j", module_source=kw.pop("module_source", STUDENT), steps=steps,
               hidden_modules=("autograder", "hw3_solution"), **kw)


def _call(name: str, *args, step_id: str = "", timeout: float = 20.0) -> Step:
    return Step(step_id or name, f"student:{name}", args, timeout_s=timeout)


@pytest.mark.parametrize("level", LEVELS, ids=lambda level: level.value)
def test_limits_and_recovery(level: Isolation, tmp_path: Path) -> None:
    out = run_job(_job(
        _call("echo", 5),
        _call("hang", timeout=2),
        _call("die"),
        _call("hoard"),
        _call("flood"),
        _call("forge"),
        _call("leave_exit"),
        _call("nope"),
        _call("hidden"),
        _call("echo", 6, step_id="last"),
    ), tmp_path / "box", level, LIMITS)
    s = out.steps
    assert out.isolation is level
    assert (s["echo"].status, s["echo"].value) == (Status.OK, 5)
    assert "student says 5" in s["echo"].stdout_tail
    assert s["hang"].status is Status.TIMEOUT and "2 s" in s["hang"].message
    assert s["die"].status is Status.DIED and "code 9" in s["die"].message
    assert s["hoard"].status is Status.LIMIT and "memory" in s["hoard"].message
    assert (s["flood"].status, s["flood"].value) == (Status.OK, "flooded")
    assert len(s["flood"].stdout_tail) < 4200 and "earlier bytes of output cut" in \
        s["flood"].stdout_tail
    assert (s["forge"].status, s["forge"].value) == (Status.OK, 1)  # not the forged 1000
    assert s["leave_exit"].status is Status.ERROR and "exit(3)" in s["leave_exit"].message
    assert s["nope"].status is Status.MISSING
    assert s["hidden"].status is Status.ERROR and "ModuleNotFoundError" in s["hidden"].message
    assert (s["last"].status, s["last"].value) == (Status.OK, 6)  # after all of that


def test_probe_module_and_tagged_values(tmp_path: Path) -> None:
    probe = tmp_path / "my_probe.py"
    probe.write_text("import torch\n"
                     "def tensors(ns, n):\n"
                     "    return {'t': torch.arange(n, dtype=torch.float32).reshape(2, -1),\n"
                     "            'pairs': {1: 'a'}, 'b': b'xy', 'obj': object()}\n"
                     "def need(ns):\n    return ns['not_defined_anywhere']\n")
    out = run_job(_job(Step("t", "my_probe:tensors", (4,)), Step("m", "my_probe:need"),
                       probe_modules=(probe,)), tmp_path / "box", choose("auto"), LIMITS)
    value = out["t"].value
    assert value["t"].shape == (2, 2) and value["t"].dtype.name == "float32"
    assert value["t"].tolist() == [[0.0, 1.0], [2.0, 3.0]]
    assert value["pairs"] == {1: "a"} and value["b"] == b"xy"
    assert value["obj"]["__repr__"].startswith("builtins.object")
    assert out["m"].status is Status.MISSING and "not_defined_anywhere" in out["m"].message


def test_a_child_that_dies_while_loading_fails_every_step(tmp_path: Path) -> None:
    out = run_job(_job(_call("echo", 1), _call("echo", 2, step_id="again"),
                       module_source="import os\nos._exit(4)\ndef echo(x):\n    return x\n"),
                  tmp_path / "box", choose("auto"), LIMITS)
    assert "code 4" in out.load_failure  # a field, for the plug-in to test
    for outcome in out.steps.values():
        assert outcome.status is Status.DIED
        assert "could not be loaded" in outcome.message and "code 4" in outcome.message


def test_a_module_that_loads_has_no_load_failure(tmp_path: Path) -> None:
    out = run_job(_job(_call("echo", 1), module_source=STUDENT), tmp_path / "box",
                  choose("auto"), LIMITS)
    assert out["echo"].value == 1 and out.load_failure == ""


def test_failing_statements_are_reported_and_the_rest_loads(tmp_path: Path) -> None:
    out = run_job(_job(_call("echo", 1), module_source="x = 1 / 0\n" + STUDENT),
                  tmp_path / "box", choose("auto"), LIMITS)
    assert out["echo"].value == 1
    assert any("ZeroDivisionError" in e for e in out.load_errors)


def test_protocol_ignores_foreign_lines() -> None:
    nonce = "abc"
    line = protocol.message(protocol.MessageType.DONE, nonce)
    assert protocol.parse(line, nonce)["type"] is protocol.MessageType.DONE
    assert protocol.parse(line, "other") is None
    assert protocol.parse(b"student output", nonce) is None
    assert protocol.parse(b'{"type": "bogus", "nonce": "abc"}', nonce) is None


@needs_bwrap
def test_bwrap_has_no_network_and_read_only_data(tmp_path: Path) -> None:
    data = tmp_path / "data.txt"
    data.write_text("read only")
    out = run_job(_job(
        _call("connect"),
        _call("peek", "data.txt"),
        _call("write", "data.txt", "changed", step_id="overwrite"),
        _call("write", "notes.txt", "mine", step_id="scratch"),
        files={"data.txt": data},
    ), tmp_path / "box", Isolation.BWRAP, LIMITS)
    assert out["connect"].value.startswith("blocked")
    assert out["peek"].value is True
    assert out["overwrite"].status is Status.ERROR and data.read_text() == "read only"
    assert out["scratch"].value == "mine"


@needs_bwrap
@pytest.mark.parametrize("path_of", [
    lambda tmp: REPO / "grader",
    lambda tmp: REPO / "solution" / "hw3_solution",
    lambda tmp: tmp,  # e.g. the output folder and other students' staging
])
def test_bwrap_hides_paths(tmp_path: Path, path_of) -> None:
    out = run_job(_job(_call("peek", str(path_of(tmp_path)))), tmp_path / "box",
                  Isolation.BWRAP, LIMITS)
    assert (out["peek"].status, out["peek"].value) == (Status.OK, False)


@pytest.mark.skipif(not works(Isolation.UNSHARE), reason="unshare is not permitted here")
def test_unshare_has_no_network(tmp_path: Path) -> None:
    out = run_job(_job(_call("connect")), tmp_path / "box", Isolation.UNSHARE, LIMITS)
    assert out["connect"].value.startswith("blocked")


@pytest.mark.slow
def test_notebook_job(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in (
        "print(HOOKED)",
        "1 / 0",
        "import time\ntime.sleep(60)",
        "import json, os\nbox = os.environ['GRADER_OUTBOX']\n"
        "json.dump({'after': True}, open(box + '/facts.json', 'w'))\n"
        "os.symlink('/etc/passwd', box + '/stolen')\nprint('x' * 100000)",
    )])
    out = run_job(Job("nb", kind="notebook", notebook=nb, cell_timeout_s=3, timeout_s=120,
                      startup_files={"00-hook.py": "HOOKED = 'hooked'\n"}),
                  tmp_path / "box", choose("auto"), LIMITS)
    run = out["notebook"]
    assert run.status is Status.OK
    cells = run.value["cells"]
    assert cells[0]["text"] == "hooked\n"
    assert cells[1]["error"]["ename"] == "ZeroDivisionError"
    assert cells[2]["error"]["ename"] == "KeyboardInterrupt"  # the cell's time limit
    assert len(cells[3]["text"]) <= 4200
    assert run.value["outbox"] == {"facts.json": {"after": True}}
    assert sorted(p.name for p in out.outbox.iterdir()) == ["executed.ipynb", "facts.json"]


@needs_bwrap
def test_bwrap_masks_hidden_packages_installed_in_the_environment(tmp_path: Path) -> None:
    import nltk  # stands in for a solution package installed without -e

    folder = Path(nltk.__file__).parent
    source = "import os\ndef look(path):\n    return sorted(os.listdir(path))\n"
    out = run_job(Job("j", module_source=source, hidden_modules=("nltk",),
                      steps=(Step("look", "student:look", (str(folder),)),)),
                  tmp_path / "box", Isolation.BWRAP, LIMITS)
    assert (out["look"].status, out["look"].value) == (Status.OK, [])
