"""Grade one Gradescope submission: what ``run_autograder`` calls.

Gradescope's layout (``root`` is ``/autograder`` there; ``$AUTOGRADER_ROOT`` or ``--root``
moves it, for tests)::

    root/submission/           the student's files (code.zip and report.pdf, or notebooks)
    root/submission_metadata.json   (optional; its first submitter's sid names the student)
    root/results/results.json  written here: the same results as ``autograde`` writes in
                               ``gradescope/<id>/results.json``

The submission is graded exactly as ``autograde`` grades it (the same pipeline and
settings: command line > ``AUTOGRADE_*`` > ``autograde.toml`` > defaults), with the output
folder under ``root/grading``. A submission without its notebooks is graded as the engine
grades one (zero on the missing labs, with the reason); a fault of the grader itself exits
non-zero without writing results, so Gradescope shows a failed autograder, never a grade.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from .config import resolve


def _student(root: Path) -> str:
    meta = root / "submission_metadata.json"
    try:
        users = json.loads(meta.read_text(encoding="utf-8")).get("users") or []
        sid = str(users[0].get("sid") or users[0].get("email") or "").strip()
    except (OSError, ValueError, AttributeError, IndexError):
        sid = ""
    return sid or "submission"


def grade(root: Path, options: Sequence[str] = ()) -> Path:
    """Grade ``root/submission``; returns the results.json written."""
    from .cli import parser
    from .pipeline import run_batch

    print(f"autograder {Path(__file__).parent}", file=sys.stderr)
    results = root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    student = _student(root)
    staged = root / "grading" / "in" / student  # the folder's name is the student's id
    shutil.rmtree(staged.parent, ignore_errors=True)
    shutil.copytree(root / "submission", staged)
    cli = vars(parser().parse_args([*options, str(staged)]))
    config = cli.pop("config")
    cli.update(out=root / "grading" / "out", progress=False)
    settings = resolve(cli, config_file=config)
    batch = run_batch(settings, say=lambda text: print(text, file=sys.stderr))
    (report,) = batch.reports
    shutil.copyfile(settings.out / "gradescope" / report.student_id / "results.json", results)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autograder.gradescope_run",
                                description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path,
                   default=Path(os.environ.get("AUTOGRADER_ROOT", "/autograder")))
    args, options = p.parse_known_args(argv)
    print(grade(args.root, options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
