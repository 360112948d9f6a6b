"""What Homework 3 compares for similarity: one group per question's code cell of the
handouts (Lab 1 (a)-(f), Lab 2 (a)-(e): the functions and classes the cell defines), with
the given code of both handouts and the whole reference solution as boilerplate."""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping

QUESTION_CELL = re.compile(r"^lab\d[a-z]$")  # the layouts' ids of question code cells
LABS = {"rnn": "lab1", "llm": "lab2"}  # layout lab -> the plug-in's lab id


class Hw3Similarity:
    """Groups and boilerplate for ``autograder.similarity`` (read from the layouts)."""

    @property
    def groups(self) -> Mapping[str, tuple[str, tuple[str, ...]]]:
        from hw3_solution.layout import Source
        from hw3_solution.notebooks import load_layout

        groups = {}
        for lab, lab_id in LABS.items():
            for cell in load_layout(lab).cells:
                if isinstance(cell, Source) and QUESTION_CELL.match(cell.id):
                    groups[cell.id] = (lab_id, tuple(cell.names))
        return groups

    def boilerplate(self) -> list[str]:
        """The starter notebooks' code (given code and stubs) and the reference modules."""
        from hw3_solution import lab_llm, lab_rnn
        from hw3_solution.notebooks import build_starter_notebook

        cells = [c.source for lab in LABS for c in build_starter_notebook(lab).cells
                 if c.cell_type == "code"]  # one text a cell: each parses alone
        return cells + [inspect.getsource(lab_rnn), inspect.getsource(lab_llm)]
