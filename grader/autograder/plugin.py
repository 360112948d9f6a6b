"""The contract between the grading engine and a homework plug-in.

The engine knows nothing of the homework. A plug-in says which notebooks a submission
holds, gives the rubric, plans sandbox jobs for one submission and judges their outcomes:

    intake (engine) -> extract (engine) -> plugin.plan -> sandbox (engine)
        -> plugin.judge -> scoring (engine, from the rubric) -> gradebook, reporters

The plug-in keeps no state between calls: what ``prepare`` builds for a batch (staged data,
reference results, time limits) it returns, and ``plan`` and ``judge`` receive it as
``ctx.prepared``. ``plan`` and ``judge`` run in the grader's process, one submission at a
time even when several are graded at once (only sandbox jobs run in parallel); only ``Job`` data
(source text, probe module files, JSON arguments) crosses into the sandbox and only
``JobOutcome`` data comes back. A plug-in may also have ``notes(ctx) -> [str]``: lines
for the feedback on how it read the submission (nothing is deducted for them). A check id
that the rubric lists but ``judge`` does not return scores zero with the message "this check
did not run"; the items of a lab whose notebook is missing score zero without ``plan`` being
asked about that lab.

Optional: ``code_modules``, the modules whose source decides the plug-in's results (e.g.
its reference solution); by default the top-level package of the plug-in's class. Their
source is part of every grading key (keys.py), so a changed check regrades.

Optional parts, looked up with ``getattr`` (see the class below): ``libraries``,
``similarity`` and ``answer_keys``.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .config import PLUGIN_GROUP, Settings
from .errors import PluginError
from .extract import ExtractedNotebook
from .models import CheckResult, Job, JobOutcome, Submission
from .rubric import Rubric


@dataclass(frozen=True)
class BatchContext:
    """What a plug-in may use for a whole batch."""

    settings: Settings
    cache_dir: Path  # persistent scratch (e.g. an offline model cache), kept between runs
    gpu: str | None = None  # the GPU lent to jobs with ``Job.gpu`` (its name); None: CPU only

    @property
    def data(self) -> str:
        """'fixtures' or the folder of real data the user chose."""
        return self.settings.data


@dataclass(frozen=True)
class SubmissionContext:
    """What a plug-in may use for one submission."""

    batch: BatchContext
    submission: Submission
    notebooks: Mapping[str, ExtractedNotebook] = field(default_factory=dict)  # readable ones
    work_dir: Path = Path(".")  # scratch for this submission, removed afterwards
    prepared: Any = None  # what the plug-in's ``prepare`` returned for this batch

    def timeout(self, seconds: float) -> float:
        """A time limit scaled by the ``timeout_scale`` setting. Plug-ins scale the limits
        they set (steps, cells, notebooks); the engine scales a job's load time limit."""
        return seconds * self.batch.settings.timeout_scale


@runtime_checkable
class HomeworkPlugin(Protocol):
    """A homework: its notebooks, rubric, checks, and how to run and judge them."""

    name: str  # short id of the homework; recorded in every report
    rubric: Rubric  # items, points, check weights (see rubric.py)
    notebooks: Mapping[str, str]  # lab id (as in the rubric) -> notebook file name
    path_redirects: Mapping[str, str]  # string-literal suffix -> replacement (extract.py)
    check_ids: Collection[str]  # every check id ``judge`` can return
    # Optional: ``libraries``, the distributions (e.g. "torch") whose versions may change a
    # job's outcome; the job cache keys outcomes on them (jobcache.py). Default: none.
    # Optional: ``similarity``, groups of definitions to compare and the boilerplate to leave
    # out (similarity.SimilaritySpec; ``autograde similarity``). Default: none.
    # Optional: ``answer_keys``, manual item id -> premarks.AnswerKey: suggestions on the
    # manual sheet read from report PDFs, never final. Default: none.

    def prepare(self, ctx: BatchContext) -> Any:
        """Once per batch, before any submission: stage data, build caches; returns what
        ``plan`` and ``judge`` need (they get it as ``ctx.prepared``). May raise."""

    def plan(self, submission: Submission, ctx: SubmissionContext) -> list[Job]:
        """The sandbox jobs for one submission (only labs whose notebook was read)."""

    def judge(
        self, outcomes: Mapping[str, JobOutcome], ctx: SubmissionContext
    ) -> list[CheckResult]:
        """Check results from the jobs' outcomes (keyed by job id); never raises on bad data."""


def plugin_notes(plugin: HomeworkPlugin, ctx: SubmissionContext) -> list[str]:
    """The plug-in's notes on how it read one submission (e.g. which notebook layout it
    graded), for the feedback; optional: a plug-in without ``notes(ctx)`` has none."""
    notes = getattr(plugin, "notes", None)
    return [str(n) for n in notes(ctx)] if callable(notes) else []


def installed_plugins() -> dict[str, EntryPoint]:
    """Entry-point name -> entry point, for every plug-in of the ``autograder.homeworks``
    group (a package declares one in its pyproject, as pytest plug-ins do ``pytest11``)."""
    return {ep.name: ep for ep in entry_points(group=PLUGIN_GROUP)}


def load_plugin(spec: str | None = None) -> HomeworkPlugin:
    """The plug-in ``spec`` names: an entry-point name of ``autograder.homeworks``, or
    ``module:attribute``; None or "": the only installed plug-in. An object is taken as it
    is, a factory is called with no argument; the result must keep the contract.

    Raises PluginError naming the installed plug-ins when the choice is unclear."""
    found = installed_plugins()
    listing = ", ".join(f"{name} ({ep.value})" for name, ep in sorted(found.items())) or "none"
    if not spec:
        if len(found) != 1:
            raise PluginError(
                f"{len(found)} homework plug-ins are installed in the {PLUGIN_GROUP!r} group "
                f"({listing}): choose one with --plugin NAME or --plugin module:attribute"
                if found else
                f"no homework plug-in is installed (entry-point group {PLUGIN_GROUP!r}): "
                "install one (pip install -e PATH) or give --plugin module:attribute")
        spec = next(iter(found))
    if ":" in spec:
        obj = _import_object(spec)
    elif spec in found:
        try:
            obj = found[spec].load()
        except Exception as exc:  # noqa: BLE001 - any import failure of the plug-in's code
            raise PluginError(f"plug-in {spec!r} ({found[spec].value}) cannot be loaded: "
                              f"{type(exc).__name__}: {exc}") from exc
    else:
        raise PluginError(f"plug-in {spec!r} is not installed (installed: {listing}); give "
                          "an entry-point name or 'package.module:attribute'")
    if not isinstance(obj, HomeworkPlugin) and callable(obj):
        obj = obj()
    if not isinstance(obj, HomeworkPlugin):
        raise PluginError(
            f"plug-in {spec!r} lacks part of the HomeworkPlugin contract "
            "(name, rubric, notebooks, path_redirects, check_ids, prepare, plan, judge)"
        )
    obj.rubric.bind(obj.check_ids, obj.notebooks)
    return obj


def _import_object(spec: str) -> object:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise PluginError(f"plug-in {spec!r}: write it as 'package.module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"plug-in {spec!r}: cannot import {module_name}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise PluginError(f"plug-in {spec!r}: {module_name} has no {attr!r}") from None
