"""The building blocks of a lab notebook's layout (see `hw3_solution.notebooks`).

A layout is plain data: an ordered tuple of cells, each with a stable id. Code that belongs
to the solution is never written here; `Source` and `Imports` cells name what to take from
the lab's module, so the module stays the one source of truth.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_CELL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Markdown:
    """A text cell (question statements, instructions)."""

    id: str
    text: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Code:
    """A code cell written in the layout: setup, calls and prints, never solution code."""

    id: str
    text: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Source:
    """A code cell holding the named top-level definitions of the lab module, in order.

    Fenced student regions inside them become stubs in the starter; the cell is tagged with
    their question ids.
    """

    id: str
    names: tuple[str, ...]
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Imports:
    """A code cell holding the lab module's import block (``__future__`` imports left out)."""

    id: str
    tags: tuple[str, ...] = ()


Cell = Markdown | Code | Source | Imports


@dataclass(frozen=True)
class Layout:
    """One lab notebook: the module it draws on, the stub messages, and its cells."""

    lab: str
    notebook: str
    module: str
    hints: Mapping[str, str]
    cells: tuple[Cell, ...]
    metadata: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for cell in self.cells:
            if not _CELL_ID.match(cell.id):
                raise ValueError(f"layout {self.lab}: bad cell id {cell.id!r}")
            if cell.id in seen:
                raise ValueError(f"layout {self.lab}: duplicate cell id {cell.id!r}")
            seen.add(cell.id)


def setup_code(packages: Mapping[str, str], nltk_corpora: tuple[str, ...] = ()) -> str:
    """The first cell: pip-install the missing `packages` (import name -> pip name) and the
    student package's wheel when it lies next to the notebook, and fetch the NLTK corpora
    not yet on disk (where there is no internet this fails fast and quietly).
    """
    needed = ", ".join(f"{module!r}: {pip!r}" for module, pip in packages.items())
    lines = [
        "# Setup: installs what is missing (Colab has most of it already).",
        "import importlib.util",
        "import subprocess",
        "import sys",
        "",
        f"NEEDED = {{{needed}}}  # import name -> pip name",
        "missing = [pip for name, pip in NEEDED.items() if importlib.util.find_spec(name) is None]",
        "if missing:",
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)',
        "",
        "# The student tools from the bundle (self-check, report, pack): put the wheel",
        "# hw3_student-*.whl next to this notebook (Colab: upload it to the session's files).",
        "import glob",
        "",
        'wheels = sorted(glob.glob("hw3_student-*.whl"))',
        'if wheels and importlib.util.find_spec("hw3_student") is None:',
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", wheels[-1]], check=True)',  # noqa: E501
    ]
    if nltk_corpora:
        lines += [
            "",
            "import nltk",
            "",
            f"for corpus in {list(nltk_corpora)!r}:",
            "    try:",
            '        nltk.data.find(f"corpora/{corpus}")',
            "    except LookupError:",
            "        nltk.download(corpus, quiet=True)  # needs internet",
        ]
    return "\n".join(lines)
