"""The Homework 3 plug-in: which jobs grade a submission, and how their data is judged.

Lab 1 (a)-(e) and Lab 2 (a)-(c) are graded by calling the student's functions on probe
inputs (one sandboxed process per lab). Lab 1 (f) calls the student's training function
with the reference versions of the earlier pieces, so one mistake costs once. Lab 2
(a)/(b)/(d)/(e) facts come from executing the whole LabLLM notebook in the sandbox, with
compatibility shims for older transformers releases and a facts cell at the end.

The reference pieces travel compiled apart (no source text in the sandbox), and the checks
of those two jobs show students only the grader's own words (``public``).
"""

from __future__ import annotations

import ast
import inspect
import json
import logging
import tomllib
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

import nbformat
from autograder.models import CheckResult, Job, JobOutcome, Status, Step, Submission
from autograder.plugin import BatchContext, SubmissionContext
from autograder.rubric import Rubric
from autograder.sandbox.hidden_code import NOTEBOOK_STARTUP, compile_hidden

from . import kernel_facts, kernel_hooks, probes_lab1, probes_lab2, public
from .lab1 import Lab1Plan
from .lab2 import Lab2Plan
from .verdict import Verdict

HERE = Path(__file__).parent
RUBRIC_FILE = HERE / "rubric.toml"
RANGES_FILE = HERE / "ranges.toml"

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
    "model_forward": (("LSTM",), ("lab1e_forward.shape", "lab1e_forward.padding"), 30),
}
TRAINING = (("train_and_test_model_with_hparams",),
            ("lab1f.epochs", "lab1f.falling", "lab1f.best_weights", "lab1f.prediction"), 300)
# The earlier Lab 1 pieces that the training check takes from the reference.
REFERENCE_PIECES = ("init_weights", "load_imdb", "build_vocab", "tokenize", "IMDB", "LSTM")
LAB2_PROBES = {
    "generate": (("generate_text",), ("lab2a.prompt", "lab2a.max_length"), 60),
    "tokenize_function": (("tokenize_function",), ("lab2b.labels", "lab2b.padding",
                                                   "lab2b.truncation"), 30),
    "perplexity": (("evaluate_perplexity",), ("lab2c.value", "lab2c.eval_mode"), 60),
}
NOTEBOOK_CHECKS = ("lab2a.pad_token", "lab2a.load", "lab2b.subsets", "lab2b.columns",
                   "lab2b.collator", "lab2d.eval_epoch", "lab2d.log_epoch", "lab2d.trained",
                   "lab2d.reloaded", "lab2d.perplexity", "lab2e.config", "lab2e.trainable",
                   "lab2e.trained", "lab2e.perplexity")
LAB2_REFERENCE_PIECES = ("tokenize_function", "evaluate_perplexity")
# Time limits on the fixtures; real data takes ranges.toml's [time_limits].
FIXTURE_LIMITS = {"lab1_training": TRAINING[2], "lab2_cell": 180, "lab2_notebook": 480}
FACTS_CELL = "import os\n__hw3_collect_facts__(globals(), os.environ['GRADER_OUTBOX'])\n"
HIDDEN = ("hw3_solution", "autograder", "hw3_fixtures")


def _item(check_id: str) -> str:
    return check_id.split(".")[0]


class Hw3Plugin:
    """Homework 3: LabRNN.ipynb (lab1) and LabLLM.ipynb (lab2)."""

    name = "hw3"
    notebooks = {"lab1": "LabRNN.ipynb", "lab2": "LabLLM.ipynb"}
    path_redirects = {"IMDBDataset.csv": "./IMDBDataset.csv"}

    def __init__(self) -> None:
        self.rubric = Rubric.load(RUBRIC_FILE)
        self._env: dict[str, str] = {}
        self._files: dict[str, Path] = {}
        self._writable: dict[str, Path] = {}
        self._limits = dict(FIXTURE_LIMITS)
        self._gpu = False

    @property
    def check_ids(self) -> tuple[str, ...]:
        probes = [*LAB1_PROBES.values(), TRAINING, *LAB2_PROBES.values()]
        return tuple(c for _, checks, _ in probes for c in checks) + NOTEBOOK_CHECKS

    # -------------------------------------------------------------------- batch set-up

    def prepare(self, ctx: BatchContext) -> None:
        """Stage the data (fixtures or real) and an offline Hugging Face home, once."""
        from hw3_fixtures.offline import prepare_offline_home
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
        self._files = {"IMDBDataset.csv": Path(source.imdb_csv), "offline-home": home}
        self._env = {k: v.replace(str(home), "{work}/offline-home") for k, v in env.items()}
        # `datasets` takes file locks in its cache: the notebook gets a writable copy.
        self._writable = {"hf-datasets": Path(env["HF_DATASETS_CACHE"])}
        ranges = tomllib.loads(RANGES_FILE.read_text(encoding="utf-8"))
        self.lab1 = Lab1Plan(Path(source.imdb_csv), ranges["lab1"])
        self.lab2 = Lab2Plan(Path(source.gpt2_dir), Path(source.wikitext_dir), ranges["lab2"])
        full_size = ctx.data != "fixtures"
        self._limits = time_limits(full_size, ranges)
        self._gpu = ctx.gpu is not None  # the training jobs get it; the probes never need it
        if full_size and not self._gpu:
            logging.getLogger("autograder").warning(
                "grading real data without a GPU: Lab 1's training and the LabLLM notebook "
                "run at full size on the CPU and may pass their time limits")

    # ---------------------------------------------------------------------- planning

    def plan(self, submission: Submission, ctx: SubmissionContext) -> list[Job]:
        jobs: list[Job] = []
        if "lab1" in ctx.notebooks:
            jobs += self._plan_lab1(ctx.notebooks["lab1"], ctx)
        if "lab2" in ctx.notebooks:
            jobs += self._plan_lab2(ctx.notebooks["lab2"], ctx)
        longest_first = ("lab2.notebook", "lab1.training", "lab1.probes", "lab2.probes")
        return sorted(jobs, key=lambda job: longest_first.index(job.job_id))

    def _job(self, job_id: str, ctx: SubmissionContext, **kw) -> Job:
        kw.setdefault("env", self._env)
        return Job(job_id=job_id, files=self._files, hidden_modules=HIDDEN, **kw)

    def _steps(self, module: str, probes: Mapping, args: Mapping, nb, ctx) -> tuple[Step, ...]:
        return tuple(
            Step(name, f"{module}:{name}", (args[name],), timeout_s=ctx.timeout(limit))
            for name, (needs, _, limit) in probes.items() if not nb.missing(needs)
        )

    def _plan_lab1(self, nb, ctx: SubmissionContext) -> list[Job]:
        names = sorted({n for needs, _, _ in LAB1_PROBES.values() for n in needs}
                       | {"HyperParams"})
        jobs = [self._job(
            "lab1.probes", ctx, module_source=nb.module_source(names),
            steps=self._steps("probes_lab1", LAB1_PROBES, self.lab1.probe_args(), nb, ctx),
            probe_modules=(Path(probes_lab1.__file__),),
        )]
        needs = TRAINING[0]
        if not nb.missing(needs):
            jobs.append(self._job(
                "lab1.training", ctx, module_source=_training_source(nb),
                hidden_code=self._reference_lab1_source,
                steps=(Step("training_run", "probes_lab1:training_run", ({},),
                            timeout_s=ctx.timeout(self._limits["lab1_training"])),),
                probe_modules=(Path(probes_lab1.__file__),), gpu=self._gpu,
            ))
        return jobs

    @cached_property
    def _reference_lab1_source(self) -> str:
        """The reference pieces (a)-(e) with their imports (compiled apart by the engine)."""
        from hw3_solution import lab_rnn

        return reference_source(lab_rnn, REFERENCE_PIECES)

    @cached_property
    def _reference_lab2(self) -> dict[str, str]:
        """Notebook cells running the reference (b)/(c) functions, with their imports,
        compiled apart: the cell holds a code object, not the source."""
        from hw3_solution import lab_llm

        return {name: f"__grader_hidden__({compile_hidden(reference_source(lab_llm, (name,)))!r})"
                for name in LAB2_REFERENCE_PIECES}

    def _plan_lab2(self, nb, ctx: SubmissionContext) -> list[Job]:
        names = sorted({n for needs, _, _ in LAB2_PROBES.values() for n in needs})
        jobs = []
        steps = self._steps("probes_lab2", LAB2_PROBES, self.lab2.probe_args(), nb, ctx)
        if steps:
            jobs.append(self._job(
                "lab2.probes", ctx, module_source=nb.module_source(names, exclude=("tokenizer",
                                                                                   "model")),
                steps=steps, probe_modules=(Path(probes_lab2.__file__),),
            ))
        jobs.append(self._job(
            "lab2.notebook", ctx, kind="notebook", notebook=self._lab2_notebook(nb),
            writable_files=self._writable,
            env={**self._env, "HF_DATASETS_CACHE": "{work}/hf-datasets"},
            cell_timeout_s=ctx.timeout(self._limits["lab2_cell"]),
            timeout_s=ctx.timeout(self._limits["lab2_notebook"]), gpu=self._gpu,
            startup_files={
                "00-hw3-hooks.py": Path(kernel_hooks.__file__).read_text(),
                "01-hw3-facts.py": Path(kernel_facts.__file__).read_text()
                + "\n__hw3_collect_facts__ = collect\ndel collect\n",
                "02-hw3-hidden.py": NOTEBOOK_STARTUP,
            },
        ))
        return jobs

    def _lab2_notebook(self, nb) -> dict:
        """The student's notebook, cleaned, with the reference (b)/(c) functions defined
        right after the student's own (so later items do not pay for earlier mistakes),
        and the facts cell at the end."""
        notebook = nb.sanitized()
        inserts: dict[int, list[str]] = {}
        for name in LAB2_REFERENCE_PIECES:
            unit = nb.definitions.get(name)
            if unit is not None:
                inserts.setdefault(unit.position[0], []).append(name)
        cells = []
        for index, cell in enumerate(notebook.cells):
            cells.append(cell)
            for name in inserts.get(index, []):  # fixed ids: the same job has the same key
                cells.append(nbformat.v4.new_code_cell(self._reference_lab2[name],
                                                       id=f"hw3-reference-{name}"))
        cells.append(nbformat.v4.new_code_cell(FACTS_CELL, id="hw3-facts"))
        notebook.cells = cells
        return json.loads(json.dumps(notebook))  # plain dict, sources kept as strings

    # ----------------------------------------------------------------------- judging

    def judge(self, outcomes: Mapping[str, JobOutcome], ctx: SubmissionContext
              ) -> list[CheckResult]:
        results: list[CheckResult] = []
        for job_id, probes, plan in (("lab1.probes", LAB1_PROBES, self.lab1),
                                     ("lab1.training", {"training_run": TRAINING}, self.lab1),
                                     ("lab2.probes", LAB2_PROBES, self.lab2)):
            if job_id.startswith("lab1") and "lab1" not in ctx.notebooks:
                continue
            if job_id.startswith("lab2") and "lab2" not in ctx.notebooks:
                continue
            nb = ctx.notebooks[job_id.split(".")[0]]
            for probe, (needs, checks, _) in probes.items():
                outcome = outcomes.get(job_id)
                step = outcome.steps.get(probe) if outcome else None
                if job_id == "lab1.training":  # beside the reference: the grader's words only
                    results += self._judge_training(plan, probe, needs, checks, step, nb)
                else:
                    results += self._judge_step(plan, probe, needs, checks, step, nb)
        if "lab2" in ctx.notebooks:
            outcome = outcomes.get("lab2.notebook")
            step = outcome.steps.get("notebook") if outcome else None
            results += self._judge_notebook(step, outcome.outbox if outcome else None)
        return results

    def _judge_step(self, plan, probe, needs, checks, step, nb) -> list[CheckResult]:
        missing = nb.missing(needs)
        if missing:
            return _all(checks, False, f"{', '.join(missing)} was not found in the notebook",
                        Status.MISSING)
        if step is None:
            return _all(checks, False, "this check did not run", None)
        if not step.ok or not isinstance(step.value, dict) or "error" in step.value:
            why = (step.value or {}).get("error") if isinstance(step.value, dict) else None
            return _all(checks, False, why or _outcome_message(step, needs), step.status)
        try:
            verdicts = plan.judge(probe, step.value)
        except Exception as exc:  # noqa: BLE001 - malformed data is a failed check
            return _all(checks, False, f"the result could not be read ({type(exc).__name__}: "
                        f"{exc})", step.status)
        return _results(checks, verdicts, step.status)

    def _judge_training(self, plan, probe, needs, checks, step, nb) -> list[CheckResult]:
        """Lab 1 (f): its run held the reference pieces, so students read only the
        grader's words (``public``); the raw text goes to staff (``detail``)."""
        missing = nb.missing(needs)
        if missing:
            return _all(checks, False, f"{', '.join(missing)} was not found in the notebook",
                        Status.MISSING)
        if step is None:
            return _all(checks, False, "this check did not run", None)
        what = f"{needs[0]}(...)"
        if not step.ok or not isinstance(step.value, dict) or "error" in step.value:
            why = (step.value or {}).get("error") if isinstance(step.value, dict) else None
            return _all(checks, False, public.run_failure(step, what, _training_source(nb)),
                        step.status, detail=str(why or _outcome_message(step, needs)))
        try:
            verdicts = plan.judge(probe, step.value)
        except Exception as exc:  # noqa: BLE001 - malformed data is a failed check
            return _all(checks, False, public.run_failure(step, what, ""), step.status,
                        detail=f"the result could not be read ({type(exc).__name__}: {exc})")
        out = []
        for check in checks:
            verdict = verdicts.get(check)
            if verdict is None:
                out.append(CheckResult.of(check, _item(check), False, "this check did not run",
                                          status=step.status))
            elif public.carries_sandbox_text(verdict.message, step.value):
                out.append(CheckResult.of(check, _item(check), verdict.passed,
                                          "this check " + ("passed" if verdict.passed else
                                                           f"failed ({public.STAFF_NOTE})"),
                                          status=step.status, detail=verdict.message))
            else:
                out.append(CheckResult.of(check, _item(check), verdict.passed, verdict.message,
                                          status=step.status))
        return out

    def _judge_notebook(self, step, outbox: Path | None) -> list[CheckResult]:
        """The LabLLM notebook ran with the reference (b)/(c) in it: students read each
        check's expectation and outcome (``public``); what the run produced goes to staff."""
        if step is None or not isinstance(step.value, dict):
            return _all(NOTEBOOK_CHECKS, False, "the notebook could not be executed"
                        + (f" (status: {step.status.value})" if step else ""),
                        step.status if step else None, detail=step.message if step else "")
        facts_text = (step.value.get("outbox") or {}).get("facts.json")
        if facts_text is None:
            return _all(NOTEBOOK_CHECKS, False, "the notebook stopped before the grader could "
                        f"inspect it (status: {step.status.value})", step.status,
                        detail=step.message)
        try:
            facts = json.loads(facts_text) if isinstance(facts_text, str) else facts_text
            verdicts = self.lab2.judge("notebook", facts, outbox)
            notes = public.public_notes(facts.get("compat", []))
        except Exception as exc:  # noqa: BLE001
            return _all(NOTEBOOK_CHECKS, False, f"the notebook's results could not be read "
                        f"({public.STAFF_NOTE})", step.status,
                        detail=f"{type(exc).__name__}: {exc}")
        out = []
        for check in NOTEBOOK_CHECKS:
            verdict = verdicts.get(check, Verdict(False, "this check did not run"))
            message = public.notebook_message(check, verdict.passed)
            if notes and check == "lab2d.eval_epoch":  # older transformers names: noted only
                message += " (compatibility: " + "; ".join(notes) + ")"
            out.append(CheckResult.of(check, _item(check), verdict.passed, message,
                                      status=step.status, detail=verdict.message))
        return out


def time_limits(full_size: bool, ranges: Mapping) -> dict[str, float]:
    """The training items' time limits (seconds, before --timeout-scale): the plug-in's own
    on the fixtures, ranges.toml's [time_limits] at full size."""
    return {**FIXTURE_LIMITS, **(ranges["time_limits"] if full_size else {})}


def _training_source(nb) -> str:
    """The student's module of the Lab 1 (f) job: the training function and what it uses,
    without the pieces the reference supplies."""
    return nb.module_source([*TRAINING[0], "HyperParams"], exclude=REFERENCE_PIECES)


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


def _imports_of(module) -> str:
    """The top-level import statements of a reference module (no ``__future__``)."""
    source = inspect.getsource(module)
    return "\n".join(ast.get_source_segment(source, node) or "" for node in ast.parse(source).body
                     if isinstance(node, (ast.Import, ast.ImportFrom))
                     and getattr(node, "module", "") != "__future__")


def _outcome_message(step, needs) -> str:
    what = f"{needs[0]}(...)"
    if "could not be loaded" in step.message:  # the notebook's top-level code, not `what`
        return f"{what} was not called: {step.message}"
    if step.status is Status.TIMEOUT:
        return f"{what} ran past its time limit and was stopped"
    if step.status is Status.LIMIT:
        return f"{what} hit a resource limit: {step.message}"
    if step.status is Status.DIED:
        return f"the process running {what} died: {step.message}"
    return f"{what} raised {step.message}"


def _all(checks, passed: bool, message: str, status, detail: str = "") -> list[CheckResult]:
    return [CheckResult.of(c, _item(c), passed, message, status=status, detail=detail)
            for c in checks]


def _results(checks, verdicts: Mapping[str, Verdict], status) -> list[CheckResult]:
    out = []
    for check in checks:
        verdict = verdicts.get(check)
        if verdict is None:
            out.append(CheckResult.of(check, _item(check), False, "this check did not run",
                                      status=status))
        else:
            out.append(CheckResult.of(check, _item(check), verdict.passed, verdict.message,
                                      status=status))
    return out
