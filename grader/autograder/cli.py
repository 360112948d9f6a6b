"""``autograde``: grade submissions (a thin layer over ``pipeline.run_batch``); the staff
commands ``autograde manual ...`` and ``autograde export ...`` live in ``staff.py``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from . import staff
from .config import GPU_CHOICES, ISOLATION_CHOICES, Settings, resolve
from .errors import GraderError


def parser() -> argparse.ArgumentParser:
    helps = Settings.help()
    p = argparse.ArgumentParser(
        prog="autograde",
        description="Grade notebook submissions in a sandbox; write grades.csv, feedback, "
                    "Gradescope results and a class summary. Settings also come from "
                    "AUTOGRADE_<NAME> environment variables and a [grade] table in "
                    "autograde.toml (command line > environment > file > default).")
    p.add_argument("submissions", nargs="*", type=Path,
                   help=helps["submissions"] + " (default: fixtures/submissions)")
    p.add_argument("--out", type=Path, help=helps["out"] + " (default: ./grading-output)")
    p.add_argument("--data", help=helps["data"])
    p.add_argument("--regrade", action="store_true", default=None, help=helps["regrade"])
    p.add_argument("--isolation", choices=ISOLATION_CHOICES, help=helps["isolation"])
    p.add_argument("--gpu", choices=GPU_CHOICES, help=helps["gpu"])
    p.add_argument("--timeout-scale", type=float, dest="timeout_scale",
                   help=helps["timeout_scale"])
    p.add_argument("--plugin", help=helps["plugin"])
    p.add_argument("--memory-mb", type=int, dest="memory_mb", help=helps["memory_mb"])
    p.add_argument("--no-progress", action="store_false", dest="progress", default=None,
                   help="hide the progress bar")
    p.add_argument("--config", type=Path, help="settings file (TOML with a [grade] table)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in staff.COMMANDS:  # autograde manual ... / autograde export ...
        return staff.main(argv)
    args = vars(parser().parse_args(argv))
    config = args.pop("config")
    if not args["submissions"]:
        args["submissions"] = None
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from .pipeline import run_batch

    try:
        settings = resolve(args, config_file=config)
        result = run_batch(settings)
    except GraderError as exc:
        print(f"autograde: {exc}", file=sys.stderr)
        return 2
    print(f"graded {len(result.graded)}, already graded {len(result.skipped)} "
          f"(use --regrade to grade again), inputs skipped {len(result.problems)}; "
          f"sandbox isolation: {result.isolation.value}; training items on "
          f"{result.gpu or 'the CPU'}")
    for kind, path in result.outputs.items():
        print(f"  {kind}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
