"""``autograde``: grade submissions (a thin layer over ``pipeline.run_batch``).

Every setting of ``config.Settings`` is a flag generated from its field (name, type, help,
choices, default): ``--timeout-scale``, ``--memory-mb``, ``--progress/--no-progress`` ...;
the submissions are the positional arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm.contrib.logging import logging_redirect_tqdm

from .config import Settings, resolve
from .errors import GraderError

if TYPE_CHECKING:
    from .pipeline import BatchResult


def _add_setting(p: argparse.ArgumentParser, name: str) -> None:
    field = Settings.model_fields[name]
    default = field.default
    shown = ", ".join(map(str, default)) if isinstance(default, tuple) else default
    help_ = field.description if default is None else f"{field.description} (default: {shown})"
    if name == "submissions":
        p.add_argument(name, nargs="*", type=Path, help=help_)
        return
    flag = "--" + name.replace("_", "-")
    kind = field.annotation
    if kind is bool:
        p.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None,
                       help=help_)
        return
    choices = typing.get_args(kind) if typing.get_origin(kind) is typing.Literal else None
    if choices:
        p.add_argument(flag, dest=name, choices=choices, help=help_)
    elif kind in (int, float, Path):
        p.add_argument(flag, dest=name, type=kind, help=help_)
    else:
        p.add_argument(flag, dest=name, help=help_)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="autograde",
        description="Grade notebook submissions in a sandbox; write grades.csv, feedback, "
                    "Gradescope results and a class summary. Settings also come from "
                    "AUTOGRADE_<NAME> environment variables and a [grade] table in "
                    "autograde.toml (command line > environment > file > default).")
    for name in Settings.names():
        _add_setting(p, name)
    p.add_argument("--config", type=Path, help="settings file (TOML with a [grade] table; "
                   "default: $AUTOGRADE_CONFIG, else ./autograde.toml when it exists)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = vars(parser().parse_args(argv))
    config = args.pop("config")
    if not args["submissions"]:
        args["submissions"] = None
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from .pipeline import run_batch

    try:
        settings = resolve(args, config_file=config)
        with logging_redirect_tqdm():  # log lines print above the one progress bar
            result = run_batch(settings)
    except GraderError as exc:
        print(f"autograde: {exc}", file=sys.stderr)
        return 2
    print(summary(result))
    if result.failures:  # graded again by the next run; staff have the tracebacks
        print(f"autograde: {len(result.failures)} internal error(s): "
              + ", ".join(f.student_id for f in result.failures), file=sys.stderr)
        return 3
    return 0


def summary(result: BatchResult) -> str:
    """The closing summary: counts, scores, grader faults, how jobs ran, where outputs are."""
    lines = [f"graded {len(result.graded)}, already graded {len(result.skipped)} "
             f"(use --regrade to grade again), inputs skipped {len(result.problems)}; "
             f"sandbox isolation: {result.isolation.value}; GPU jobs on "
             f"{result.gpu or 'the CPU'}"]
    if result.reports:
        totals = [r.total for r in result.reports]
        lines.append(f"totals of {len(totals)} submissions: mean {sum(totals) / len(totals):.1f}"
                     f", min {min(totals):g}, max {max(totals):g} (of "
                     f"{result.reports[0].max_total:g})")
    refused = [r.student_id for r in result.reports if r.error]
    if refused:
        lines.append(f"refused {len(refused)}: {', '.join(refused[:10])}"
                     + (" ..." if len(refused) > 10 else "") + " (see their feedback)")
    if result.failures:
        ids = [f.student_id for f in result.failures]
        lines.append(f"internal errors for {len(ids)}: {', '.join(ids[:10])}"
                     + (" ..." if len(ids) > 10 else "") + " (not graded; the next run grades "
                     "them again)")
    lines += [f"  {kind}: {path}" for kind, path in result.outputs.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
