"""The Homework 3 plug-in: which jobs grade a submission, and how their data is judged.

Lab 1 (a)-(e) and Lab 2 (a)-(c) are graded by calling the student's functions on probe
inputs (one sandboxed process per lab). Lab 1 (f) calls the student's training function
with the reference versions of the earlier pieces, so one mistake costs once. Lab 2
(a)/(b)/(d)/(e) facts come from executing the whole LabLLM notebook in the sandbox, with
compatibility shims for older transformers releases and a facts cell at the end.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import json
import logging
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import nbformat
from autograder.models import CheckResult, Job, JobOutcome, Status, Step, Submission
from autograder.plugin import BatchContext, SubmissionContext
from autograder.premarks import AnswerKey
from autograder.rubric import Rubric
from autograder.sandbox.hidden_code import NOTEBOOK_STARTUP, compile_hidden
from hw3_student import probes_lab1, probes_lab2

from . import checks_lab2, kernel_facts, kernel_hooks, layouts, measure_lab2, public
from .lab1 import Lab1Plan
from .lab2 import Lab2Plan
from .quiet import quiet_hugging_face
from .results import result
from .similarity import Hw3Similarity
from .tf_key import answer_keys

HERE = Path(__file__).parent
RUBRIC_FILE = HERE / "rubric.toml"
RANGES_FILE = HERE / "ranges.toml"

# Probe files copied into the sandbox: Lab 1 (a)-(e) and Lab 2 come from the student package
# (one source with the self-check); Lab 1 (f)'s recording probe stays here (it imports
# helpers of probes_lab1, copied beside it).
LAB1_PROBE_FILES = (Path(probes_lab1.__file__), Path(__file__).parent / "probes_training.py")
# probe -> (student names it calls, check ids it decides, time limit in seconds)
LAB1_PROBES = {
    "split": (("load_imdb",), ("lab1a.sizes", "lab1a.complete", "lab1a.aligned"), 60),
    "vocab": (("build_vocab",), ("lab1b.stop_words", "lab1b.min_freq", "lab1b.special",
                                 "lab1b.unique"), 30),
    "tokenize": (("tokenize",), ("lab1c.ids", "lab1c.unk", "lab1c.stop_words"), 30),
    "dataset_items": (("IMDB",), ("lab1d.keys", "lab1d.truncation", "lab1d.length",
                                  "lab1d.label"), 30),
    "model_init": (("LSTM",), ("lab1e_init.embedding", "lab1e_init.lstm", "lab1e_init.linear",
                               "lab1e_init.dropout", "lab1e_init.params"), 30),
    "model_forward": (("LSTM",), ("lab1e_forward.shape", "lab1e_forward.padding",
                                  "lab1e_forward.logits"), 30),
}
TRAINING = (("train_and_test_model_with_hparams",),
            ("lab1f.epochs", "lab1f.falling", "lab1f.accuracy", "lab1f.best_weights",
             "lab1f.prediction"), 300)
# The earlier Lab 1 pieces that the training check takes from the reference, and the
# names both handouts give them (the Spring 2025 handout's (f) pads with `collate_fn`).
REFERENCE_PIECES = ("init_weights", "load_imdb", "build_vocab", "tokenize", "IMDB", "LSTM",
                    "collate")
REFERENCE_ALIASES = "collate_fn = collate\n"
LAB2_PROBES = {
    "generate": (("generate_text",), ("lab2a.prompt", "lab2a.max_length"), 60),
    "tokenize_function": (("tokenize_function",), ("lab2b.labels", "lab2b.padding",
                                                   "lab2b.truncation"), 30),
    "perplexity": (("evaluate_perplexity",), ("lab2c.value", "lab2c.eval_mode"), 60),
}
NOTEBOOK_CHECKS = ("lab2a.pad_token", "lab2a.load", "lab2b.subsets", "lab2b.columns",
                   "lab2b.collator", "lab2d.eval_epoch", "lab2d.log_epoch", "lab2d.trained",
                   "lab2d.reloaded", "lab2d.perplexity", "lab2e.config", "lab2e.trainable",
                   "lab2e.trained", "lab2e.perplexity", "lab2e.base")
LAB2_REFERENCE_PIECES = ("tokenize_function", "evaluate_perplexity")
# Time limits on the fixtures; real data takes ranges.toml's [time_limits].
FIXTURE_LIMITS = {"lab1_training": TRAINING[2], "lab2_cell": 180, "lab2_notebook": 480}
FACTS_CELL = "import os\n__hw3_collect_facts__(globals(), os.environ['GRADER_OUTBOX'])\n"
HIDDEN = ("hw3_solution", "autograder", "hw3_fixtures")
# What malformed data from a sandbox (a student's odd return value, forged facts) raises in
# a check: a failed check. Anything else a check raises is a fault of the check, which the
# engine reports to staff as an internal error and never records as a grade.
DATA_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


@dataclass(frozen=True)
class Hw3Batch:
    """What ``Hw3Plugin.prepare`` builds for a batch; ``plan`` and ``judge`` receive it."""

    files: Mapping[str, Path]  # read-only files every job sees (data, offline home)
    env: Mapping[str, str]  # the offline environment ("{work}" for the job's folder)
    writable: Mapping[str, Path]  # copied for the notebook job (the datasets cache)
    lab1: Lab1Plan
    lab2: Lab2Plan
    limits: Mapping[str, float]  # training items' time limits, seconds (before scaling)
    gpu: bool  # the training jobs get the grader's GPU
    reference_lab1: str  # source of the reference Lab 1 pieces, with their imports
    reference_lab2: Mapping[str, str]  # name -> notebook cell defining the reference (b)/(c)
    empty_dir: Path  # copied where a notebook's top-level code makes a folder (made_folders)
    fast_startup: str | None = None  # the LabLLM kernel's fast path (None: students' train())


class Hw3Plugin:
    """Homework 3: LabRNN.ipynb (lab1) and LabLLM.ipynb (lab2). Stateless: everything a
    batch needs is the ``Hw3Batch`` that ``prepare`` returns."""

    name = "hw3"
    # The code that decides a grade (autograder/keys.py): the checks and probes, the
    # reference that expected values come from, the fixtures' builders.
    code_modules = ("hw3_plugin", "hw3_solution", "hw3_fixtures")
    notebooks = {"lab1": "LabRNN.ipynb", "lab2": "LabLLM.ipynb"}
    path_redirects = {"IMDBDataset.csv": "./IMDBDataset.csv"}
    libraries = ("torch", "transformers", "datasets", "peft", "numpy")  # keys of the job cache
    similarity = Hw3Similarity()  # groups for ``autograde similarity`` (optional contract)

    @property
    def answer_keys(self) -> dict[str, AnswerKey]:
        """True/False key for the pre-marks on the manual sheet (optional contract)."""
        return answer_keys()

    def __init__(self) -> None:
        self.rubric = Rubric.load(RUBRIC_FILE)

    @property
    def check_ids(self) -> tuple[str, ...]:
        probes = [*LAB1_PROBES.values(), TRAINING, *LAB2_PROBES.values()]
        return tuple(c for _, checks, _ in probes for c in checks) + NOTEBOOK_CHECKS

    # -------------------------------------------------------------------- batch set-up

    def prepare(self, ctx: BatchContext) -> Hw3Batch:
        """Stage the data (fixtures or real) and an offline Hugging Face home, once."""
        from hw3_fixtures.offline import prepare_offline_home

        quiet_hugging_face()  # the grader's own model loading prints nothing
        from hw3_fixtures.sources import DataSource

        if ctx.data == "fixtures":
            source = DataSource.fixtures()
        else:
            source = DataSource.real(Path(ctx.data), ctx.cache_dir / "real-data")
        home = (ctx.cache_dir / "offline-home").resolve()
        env = prepare_offline_home(source, home)
        import nltk  # the reference's own stop words, in the grader's process

        if env["NLTK_DATA"] not in nltk.data.path:
            nltk.data.path.insert(0, env["NLTK_DATA"])
        ranges = tomllib.loads(RANGES_FILE.read_text(encoding="utf-8"))
        full_size = ctx.data != "fixtures"
        gpu = ctx.gpu is not None  # the training jobs get it; the probes never need it
        if full_size and not gpu:
            logging.getLogger("autograder").warning(
                "grading real data without a GPU: Lab 1's training and the LabLLM notebook "
                "run at full size on the CPU and may pass their time limits")
        return Hw3Batch(
            files={"IMDBDataset.csv": Path(source.imdb_csv), "offline-home": home},
            env={k: v.replace(str(home), "{work}/offline-home") for k, v in env.items()},
            # `datasets` takes file locks in its cache: the notebook gets a writable copy.
            writable={"hf-datasets": Path(env["HF_DATASETS_CACHE"])},
            lab1=Lab1Plan(Path(source.imdb_csv), ranges["lab1"]),
            lab2=Lab2Plan(Path(source.gpt2_dir), Path(source.wikitext_dir), ranges["lab2"]),
            limits=time_limits(full_size, ranges), gpu=gpu,
            reference_lab1=_reference_lab1_source(), reference_lab2=_reference_lab2_cells(),
            empty_dir=_empty_dir(ctx.cache_dir),
            fast_startup=_fast_startup() if _fast_training(ctx.settings.fast_training, gpu)
            else None)

    # ---------------------------------------------------------------------- planning

    def plan(self, submission: Submission, ctx: SubmissionContext) -> list[Job]:
        batch: Hw3Batch = ctx.prepared
        jobs: list[Job] = []
        if "lab1" in ctx.notebooks:
            jobs += _plan_lab1(batch, ctx.notebooks["lab1"], ctx)
        if "lab2" in ctx.notebooks:
            jobs += _plan_lab2(batch, ctx.notebooks["lab2"], ctx)
        longest_first = ("lab2.notebook", "lab2.measure", "lab1.training", "lab1.probes",
                         "lab2.probes")
        return sorted(jobs, key=lambda job: longest_first.index(job.job_id))

    # ----------------------------------------------------------------------- judging

    def notes(self, ctx: SubmissionContext) -> list[str]:
        """Which layout each notebook was graded as (feedback lines)."""
        return [_layout(nb, lab).note(self.notebooks[lab]) for lab, nb in ctx.notebooks.items()]

    def judge(self, outcomes: Mapping[str, JobOutcome], ctx: SubmissionContext
              ) -> list[CheckResult]:
        batch: Hw3Batch = ctx.prepared
        results: list[CheckResult] = []
        for job_id, probes, plan in (("lab1.probes", LAB1_PROBES, batch.lab1),
                                     ("lab1.training", {"training_run": TRAINING}, batch.lab1),
                                     ("lab2.probes", LAB2_PROBES, batch.lab2)):
            lab = job_id.split(".")[0]
            if lab not in ctx.notebooks:
                continue
            outcome = outcomes.get(job_id)
            for probe, (needs, checks, _) in probes.items():
                step = outcome.steps.get(probe) if outcome else None
                layout = _layout(ctx.notebooks[lab], lab)
                if job_id == "lab1.training":  # beside the reference: the grader's words only
                    results += _judge_training(plan, probe, needs, checks, step, outcome,
                                               ctx.notebooks[lab], layout)
                else:
                    results += _judge_step(plan, probe, needs, checks, step, outcome,
                                           ctx.notebooks[lab], layout)
        if "lab2" in ctx.notebooks:
            outcome = outcomes.get("lab2.notebook")
            step = outcome.steps.get("notebook") if outcome else None
            measured = outcomes.get("lab2.measure")
            results += _judge_notebook(batch.lab2, step, measured.steps.get("measure")
                                       if measured else None)
        return results


# -------------------------------------------------------------------------- planning


def _job(batch: Hw3Batch, job_id: str, **kw) -> Job:
    kw.setdefault("env", batch.env)
    return Job(job_id=job_id, files=batch.files, hidden_modules=HIDDEN, **kw)


def _steps(module: str, probes: Mapping, args: Mapping, nb, ctx, floor: float = 0
           ) -> tuple[Step, ...]:
    """One step per probe whose functions the notebook defines; ``floor``: the least time
    limit of a step (seconds, before --timeout-scale)."""
    return tuple(
        Step(name, f"{module}:{name}", (args[name],), timeout_s=ctx.timeout(max(limit, floor)))
        for name, (needs, _, limit) in probes.items() if not nb.missing(needs)
    )


def _plan_lab1(batch: Hw3Batch, nb, ctx: SubmissionContext) -> list[Job]:
    names = sorted({n for needs, _, _ in LAB1_PROBES.values() for n in needs} | {"HyperParams"})
    jobs = [_job(
        batch, "lab1.probes", module_source=nb.module_source(names),
        steps=_steps("probes_lab1", LAB1_PROBES, batch.lab1.probe_args(), nb, ctx),
        probe_modules=LAB1_PROBE_FILES,
    )]
    needs = TRAINING[0]
    if not nb.missing(needs):
        jobs.append(_job(  # the reference pieces compiled apart: no source in the sandbox
            batch, "lab1.training", module_source=_training_source(nb),
            hidden_code=batch.reference_lab1,
            steps=(Step("training_run", "probes_training:training_run", ({},),
                        timeout_s=ctx.timeout(batch.limits["lab1_training"])),),
            probe_modules=LAB1_PROBE_FILES, gpu=batch.gpu,
            writable_files={name: batch.empty_dir for name in made_folders(nb)},
        ))
    return jobs


def _plan_lab2(batch: Hw3Batch, nb, ctx: SubmissionContext) -> list[Job]:
    names = sorted({n for needs, _, _ in LAB2_PROBES.values() for n in needs})
    jobs = []
    steps = _steps("probes_lab2", LAB2_PROBES, batch.lab2.probe_args(), nb, ctx,
                   batch.limits.get("lab2_probe", 0))
    if steps:
        jobs.append(_job(
            batch, "lab2.probes",
            module_source=nb.module_source(names, exclude=("tokenizer", "model")),
            steps=steps, probe_modules=(Path(probes_lab2.__file__),),
        ))
    jobs.append(_job(
        batch, "lab2.notebook", kind="notebook", notebook=_lab2_notebook(batch, nb),
        writable_files=batch.writable,
        env={**batch.env, "HF_DATASETS_CACHE": "{work}/hf-datasets"},
        cell_timeout_s=ctx.timeout(batch.limits["lab2_cell"]),
        timeout_s=ctx.timeout(batch.limits["lab2_notebook"]), gpu=batch.gpu,
        startup_files={
            "00-hw3-hooks.py": Path(kernel_hooks.__file__).read_text(),
            "01-hw3-facts.py": Path(kernel_facts.__file__).read_text()
            + "\n__hw3_collect_facts__ = collect\ndel collect\n",
            "02-hw3-hidden.py": NOTEBOOK_STARTUP,
            **({"03-hw3-fast.py": batch.fast_startup} if batch.fast_startup else {}),
            **({"04-hw3-fast-off.py": FAST_OFF} if batch.fast_startup
               and _reads_checkpoints(nb) else {}),
        },
    ))
    jobs.append(_job(  # no student code: measures the files the notebook saved
        batch, "lab2.measure", reads_outbox_of="lab2.notebook", gpu=batch.gpu,
        probe_modules=(Path(measure_lab2.__file__),),
        steps=(Step("measure", "measure_lab2:measure", (batch.lab2.measure_args(),),
                    timeout_s=ctx.timeout(batch.limits["lab2_cell"])),),
    ))
    return jobs


def _lab2_notebook(batch: Hw3Batch, nb) -> dict:
    """The student's notebook, cleaned, with the reference (b)/(c) functions defined right
    after the student's own definitions (the cell split there), so that the rest of that
    cell and later items use them and do not pay for earlier mistakes: in the Spring 2025
    handout's script layout the same cell that defines `tokenize_function` maps the data
    set with it. The facts cell comes last."""
    notebook = nb.sanitized()
    inserts: dict[int, list[tuple[int, str]]] = {}
    for name in LAB2_REFERENCE_PIECES:
        unit = nb.definitions.get(name)
        if unit is not None:
            inserts.setdefault(unit.position[0], []).append((unit.position[1], name))
    cells = []
    for index, cell in enumerate(notebook.cells):
        if index not in inserts:
            cells.append(cell)
            continue
        pieces = _split_cell(cell["source"], sorted(inserts[index]))
        cell["source"] = pieces[0][1]
        cells.append(cell)
        for name, rest in pieces[1:]:  # fixed ids: the same job has the same key
            cells.append(nbformat.v4.new_code_cell(batch.reference_lab2[name],
                                                   id=f"hw3-reference-{name}"))
            if rest.strip():
                cells.append(nbformat.v4.new_code_cell(rest, id=f"hw3-rest-{name}"))
    cells.append(nbformat.v4.new_code_cell(FACTS_CELL, id="hw3-facts"))
    notebook.cells = cells
    return json.loads(json.dumps(notebook))  # plain dict, sources kept as strings


def _split_cell(source: str, after: list[tuple[int, str]]) -> list[tuple[str, str]]:
    """``source`` cut after the given top-level statements (index, name), in order:
    [("", head), (name, the code after it up to the next cut), ...]."""
    body = ast.parse(source).body
    lines = source.splitlines(keepends=True)
    ends = [(body[i].end_lineno or 0, name) for i, name in after]
    pieces, start = [], 0
    for (end, _), label in zip(ends, ["", *(name for _, name in ends)]):
        pieces.append((label, "".join(lines[start:end])))
        start = end
    pieces.append((ends[-1][1], "".join(lines[start:])))
    return pieces


def made_folders(nb) -> list[str]:
    """Relative folders the notebook's top-level code makes with a literal name
    (``os.makedirs('resources')``, ``os.mkdir(...)``, ``Path('x').mkdir()``; the Spring 2025
    handout's setup cell makes ``resources``): the training job's work folder gets them
    empty, as the student's kernel had them, since top-level calls are not extracted."""
    found = []
    for source in nb.cleaned.values():
        try:
            body = ast.parse(source).body
        except SyntaxError:
            continue
        for stmt in body:
            call = stmt.value if isinstance(stmt, ast.Expr) else None
            if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
                continue
            target = None
            if call.func.attr in ("makedirs", "mkdir") and call.args:
                target = call.args[0]
            if call.func.attr == "mkdir" and isinstance(call.func.value, ast.Call) \
                    and call.func.value.args:
                target = call.func.value.args[0]
            name = target.value if isinstance(target, ast.Constant) else None
            if isinstance(name, str) and re.fullmatch(r"[\w.-]+", name.strip("./")) \
                    and ".." not in name:
                found.append(name.strip("./"))
    return sorted(set(found))


def _empty_dir(cache_dir: Path) -> Path:
    folder = cache_dir / "empty-folder"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _layout(nb, lab: str) -> layouts.Layout:
    """The layout a lab's notebook was written in (see layouts.detect)."""
    return layouts.detect(lab, nb.definitions)


def _reference_lab1_source() -> str:
    """The reference pieces (a)-(e) with their imports (compiled apart by the engine)."""
    from hw3_solution import lab_rnn

    return reference_source(lab_rnn, REFERENCE_PIECES) + "\n\n" + REFERENCE_ALIASES


def _reference_lab2_cells() -> dict[str, str]:
    """Notebook cells running the reference (b)/(c) functions, with their imports,
    compiled apart: a cell holds a code object, not the source."""
    from hw3_solution import lab_llm

    return {name: f"__grader_hidden__({compile_hidden(reference_source(lab_llm, (name,)))!r})"
            for name in LAB2_REFERENCE_PIECES}


# The fast mode's modules, in import order, as the LabLLM kernel gets them (compiled apart).
FAST_MODULES = ("gpt2_forward", "lm_data", "lm_eval", "lm_train", "trainer_recipe")
FAST_STARTUP = """
import sys as _sys, types as _types
for _name, _blob in {modules!r}:
    _module = _types.ModuleType(_name)
    _module.__path__ = []
    _sys.modules[_name] = _module
    if _blob:
        __grader_hidden__(_blob, _module.__dict__)
_sys.modules["hw3_kernel_record"].FAST = _sys.modules[{recipe!r}].fast_train
del _sys, _types, _name, _blob, _module
"""


# A notebook whose code names the Trainer's checkpoints (which only its own train() writes)
# is left to it: the fast path then says so (trainer_recipe.WHY["checkpoints"]).
FAST_OFF = 'import sys as _sys\n_sys.modules["hw3_kernel_record"].FAST_OFF = True\ndel _sys\n'


def _reads_checkpoints(nb) -> bool:
    """Whether a code cell of the notebook names a checkpoint (``checkpoint-800``,
    ``resume_from_checkpoint``, ``get_last_checkpoint``)."""
    return any(cell.get("cell_type") == "code" and "checkpoint" in cell.source.lower()
               for cell in nb.sanitized().cells)


def _fast_training(choice: str, gpu: bool) -> bool:
    """Whether the LabLLM notebook's Trainers go through the fast path (`fast_training`:
    on, off, or auto: where the notebook has the GPU)."""
    return choice == "on" or (choice == "auto" and gpu)


def _fast_startup() -> str:
    """A kernel startup file that defines the fast mode's modules (hw3_solution.fast.*,
    compiled apart: no source in the sandbox) and installs its ``fast_train`` as the kernel
    hooks' fast path (kernel_hooks.py)."""
    from hw3_solution import REFERENCE_CANARY
    from hw3_solution import fast as fast_package

    modules: list[tuple[str, str]] = [("hw3_solution", ""), ("hw3_solution.fast", "")]
    for name in FAST_MODULES:
        module = importlib.import_module(f"{fast_package.__name__}.{name}")
        source = inspect.getsource(module) + f"\n__grader_reference__ = {REFERENCE_CANARY!r}\n"
        modules.append((module.__name__, compile_hidden(source)))
    return FAST_STARTUP.format(modules=modules,
                               recipe=f"{fast_package.__name__}.trainer_recipe")


def _training_source(nb) -> str:
    """The student's module of the Lab 1 (f) job: the training function and what it uses,
    without the pieces the reference supplies."""
    return nb.module_source([*TRAINING[0], "HyperParams"],
                            exclude=(*REFERENCE_PIECES, "collate_fn"))


def reference_source(module, names) -> str:
    """Imports and the definitions ``names`` of a reference module, the solution's canary
    placed as a comment in each body and as a constant (hw3_solution.REFERENCE_CANARY): a
    leak of the text or of the code's constants shows in the hostile corpus test."""
    from hw3_solution import REFERENCE_CANARY

    pieces = []
    for name in names:
        lines = inspect.getsource(getattr(module, name)).splitlines(keepends=True)
        first = ast.parse("".join(lines)).body[0].body[0]  # the body's first statement
        lines.insert(first.lineno - 1, " " * first.col_offset + f"# {REFERENCE_CANARY}\n")
        pieces.append("".join(lines))
    return (_imports_of(module) + "\n\n" + "\n\n".join(pieces)
            + f"\n\n__grader_reference__ = {REFERENCE_CANARY!r}\n")


# --------------------------------------------------------------------------- judging


def _judge_step(plan, probe, needs, checks, step, outcome: JobOutcome | None, nb,
                layout: layouts.Layout) -> list[CheckResult]:
    missing = nb.missing(needs)
    if missing:
        return _all(checks, False, f"{', '.join(missing)} was not found in the notebook",
                    Status.MISSING)
    if step is None:
        return _all(checks, False, "this check did not run", None)
    if not step.ok or not isinstance(step.value, dict) or "error" in step.value:
        why = (step.value or {}).get("error") if isinstance(step.value, dict) else None
        loaded = outcome is None or not outcome.load_failure
        load_errors = outcome.load_errors if outcome else ()
        return _all(checks, False, why or _outcome_message(step, needs, loaded, load_errors),
                    step.status)
    try:
        results = (plan.judge(probe, step.value, layout) if isinstance(plan, Lab1Plan)
                   else plan.judge(probe, step.value))
    except DATA_ERRORS as exc:  # malformed data is a failed check
        return _all(checks, False, f"the result could not be read ({type(exc).__name__}: "
                    f"{exc})", step.status)
    return _results(checks, results, step.status)


def _judge_training(plan, probe, needs, checks, step, outcome: JobOutcome | None, nb,
                    layout: layouts.Layout) -> list[CheckResult]:
    """Lab 1 (f): its run held the reference pieces, so students read only the grader's
    words (``public``); the raw text goes to staff (``detail``)."""
    raw = _judge_step(plan, probe, needs, checks, step, outcome, nb, layout)
    if step is None or nb.missing(needs):
        return raw  # said by the grader alone
    what = f"{needs[0]}(...)"
    failed_run = not step.ok or not isinstance(step.value, dict) or "error" in step.value
    out = []
    for check in raw:
        if failed_run:
            message = public.run_failure(step, what, _training_source(nb))
        elif not check.passed and step.value.get("raised") \
                and public.carries_sandbox_text(check.message, step.value):
            message = public.raised_in_run(step.value["raised"], what)
            check = dataclasses.replace(check, status=Status.ERROR)
        elif check.message.startswith("the result could not be read") \
                or public.carries_sandbox_text(check.message, step.value):
            message = "this check " + ("passed" if check.passed else
                                       f"failed ({public.STAFF_NOTE})")
        else:
            out.append(check)  # the grader's own counts and numbers
            continue
        out.append(dataclasses.replace(check, message=message, detail=check.message))
    return out


def _judge_notebook(lab2: Lab2Plan, step, measured) -> list[CheckResult]:
    """The LabLLM notebook ran with the reference (b)/(c) in it: students read each check's
    expectation and outcome (``public``); what the run produced goes to staff (``detail``)."""
    raw = _judge_notebook_raw(lab2, step, measured)
    if step is None or not isinstance(step.value, dict) \
            or (step.value.get("outbox") or {}).get("facts.json") is None:
        return [dataclasses.replace(r, message=r.message.split(":")[0] + (
            f" (status: {step.status.value})" if step else ""), detail=r.message) for r in raw]
    facts = step.value["outbox"]["facts.json"]
    try:
        facts = json.loads(facts) if isinstance(facts, str) else facts
        notes = public.public_notes(facts.get("compat", []))
    except DATA_ERRORS:
        notes = []
    out = []
    for check in raw:
        message = public.notebook_message(check.check_id, check.passed)
        if notes and check.check_id == "lab2d.eval_epoch":  # older names: noted only
            message += " (compatibility: " + "; ".join(notes) + ")"
        # which training ran (the fast path or the student's train()): grader text only
        message += next((n for n in checks_lab2.TRAINING_NOTES if check.message.endswith(n)),
                        "")
        out.append(dataclasses.replace(check, message=message, detail=check.message))
    return out


def _judge_notebook_raw(lab2: Lab2Plan, step, measured) -> list[CheckResult]:
    """The notebook's checks from its facts and the measurement job's step (``measured``:
    what it measured from the files the notebook saved; None: not planned)."""
    if step is None or not isinstance(step.value, dict):
        return _all(NOTEBOOK_CHECKS, False, "the notebook could not be executed"
                    + (f": {step.message}" if step and step.message else ""),
                    step.status if step else None)
    facts_text = (step.value.get("outbox") or {}).get("facts.json")
    if facts_text is None:
        return _all(NOTEBOOK_CHECKS, False, "the notebook stopped before the grader could "
                    "inspect it" + (f": {step.message}" if step.message else ""),
                    step.status)
    try:
        facts = json.loads(facts_text) if isinstance(facts_text, str) else facts_text
        results = lab2.judge_notebook(facts, _measurement(measured))
    except DATA_ERRORS as exc:  # malformed (or forged) facts are failed checks
        return _all(NOTEBOOK_CHECKS, False, f"the notebook's results could not be read "
                    f"({type(exc).__name__}: {exc})", step.status)
    notes = sorted(set(facts.get("compat", [])))
    if notes:  # names from older transformers releases: read, noted, never penalised
        check = "lab2d.eval_epoch"
        results[check] = dataclasses.replace(
            results[check], message=results[check].message + " (compatibility: "
            + "; ".join(notes) + ")")
    return _results(NOTEBOOK_CHECKS, results, step.status)


class MeasurementFailed(RuntimeError):
    """The Lab 2 measurement job (no student code in it) did not finish: a fault of the
    grader, reported to staff as an internal error, never a student's lost points."""


def _measurement(step) -> Mapping | None:
    """The measurement job's data; None when it was not planned."""
    if step is None:
        return None
    if not step.ok or not isinstance(step.value, dict):
        raise MeasurementFailed(f"the Lab 2 measurement job ended {step.status.value}: "
                                f"{step.message}")
    return step.value


def time_limits(full_size: bool, ranges: Mapping) -> dict[str, float]:
    """The training items' time limits (seconds, before --timeout-scale): the plug-in's own
    on the fixtures, ranges.toml's [time_limits] at full size."""
    return {**FIXTURE_LIMITS, **(ranges["time_limits"] if full_size else {})}


def _imports_of(module) -> str:
    """The top-level import statements of a reference module (no ``__future__``)."""
    source = inspect.getsource(module)
    return "\n".join(ast.get_source_segment(source, node) or "" for node in ast.parse(source).body
                     if isinstance(node, (ast.Import, ast.ImportFrom))
                     and getattr(node, "module", "") != "__future__")


def _outcome_message(step, needs, loaded: bool, load_errors=()) -> str:
    what = f"{needs[0]}(...)"
    if "NameError" in step.message and load_errors:  # say why the name is missing
        return (f"{what} raised {step.message}; while loading the notebook's code: "
                + "; ".join(load_errors[:3]))
    if not loaded:  # the notebook's top-level code failed, not `what`
        return f"{what} was not called: {step.message}"
    if step.status is Status.TIMEOUT:
        return f"{what} ran past its time limit and was stopped"
    if step.status is Status.LIMIT:
        return f"{what} hit a resource limit: {step.message}"
    if step.status is Status.DIED:
        return f"the process running {what} died: {step.message}"
    return f"{what} raised {step.message}"


def _all(checks, passed: bool, message: str, status) -> list[CheckResult]:
    return [dataclasses.replace(result(c, passed, message), status=status) for c in checks]


def _results(checks, results: Mapping[str, CheckResult], status) -> list[CheckResult]:
    """Every check of ``checks`` in order, with the status of the call that fed it; a check
    the judge did not decide did not run."""
    return [dataclasses.replace(results.get(c) or result(c, False, "this check did not run"),
                                status=status) for c in checks]
