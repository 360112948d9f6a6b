"""A tiny homework plug-in that exercises the grading engine in tests.

Notebooks: ToyA.ipynb (lab1: ``add``, ``count_words``), ToyB.ipynb (lab2: ``scale``, and
a notebook run that must leave ``outbox/facts.json`` with ``{"done": true}``).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from pathlib import Path

from autograder.models import CheckResult, Job, JobOutcome, Step, Submission
from autograder.plugin import BatchContext, SubmissionContext
from autograder.rubric import Rubric

HERE = Path(__file__).parent
ADD_CASES = ((2, 3), (10, -4))
TEXT = "one two three four"
FACTS_CELL = ("import json, os\n"
              "json.dump({'done': DONE}, open(os.environ['GRADER_OUTBOX'] + '/facts.json', 'w'))")


class ToyPlugin:
    name = "toy"
    notebooks = {"lab1": "ToyA.ipynb", "lab2": "ToyB.ipynb"}
    path_redirects = {"toy_words.txt": "./toy_words.txt"}
    check_ids = ("a_add.value", "a_add.type", "a_words.count", "b_scale.value", "b_run.facts")

    def __init__(self, run_notebooks: bool = False, step_timeout: float = 20.0,
                 stall: Collection[str] = ()) -> None:
        self.rubric = Rubric.load(HERE / "toy_rubric.toml")
        self.run_notebooks = run_notebooks
        self.step_timeout = step_timeout
        self.stall = set(stall)  # students whose planning hangs (to kill a batch midway)

    def prepare(self, ctx: BatchContext) -> Path:
        """The words file every lab1 job reads (``plan`` gets it as ``ctx.prepared``)."""
        words_file = ctx.cache_dir / "toy_words.txt"
        words_file.write_text("alpha beta gamma\n", encoding="utf-8")
        return words_file

    def plan(self, submission: Submission, ctx: SubmissionContext) -> list[Job]:
        if submission.student_id in self.stall:
            time.sleep(600)
        probes = (HERE / "toy_probes.py",)
        limit = ctx.timeout(self.step_timeout)
        jobs = []
        if "lab1" in ctx.notebooks:
            nb = ctx.notebooks["lab1"]
            jobs.append(Job(
                "lab1", module_source=nb.module_source(["add", "count_words"]),
                probe_modules=probes, files={"toy_words.txt": ctx.prepared},
                steps=tuple(Step(f"add{i}", "toy_probes:add", case, timeout_s=limit)
                            for i, case in enumerate(ADD_CASES))
                + (Step("words", "toy_probes:words", (TEXT,), timeout_s=limit),),
            ))
        if "lab2" in ctx.notebooks:
            nb = ctx.notebooks["lab2"]
            jobs.append(Job("lab2", module_source=nb.module_source(["scale"]),
                            probe_modules=probes,
                            steps=(Step("scale", "toy_probes:scale", ([1, 2, 3], 2),
                                        timeout_s=limit),)))
            if self.run_notebooks:
                notebook = nb.sanitized()
                notebook.cells.append({"cell_type": "code", "source": FACTS_CELL,
                                       "metadata": {}, "outputs": [],
                                       "execution_count": None, "id": "facts"})
                jobs.append(Job("lab2.nb", kind="notebook", notebook=notebook,
                                cell_timeout_s=limit, timeout_s=limit * 3))
        return jobs

    def judge(self, outcomes: Mapping[str, JobOutcome], ctx: SubmissionContext
              ) -> list[CheckResult]:
        results = []
        if "lab1" in outcomes:
            adds = [outcomes["lab1"][f"add{i}"] for i in range(len(ADD_CASES))]
            seen = [o.value if o.ok else f"{o.status.value}: {o.message}" for o in adds]
            want = [a + b for a, b in ADD_CASES]
            results.append(CheckResult.of("a_add.value", "a_add", seen == want,
                                          "add(a, b) should return a + b",
                                          expected=str(want), seen=str(seen),
                                          status=adds[0].status))
            results.append(CheckResult.of("a_add.type", "a_add",
                                          all(type(v) is int for v in seen),
                                          "add of two ints should give an int",
                                          status=adds[0].status))
            words = outcomes["lab1"]["words"]
            results.append(CheckResult.of("a_words.count", "a_words",
                                          words.ok and words.value == 4 + 3,
                                          "count_words(text) counts the text's words plus "
                                          "those of toy_words.txt",
                                          seen=str(words.value if words.ok else words.message),
                                          status=words.status))
        if "lab2" in outcomes:
            scaled = outcomes["lab2"]["scale"]
            results.append(CheckResult.of("b_scale.value", "b_scale",
                                          scaled.ok and scaled.value == [2, 4, 6],
                                          "scale([1, 2, 3], 2) should be [2, 4, 6]",
                                          seen=str(scaled.value), status=scaled.status))
        if "lab2.nb" in outcomes:
            run = outcomes["lab2.nb"]["notebook"]
            facts = (run.value or {}).get("outbox", {}).get("facts.json", {})
            results.append(CheckResult.of("b_run.facts", "b_run", facts == {"done": True},
                                          "the notebook should run to its end",
                                          seen=str(facts), status=run.status))
        return results


def plugin() -> ToyPlugin:
    return ToyPlugin()
