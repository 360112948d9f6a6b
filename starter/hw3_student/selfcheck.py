"""Self-check: the grader's public checks on small offline data, in your own kernel.

In a notebook cell::

    from hw3_student import check
    check("lab1b")     # one item
    check()            # every item whose functions the notebook defines so far

From a shell (your notebooks' functions are taken from their code cells; top-level calls,
training and downloads are not run)::

    hw3-check LabRNN.ipynb LabLLM.ipynb

Each public check prints PASS or FAIL with the grader's own check id and message; hidden
checks are not run here, only counted ("+ 2 hidden checks"). Passing every public check does
not mean full marks.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import warnings
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from . import checks, probes_lab1, probes_lab2
from .checks import Result

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class ItemPlan:
    """How to run one item's public checks: the names it needs, the probe and its args, and
    the judge (probe data, expected values -> check id -> Result)."""

    needs: tuple[str, ...]
    probe: Callable[[Any, dict], dict] | None
    args: str
    judge: Callable[[Mapping, Mapping], dict[str, Result]]


def _judge_items(data: Mapping, e: Mapping) -> dict[str, Result]:
    error = checks.items_error(data)
    if error:
        return {c: Result(False, error) for c in ("lab1d.keys", "lab1d.length")}
    return {"lab1d.keys": checks.items_keys(data), "lab1d.length": checks.items_length(data)}


def _judge_tokenize_function(data: Mapping, e: Mapping) -> dict[str, Result]:
    error = checks.tokenize_function_error(data)
    return {"lab2b.labels": Result(False, error) if error
            else checks.tokenize_function_labels(data)}


PLANS: dict[str, ItemPlan] = {
    "lab1a": ItemPlan(("load_imdb",), probes_lab1.split, "split",
                      lambda d, e: {"lab1a.sizes": checks.split_sizes(d, e["split_total"])}),
    "lab1b": ItemPlan(("build_vocab",), probes_lab1.vocab, "vocab", lambda d, e: {
        "lab1b.stop_words": checks.vocab_stop_words(d, e["stop_words"]),
        "lab1b.special": checks.vocab_special(d, e["pad"], e["unk"])}),
    "lab1c": ItemPlan(("tokenize",), probes_lab1.tokenize, "tokenize", lambda d, e: {
        "lab1c.ids": checks.tokenize_ids(d, e["tokenize_ids"], range(len(e["tokenize_ids"])))}),
    "lab1d": ItemPlan(("IMDB",), probes_lab1.dataset_items, "dataset_items", _judge_items),
    "lab1e_init": ItemPlan(("LSTM",), probes_lab1.model_init, "model_init", lambda d, e: {
        "lab1e_init.embedding": checks.init_embedding(d, e["model_configs"])}),
    "lab1e_forward": ItemPlan(("LSTM",), probes_lab1.model_forward, "model_forward",
                              lambda d, e: {"lab1e_forward.shape": checks.forward_shape(
                                  d, e["forward_batch"], e["output_dim"])}),
    "lab1f": ItemPlan(("train_and_test_model_with_hparams",), None, "", lambda d, e: {}),
    "lab2a": ItemPlan(("generate_text",), probes_lab2.generate, "generate", lambda d, e: {
        "lab2a.prompt": checks.generation_prompt(d, e["prompt"])}),
    "lab2b": ItemPlan(("tokenize_function",), probes_lab2.tokenize_function,
                      "tokenize_function", _judge_tokenize_function),
    "lab2c": ItemPlan(("evaluate_perplexity",), probes_lab2.perplexity, "perplexity",
                      lambda d, e: {"lab2c.value": checks.perplexity_value(d,
                                                                           e["perplexity"])}),
    "lab2d": ItemPlan((), None, "", lambda d, e: {}),
    "lab2e": ItemPlan((), None, "", lambda d, e: {}),
}


@dataclass(frozen=True)
class ItemReport:
    """One item's self-check: its public results (check id -> Result) or why it did not
    run, and how many hidden checks the grader adds."""

    item: str
    title: str
    results: dict[str, Result]
    hidden: int
    skipped: str = ""  # why the item's checks did not run (names not defined yet)

    @property
    def passed(self) -> bool:
        return not self.skipped and all(r.passed for r in self.results.values())

    def text(self) -> str:
        lines = [f"{self.item}: {self.title}"]
        if self.skipped:
            lines.append(f"  SKIP  {self.skipped}")
        for check_id, r in self.results.items():
            lines.append(f"  {'PASS' if r.passed else 'FAIL'}  {check_id}: {r.message}")
        if not self.results and not self.skipped:
            lines.append("  (no public check: the grader's checks of this item are hidden)")
        if self.hidden:
            lines.append(f"  + {self.hidden} hidden check{'s' * (self.hidden != 1)} "
                         "(run by the grader only)")
        return "\n".join(lines)


@cache
def spec() -> dict:
    """The self-check's data (``data/selfcheck.json``): items, probe arguments, expected."""
    path = DATA / "selfcheck.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: this copy of hw3_student was installed "
                                "without its data (install the wheel from the bundle)")
    data = json.loads(path.read_text(encoding="utf-8"))
    data["items"] = {item.pop("id"): item for item in data["items"]}  # rubric order kept
    return data


def _args(name: str) -> dict:
    """A probe's arguments with the data paths made absolute."""
    args = dict(spec()["args"][name])
    if name == "split":
        args["csv_path"] = str(DATA / args["csv_path"])
    if "model" in args:
        args["model"] = str(DATA / args["model"])
    return args


def run_item(item: str, namespace: MutableMapping[str, Any]) -> ItemReport:
    """Run one item's public checks against the functions in `namespace`."""
    info = spec()["items"][item]
    plan = PLANS[item]
    base = {"item": item, "title": info["title"], "hidden": info["hidden"]}
    missing = [n for n in plan.needs if n not in namespace]
    if missing:
        return ItemReport(results={}, skipped=f"{', '.join(missing)} is not defined", **base)
    if plan.probe is None or not info["public"]:
        return ItemReport(results={}, **base)
    saved = {k: namespace[k] for k in ("tokenizer", "model") if k in namespace}
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            data = plan.probe(namespace, _args(plan.args))
        if "error" in data:  # the probe's own word on a malformed return value
            results = {c: Result(False, data["error"]) for c in info["public"]}
        else:
            results = plan.judge(data, spec()["expected"])
    except Exception as exc:  # noqa: BLE001 - the student's code failed: every check fails
        results = {c: Result(False, f"{plan.needs[0]}(...) raised "
                                     f"{type(exc).__name__}: {exc}")
                   for c in info["public"]}
    finally:  # probes may set the handout's global tokenizer/model: put the student's back
        for key in ("tokenizer", "model"):
            if key in saved:
                namespace[key] = saved[key]
            else:
                namespace.pop(key, None)
    return ItemReport(results={c: results[c] for c in info["public"] if c in results}, **base)


def _items_for(selection: str | None) -> list[str]:
    items = list(spec()["items"])
    if selection is None:
        return items
    chosen = [i for i in items if i == selection or i.startswith(selection + "_")
              or i.split(".")[0] == selection]
    if not chosen and selection in ("lab1", "lab2"):
        chosen = [i for i in items if spec()["items"][i]["lab"] == selection]
    if not chosen:
        raise ValueError(f"no item {selection!r}; items: {', '.join(items)} (or lab1, lab2)")
    return chosen


def run(selection: str | None, namespace: MutableMapping[str, Any],
        only_defined: bool = False) -> list[ItemReport]:
    """Reports of the selected items (an item id like "lab1b", "lab1e", a lab "lab1", or
    None for all); with `only_defined`, items whose names are not defined are left out."""
    reports = []
    for item in _items_for(selection):
        if only_defined and any(n not in namespace for n in PLANS[item].needs):
            continue
        reports.append(run_item(item, namespace))
    return reports


def check(item: str | None = None, namespace: MutableMapping[str, Any] | None = None
          ) -> bool:
    """Run the public checks of `item` (e.g. "lab1b"; None: every item the notebook defines
    so far) on the caller's functions, print the results, return whether all passed."""
    if namespace is None:
        frame = inspect.currentframe()
        namespace = frame.f_back.f_globals if frame and frame.f_back else {}
    reports = run(item, namespace, only_defined=item is None)
    if not reports:
        print("nothing to check yet: define the lab's functions first (run their cells)")
        return False
    print("\n".join(r.text() for r in reports))
    print(summary(reports))
    return all(r.passed for r in reports)


def summary(reports: list[ItemReport]) -> str:
    public = sum(len(r.results) for r in reports)
    passed = sum(r.passed for rep in reports for r in rep.results.values())
    hidden = sum(r.hidden for r in reports)
    return (f"{passed}/{public} public checks passed; {hidden} hidden checks are run by the "
            "grader only")
