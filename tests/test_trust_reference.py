"""Reference code never reaches a student (fast, without the homework's training):

- hidden code (``Job.hidden_code``) runs in the sandbox with no text of it readable there:
  not through ``inspect``/``linecache``, tracebacks, ``__doc__`` or the code's constants;
- an exception's report names a built-in type only, and lines of the student's own code
  as the grader holds them (a forged report cannot put words in the grader's mouth);
- the plug-in's reference pieces carry the solution's canary, and so do the hidden checks;
- the Lab 1 (f) and LabLLM checks show students only the grader's words, the raw text goes
  to staff (an instructor file and hidden Gradescope tests), never to feedback, visible
  Gradescope tests, grades.csv or the summary.
"""

from __future__ import annotations

import json
from pathlib import Path

import hw3_plugin
import pytest
from autograder.models import (
    CallOutcome,
    CheckResult,
    Isolation,
    ItemResult,
    Job,
    Status,
    Step,
    SubmissionReport,
)
from autograder.reporters import write_all
from autograder.sandbox.isolation import works
from autograder.sandbox.runner import SandboxLimits, run_job
from hw3_solution import REFERENCE_CANARY, lab_llm, lab_rnn

LEVEL = next(level for level in Isolation if works(level))
SECRET = "zq-secret-9931"

HIDDEN = f'''
def secret_piece(x):
    """{SECRET} in the docstring"""
    # {SECRET} in a comment
    return x + 1


class SecretClass:
    """{SECRET} in a class docstring"""

    def method(self):
        """{SECRET} in a method docstring"""
        raise ValueError("boom")
'''

STUDENT = '''
import gc, inspect, linecache, sys, traceback

def _everything():
    found = []
    for target in (secret_piece, SecretClass, SecretClass.method):
        try:
            found.append(inspect.getsource(target))
        except Exception as exc:
            found.append(type(exc).__name__)
        found.append(repr(getattr(target, "__doc__", None)))
    code = secret_piece.__code__
    found += [repr(code.co_consts), code.co_filename]
    found += ["".join(linecache.getlines(code.co_filename))]
    for name, entry in list(linecache.cache.items()):
        found.append(f"{name}: {entry}")
    try:
        SecretClass().method()
    except ValueError:
        found.append(traceback.format_exc())
    for obj in gc.get_objects():
        if isinstance(obj, dict) and "hidden_code" in obj:
            found.append(repr(obj["hidden_code"]))
    return "\\n".join(found)

def read_hidden():
    return _everything()

def uses_hidden():
    return secret_piece(41)

class Forged(Exception):
    pass

def raise_own():
    x = 1
    raise Forged("made-up text")
'''


def _run(tmp_path: Path, *names: str):
    steps = tuple(Step(n, f"student:{n}", (), timeout_s=30) for n in names)
    job = Job("hidden", module_source=STUDENT, hidden_code=HIDDEN, steps=steps)
    return run_job(job, tmp_path / "job", LEVEL, SandboxLimits(memory_mb=768)).steps


def test_hidden_code_runs_with_no_text_of_it_in_the_sandbox(tmp_path: Path) -> None:
    steps = _run(tmp_path, "uses_hidden", "read_hidden", "raise_own")
    assert steps["uses_hidden"].value == 42
    seen = steps["read_hidden"].value
    assert steps["read_hidden"].ok and "OSError" in seen, seen[:500]
    assert SECRET not in seen and "in the docstring" not in seen
    assert "return x + 1" not in seen
    own = steps["raise_own"]
    assert own.status is Status.ERROR
    assert own.error_type == ""  # a class of the student's own: not named to students
    line = STUDENT.splitlines().index('    raise Forged("made-up text")') + 1
    assert own.error_lines[-1] == line


def test_the_reference_pieces_and_hidden_checks_carry_the_canary() -> None:
    from hw3_plugin.plugin import LAB2_REFERENCE_PIECES, REFERENCE_PIECES, reference_source

    lab1 = reference_source(lab_rnn, REFERENCE_PIECES)
    assert lab1.count(REFERENCE_CANARY) == len(REFERENCE_PIECES) + 1
    compile(lab1, "<reference>", "exec")
    for name in LAB2_REFERENCE_PIECES:
        assert REFERENCE_CANARY in reference_source(lab_llm, (name,))
    plugin_dir = Path(hw3_plugin.__file__).parent
    for checks in ("checks_lab1.py", "checks_lab2.py"):
        assert REFERENCE_CANARY in (plugin_dir / checks).read_text()


def test_a_forged_exception_report_is_not_repeated(tmp_path: Path) -> None:
    """What the child says of an exception is checked: unknown type names and lines
    outside the student's code are dropped (student code can forge the whole message)."""
    from autograder.sandbox import runner

    job = Job("j", module_source="a = 1\nb = 2\n", steps=(Step("s", "student:s"),))
    attempt = object.__new__(runner._Attempt)
    attempt.job, attempt.output = job, runner._Tail(100)
    attempt.proc = type("P", (), {"stdout": type("S", (), {"fileno": lambda s: -1})()})()
    attempt._drain = lambda wait=0: None
    forged = attempt._ended({"step_id": "s", "status": "error", "message": REFERENCE_CANARY,
                             "error": {"type": REFERENCE_CANARY, "lines": [1, 99, "2", 2]}})
    assert forged.error_type == "" and forged.error_lines == (1, 2)
    honest = attempt._ended({"step_id": "s", "status": "error", "error": {"type": "KeyError"}})
    assert honest.error_type == "KeyError"


@pytest.fixture(scope="module")
def plugin():
    from autograder.config import Settings
    from autograder.plugin import BatchContext
    from hw3_plugin.plugin import Hw3Plugin

    return Hw3Plugin().prepare(BatchContext(Settings(), Path("grading-output/.cache").resolve(),
                                            None))


def test_training_failures_show_students_only_the_graders_words(plugin) -> None:
    from hw3_plugin.layouts import KIT
    from hw3_plugin.plugin import _judge_training

    nb = type("NB", (), {"missing": lambda self, needs: [],
                         "module_source": lambda self, names, exclude=(): "x = 1\nraise E\n"})()
    leak = f"RuntimeError: def build_vocab(...):  # {REFERENCE_CANARY}"
    for step in (
        CallOutcome("training_run", Status.ERROR, message=leak, error_type="RuntimeError",
                    error_lines=(2,)),
        CallOutcome("training_run", Status.OK, value={"error": leak}),
        CallOutcome("training_run", Status.OK, value={"calls": [{"kind": "train", "loss": leak,
                                                                 "rows": 3}], "printed": leak}),
        CallOutcome("training_run", Status.OK, value={
            "calls": [{"kind": "evaluate", "rows": 1, "loss": 1.0, "acc": leak,
                       "weights": []}] * 2, "printed": leak}),
    ):
        results = _judge_training(plugin.lab1, "training_run",
                                  ("train_and_test_model_with_hparams",),
                                  ("lab1f.epochs", "lab1f.falling"), step, None, nb, KIT)
        for result in results:
            assert REFERENCE_CANARY not in result.message, result.message
            assert not result.passed
        if step.status is Status.ERROR:
            assert "raised RuntimeError" in results[0].message
            assert "line 2 of your notebook's code: raise E" in results[0].message
            assert REFERENCE_CANARY in results[0].detail


def test_notebook_checks_show_students_only_the_graders_words(plugin, tmp_path) -> None:
    from hw3_plugin.plugin import NOTEBOOK_CHECKS, _judge_notebook

    facts = {"tokenizers": [{"name": "t", "pad": REFERENCE_CANARY, "eos": "e"}],
             "loaded": [{"source": REFERENCE_CANARY, "cls": "x"}],
             "datasets": [{"name": "d", "rows": 1, "columns": [REFERENCE_CANARY],
                           "format": REFERENCE_CANARY, "lengths": [1]}],
             "compat": [REFERENCE_CANARY, "read Trainer(tokenizer=...) as processing_class"],
             "trainers": [], "collators": [], "loaders": [], "saved": [REFERENCE_CANARY]}
    step = CallOutcome("notebook", Status.OK,
                       value={"cells": [], "outbox": {"facts.json": facts}})
    results = _judge_notebook(plugin.lab2, step, None)
    assert [r.check_id for r in results] == list(NOTEBOOK_CHECKS)
    assert not any(REFERENCE_CANARY in r.message for r in results)
    assert any(REFERENCE_CANARY in r.detail for r in results)
    assert "processing_class" in next(r for r in results if r.check_id == "lab2d.eval_epoch"
                                      ).message
    failed = CallOutcome("notebook", Status.ERROR, message=REFERENCE_CANARY)
    assert not any(REFERENCE_CANARY in r.message
                   for r in _judge_notebook(plugin.lab2, failed, None))


def test_details_reach_staff_files_only(tmp_path: Path) -> None:
    check = CheckResult("lab1f.epochs", "lab1f", 0.0, "the grader's words",
                        status=Status.ERROR, detail=REFERENCE_CANARY, max_points=1)
    report = SubmissionReport("s1", (ItemResult("lab1f", "Lab 1 (f)", "lab1", 3,
                                                checks=(check,)),), cap=100)
    write_all([report], tmp_path)
    student = [p for p in tmp_path.rglob("*") if p.is_file() and "staff" not in p.parts]
    assert student and not any(REFERENCE_CANARY.encode() in p.read_bytes() for p in student
                               if p.parent.name != "s1" or p.name != "results.json")
    results = json.loads((tmp_path / "gradescope" / "s1" / "results.json").read_text())
    hidden = [t for t in results["tests"] if REFERENCE_CANARY in t["output"]]
    assert hidden and all(t["visibility"] == "hidden" for t in hidden)
    assert all(REFERENCE_CANARY not in t["output"] for t in results["tests"]
               if t["visibility"] != "hidden")
    assert REFERENCE_CANARY in (tmp_path / "staff" / "s1.md").read_text()


def test_every_notebook_check_has_a_public_message() -> None:
    """A notebook check without the grader's own words would stop the judging of every
    submission (an internal error): the two lists move together."""
    from hw3_plugin.plugin import NOTEBOOK_CHECKS
    from hw3_plugin.public import NOTEBOOK_EXPECTS

    assert set(NOTEBOOK_CHECKS) == set(NOTEBOOK_EXPECTS)


def test_notebook_public_messages_agree_with_their_verdicts() -> None:
    from hw3_plugin.public import NOTEBOOK_EXPECTS, notebook_message
    from message_tone import contradiction

    assert [(check, passed) for check in NOTEBOOK_EXPECTS for passed in (True, False)
            if contradiction(passed, notebook_message(check, passed))] == []


def test_a_training_run_that_raised_part_way_says_only_the_type(plugin) -> None:
    """The (f) probe catches an exception to judge what ran before it: students read the
    built-in type's name, never its text (which may hold the reference's)."""
    from hw3_plugin.layouts import KIT
    from hw3_plugin.plugin import _judge_training

    nb = type("NB", (), {"missing": lambda self, needs: [],
                         "module_source": lambda self, names, exclude=(): "raise E\n"})()
    step = CallOutcome("training_run", Status.OK, value={
        "calls": [], "returned": {"__type__": "NoneType"}, "printed": "",
        "raised": f"RuntimeError: def build_vocab(...):  # {REFERENCE_CANARY}"})
    results = _judge_training(plugin.lab1, "training_run",
                              ("train_and_test_model_with_hparams",),
                              ("lab1f.epochs", "lab1f.accuracy"), step, None, nb, KIT)
    assert [r.status for r in results] == [Status.ERROR, Status.ERROR]
    assert all("raised RuntimeError" in r.message and REFERENCE_CANARY not in r.message
               and REFERENCE_CANARY in r.detail for r in results)
