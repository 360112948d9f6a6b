"""Staff commands over a graded batch (``autograde manual ...``, ``autograde export ...``).

    autograde manual sheet [--out DIR]               write the sheet again (marks pre-filled)
    autograde manual import SHEET.csv [--out DIR]    validate and store staff marks
    autograde export canvas --roster R.csv --assignment NAME [--assignment-id N] [--out DIR]
    autograde export moodle --roster R.csv [--id-field email] [--out DIR]
    autograde similarity [SUBMISSIONS...] [--threshold 0.6] [--out DIR]   (staff only)

Each reads the batch's ``gradebook.sqlite`` in ``--out`` (the ``out`` setting: command
line > ``AUTOGRADE_OUT`` > settings file > default). An import rewrites every output
(grades.csv, feedback, Gradescope results, summary, the sheet) with the final totals and
writes a regrade report of who moved.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .config import resolve
from .errors import GraderError
from .gradebook import Gradebook
from .manual import SHEET_NAME, read_sheet, write_sheet
from .regrade import write_regrade
from .reporters import write_all

COMMANDS = ("manual", "export", "similarity")


def _out(args: argparse.Namespace) -> Path:
    out = resolve({"out": args.out}, config_file=args.config).out
    if not (out / "gradebook.sqlite").is_file():
        raise GraderError(f"no graded batch in {out} (no gradebook.sqlite): grade first, or "
                          "give --out")
    return out


def import_marks(out: Path, sheet: Path) -> dict[str, Path]:
    """Validate ``sheet`` against the batch in ``out``, store it, rewrite every output and
    write a regrade report; returns the outputs. Raises SheetError and stores nothing if
    any cell is wrong."""
    with Gradebook(out / "gradebook.sqlite") as book:
        before = book.reports()
        marks = read_sheet(sheet, before)
        book.replace_manual(marks, str(sheet))
        after = book.reports()
    outputs = write_all(after, out)
    moved = write_regrade(before, after, out / "regrades", "manual-import")
    if moved:
        outputs["regrade"] = moved[1]
    return outputs


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="autograde", description="Staff commands on a graded "
                                "batch (grading itself: autograde [grade options]).")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", type=Path, help="the batch's output folder")
    common.add_argument("--config", type=Path, help="settings file (TOML, [grade] table)")
    sub = p.add_subparsers(dest="command", required=True)
    manual = sub.add_parser("manual", help="the manual items' sheet").add_subparsers(
        dest="action", required=True)
    manual.add_parser("sheet", parents=[common], help=f"write {SHEET_NAME} again")
    imp = manual.add_parser("import", parents=[common], help="import a filled sheet")
    imp.add_argument("sheet", type=Path)
    export = sub.add_parser("export", help="grades for a course site").add_subparsers(
        dest="site", required=True)
    for site in ("canvas", "moodle"):
        e = export.add_parser(site, parents=[common])
        e.add_argument("--roster", type=Path, required=True,
                       help="CSV: student_id, name, canvas_id, sis_user_id, sis_login_id, "
                            "section, email, idnumber, username")
        e.add_argument("--provisional", action="store_true",
                       help="export totals with manual items still pending")
    canvas = export.choices["canvas"]
    canvas.add_argument("--assignment", required=True, help="the assignment's name in Canvas")
    canvas.add_argument("--assignment-id", default="", help="its Canvas id")
    canvas.add_argument("--no-points-possible", action="store_false", dest="points_possible")
    moodle = export.choices["moodle"]
    moodle.add_argument("--id-field", default="email",
                        help="roster column Moodle matches users by (email, idnumber, username)")
    moodle.add_argument("--grade-column", default="Grade")
    similar = sub.add_parser("similarity", parents=[common],
                             help="pairs of students with alike code, per question")
    similar.add_argument("submissions", nargs="*", type=Path)
    similar.add_argument("--plugin")
    similar.add_argument("--threshold", type=float, default=0.6,
                         help="smallest share of shared own code listed (0..1)")
    return p


def similarity(args: argparse.Namespace) -> Path:
    """Compare the submissions' own code per group; write the staff report."""
    from .pipeline import archive_limits
    from .plugin import load_plugin
    from .similarity import collect_units, compare, write_report

    cli = {"out": args.out, "plugin": args.plugin, "submissions": args.submissions or None}
    settings = resolve(cli, config_file=args.config)
    plugin = load_plugin(settings.plugin)
    spec = getattr(plugin, "similarity", None)
    if spec is None:
        raise GraderError(f"the plug-in {plugin.name!r} offers no similarity groups")
    units, problems = collect_units(settings.submissions, plugin, spec,
                                    archive_limits(settings))
    for problem in problems:
        print(f"  not compared: {problem}", file=sys.stderr)
    folder = settings.out / "similarity"
    pairs = compare(units, spec.boilerplate(), threshold=args.threshold, pages=folder)
    print(f"{len(pairs)} pair(s) at or above {args.threshold:.0%} among {len(units)} students")
    return write_report(pairs, folder, args.threshold)


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "similarity":
            print(similarity(args))
            return 0
        out = _out(args)
        if args.command == "manual" and args.action == "sheet":
            with Gradebook(out / "gradebook.sqlite") as book:
                print(write_sheet(book.reports(), out / SHEET_NAME))
        elif args.command == "manual":
            for kind, path in import_marks(out, args.sheet).items():
                print(f"  {kind}: {path}")
        else:
            from . import exports

            roster = exports.read_roster(args.roster)
            with Gradebook(out / "gradebook.sqlite") as book:
                reports = book.reports()
            if args.site == "canvas":
                done = exports.canvas(reports, roster, out / "exports",
                                      assignment=args.assignment,
                                      assignment_id=args.assignment_id,
                                      points_possible=args.points_possible,
                                      provisional=args.provisional)
            else:
                done = exports.moodle(reports, roster, out / "exports",
                                      id_field=args.id_field, grade_column=args.grade_column,
                                      provisional=args.provisional)
            print(done.path)
            for m in done.missing:
                name = f" ({m['name']})" if m["name"] else ""
                print(f"  {m['student_id']}{name}: {m['problem']}", file=sys.stderr)
    except GraderError as exc:
        print(f"autograde: {exc}", file=sys.stderr)
        return 2
    return 0
