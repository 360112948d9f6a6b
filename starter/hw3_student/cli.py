"""The student commands: ``hw3-check``, ``hw3-report``, ``hw3-pack`` (also
``python -m hw3_student check|report|pack``). Each is a thin wrapper over one module."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

NOTEBOOKS = ("LabRNN.ipynb", "LabLLM.ipynb")


def _check_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="LabRNN.ipynb and/or LabLLM.ipynb (default: those in this folder)")
    parser.add_argument("--item", help="one item (lab1b, lab1e, lab2c ...) or lab (lab1, lab2)")


def run_check(args: argparse.Namespace) -> int:
    """Run the public checks on each notebook's definitions; 0 when all passed."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from . import notebook, selfcheck

    paths = args.notebooks or [Path(n) for n in NOTEBOOKS if Path(n).is_file()]
    if not paths:
        print("no notebook given and none in this folder", file=sys.stderr)
        return 2
    try:
        import nltk  # the handout's HyperParams reads NLTK's stop words: use the shipped copy

        nltk.data.path.insert(0, str(selfcheck.DATA / "nltk_data"))
    except ImportError:
        pass
    start = time.perf_counter()
    reports = []
    for path in paths:
        lab = {"labrnn.ipynb": "lab1", "labllm.ipynb": "lab2"}.get(path.name.lower())
        if lab is None:
            print(f"{path}: expected LabRNN.ipynb or LabLLM.ipynb", file=sys.stderr)
            return 2
        try:
            ns = notebook.namespace(path)
        except (OSError, ValueError) as exc:
            print(f"{path}: cannot be read as a notebook ({exc})", file=sys.stderr)
            return 2
        print(f"== {path}")
        if args.item and not args.item.startswith(lab):
            continue
        lab_reports = selfcheck.run(args.item or lab, ns)
        print("\n".join(r.text() for r in lab_reports))
        reports += lab_reports
    print(selfcheck.summary(reports) + f" ({time.perf_counter() - start:.1f} s)")
    return 0 if reports and all(r.passed for r in reports) else 1


def run_report(args: argparse.Namespace) -> int:
    from . import report

    return report.main_args(args)


def run_pack(args: argparse.Namespace) -> int:
    from . import pack

    return pack.main_args(args)


def parser() -> argparse.ArgumentParser:
    from . import pack, report

    top = argparse.ArgumentParser(
        prog="python -m hw3_student",
        description="Homework 3 student tools: check your functions with the grader's public "
                    "checks, write your report (Markdown and PDF), pack code.zip.")
    sub = top.add_subparsers(dest="command", required=True)
    _check_parser(sub.add_parser("check", help="run the public checks on your notebooks"))
    report.add_arguments(sub.add_parser("report", help="write report.md and report.pdf"))
    pack.add_arguments(sub.add_parser("pack", help="build code.zip and check your report PDF"))
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return {"check": run_check, "report": run_report, "pack": run_pack}[args.command](args)


def check_main(argv: list[str] | None = None) -> int:
    return main(["check", *(sys.argv[1:] if argv is None else argv)])


def report_main(argv: list[str] | None = None) -> int:
    return main(["report", *(sys.argv[1:] if argv is None else argv)])


def pack_main(argv: list[str] | None = None) -> int:
    return main(["pack", *(sys.argv[1:] if argv is None else argv)])
