"""Run a notebook headlessly with nbclient in a given folder and environment."""

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from nbclient import NotebookClient
from nbformat import NotebookNode

CellHook = Callable[..., object]


def run_notebook(
    notebook: NotebookNode,
    workdir: Path,
    env: Mapping[str, str] | None = None,
    timeout: int | None = 600,
    on_cell_executed: CellHook | None = None,
) -> NotebookNode:
    """Execute `notebook` in place, its kernel started in `workdir` with `env` added.

    `timeout` is per cell, in seconds (None: no limit). A failing cell raises
    `nbclient.exceptions.CellExecutionError`; the cells run so far keep their outputs.
    """
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
        on_cell_executed=on_cell_executed,
    )
    client.execute(env={**os.environ, **(env or {})})
    return notebook


def cell_text(cell: NotebookNode) -> str:
    """What a code cell printed (stdout and stderr streams, then any error), as one text."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}\n")
    return "".join(parts)


def cell_by_id(notebook: NotebookNode, cell_id: str) -> NotebookNode:
    """The cell whose id is `cell_id`."""
    for cell in notebook.cells:
        if cell.get("id") == cell_id:
            return cell
    raise KeyError(f"no cell with id {cell_id!r}")
