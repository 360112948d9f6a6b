"""Run the SOLUTION notebooks headlessly on fixture or real data and print what they print.

    python -m hw3_solution.validate [--data fixtures|PATH_TO_SHARED_DATA] [--lab rnn|llm|all]
                                    [--out DIR] [--timeout SECONDS]

Each lab's solution notebook (built by `hw3_solution.notebooks`) runs in a fresh work folder
under DIR with the chosen data staged where the handout reads it (`./IMDBDataset.csv`, an
offline Hugging Face home answering `gpt2` and `wikitext`, NLTK stop words). The executed
notebooks are written to DIR/<notebook>; the exit status is 1 when a cell fails. The kernels
run torch on one CPU thread unless OMP_NUM_THREADS is set.
"""

import argparse
import os
import shutil
import sys
from pathlib import Path

import nbformat
from hw3_fixtures.offline import prepare_offline_home, stage_workdir
from hw3_fixtures.sources import DataSource
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from hw3_solution.nbrun import cell_text, run_notebook
from hw3_solution.notebooks import available_labs, build_solution_notebook, load_layout


def data_source(data: str, work_dir: Path) -> DataSource:
    """The fixtures (`data == "fixtures"`) or the real data under the shared folder `data`."""
    if data == "fixtures":
        return DataSource.fixtures()
    shared = Path(data)
    if not shared.is_dir():
        raise FileNotFoundError(f"--data: no such folder {str(shared)!r} (or say 'fixtures')")
    return DataSource.real(shared, work_dir)


def _print_cell(cell, cell_index, **_) -> None:
    """nbclient hook: show each code cell's printed output as soon as it has run."""
    text = cell_text(cell)
    if text.strip():
        print(f"--- [{cell.get('id', cell_index)}]\n{text.rstrip()}", flush=True)


def validate_lab(
    lab: str, source: DataSource, env: dict[str, str], out: Path, timeout: int | None
) -> bool:
    """Run the solution notebook of `lab` in a fresh work folder; write it; True if it ran."""
    layout = load_layout(lab)
    workdir = out / f"work-{lab}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    stage_workdir(workdir, source)
    notebook = build_solution_notebook(lab)
    print(f"=== {layout.notebook} on {source.name} data (work folder {workdir})", flush=True)
    try:
        run_notebook(notebook, workdir, env, timeout=timeout, on_cell_executed=_print_cell)
        ok = True
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        print(f"!!! {layout.notebook} failed: {type(exc).__name__}\n{exc}", file=sys.stderr)
        ok = False
    nbformat.write(notebook, out / layout.notebook)
    print(f"=== wrote {out / layout.notebook}", flush=True)
    return ok


def validate(data: str, labs: list[str], out: Path, timeout: int | None) -> bool:
    """Run the solution notebooks of `labs` on `data`; True when all ran to the end."""
    out.mkdir(parents=True, exist_ok=True)
    source = data_source(data, out / "data")
    # One torch thread unless the caller says otherwise: on shared, busy CPU cores OpenMP's
    # spinning threads made the Lab 1 fixture run 20x slower (530 s against 24 s).
    env = {
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        **prepare_offline_home(source, out / "home"),
    }
    results = [validate_lab(lab, source, env, out, timeout) for lab in labs]
    return all(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hw3_solution.validate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data", default="fixtures", help="'fixtures' or the shared real-data folder"
    )
    parser.add_argument("--lab", choices=["rnn", "llm", "all"], default="all")
    parser.add_argument("--out", type=Path, default=Path("build/validate"))
    parser.add_argument(
        "--timeout", type=int, default=3600, help="seconds per cell (default %(default)s)"
    )
    args = parser.parse_args(argv)
    labs = available_labs() if args.lab == "all" else [args.lab]
    if args.lab != "all" and args.lab not in available_labs():
        parser.error(f"lab {args.lab!r} has no layout yet (hw3_solution.layout_{args.lab})")
    return 0 if validate(args.data, labs, args.out, args.timeout) else 1


if __name__ == "__main__":
    sys.exit(main())
