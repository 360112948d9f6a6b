"""Build Gradescope's ``autograder.zip``: ``setup.sh``, ``run_autograder`` and the kit.

    python -m autograder.gradescope_pack --out autograder.zip PATH...   (nox -s gradescope)

``PATH``s (files or folders of the kit, relative to the current folder) go into the zip as
they are, less caches and build leftovers; Gradescope unpacks the zip into
``/autograder/source``, runs ``setup.sh`` once when the image is built, and
``run_autograder`` for every submission. ``run_autograder`` puts the kit's own packages on
``PYTHONPATH`` (so the code in the zip is what grades) and calls
``autograder.gradescope_run``; ``$AUTOGRADER_ROOT`` moves ``/autograder`` (tests) and
``$AUTOGRADE_PYTHON`` picks the interpreter (default: the one ``setup.sh`` made).
"""

from __future__ import annotations

import argparse
import stat
import sys
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints",
              ".nox", ".venv", ".git"}
SKIP_SUFFIXES = (".pyc", ".egg-info")

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. AUTOGRADER_ROOT moves /autograder (tests);
# AUTOGRADE_PYTHON picks the Python (default: the environment setup.sh made).
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
KIT="$ROOT/source"
PYTHON="${AUTOGRADE_PYTHON:-$ROOT/venv/bin/python}"
export PYTHONPATH="%(pythonpath)s${PYTHONPATH:+:$PYTHONPATH}"
cd "$KIT"
exec "$PYTHON" -m autograder.gradescope_run --root "$ROOT" "$@"
"""

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image (Ubuntu, as root, with
# network): a Python >= 3.11, bubblewrap for the sandbox, and the kit in /autograder/venv.
set -euo pipefail
cd /autograder/source
apt-get update -qq
apt-get install -y -qq bubblewrap python3-venv python3-pip
PY=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    apt-get install -y -qq python3.11 python3.11-venv
    PY=python3.11
fi
"$PY" -m venv /autograder/venv
/autograder/venv/bin/pip install -q --upgrade pip
/autograder/venv/bin/pip install -q %(torch)s --index-url https://download.pytorch.org/whl/cpu
/autograder/venv/bin/pip install -q %(installs)s
"""


def _files(paths: Iterable[Path]) -> list[Path]:
    files = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist (run from the kit's root)")
        for f in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if f.is_file() and not SKIP_PARTS.intersection(f.parts) \
                    and not any(p.endswith(SKIP_SUFFIXES) for p in f.parts) \
                    and not f.name.endswith(SKIP_SUFFIXES):
                files.append(f)
    return files


def _script(zf: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.external_attr = (stat.S_IFREG | 0o755) << 16
    zf.writestr(info, text)


def build(out: Path, paths: Sequence[Path], *, python_roots: Sequence[str],
          installs: Sequence[str], torch: str) -> Path:
    """Write ``out``; ``python_roots``: folders (in the kit) holding its packages;
    ``installs``: pip arguments for ``setup.sh``."""
    pythonpath = ":".join(f"$KIT/{root}" for root in python_roots)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        _script(zf, "setup.sh", SETUP_SH % {"torch": torch, "installs": " ".join(installs)})
        _script(zf, "run_autograder", RUN_AUTOGRADER % {"pythonpath": pythonpath})
        for f in _files(paths):
            zf.write(f, f.as_posix())
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autograder.gradescope_pack",
                                description=__doc__.splitlines()[0])
    p.add_argument("paths", nargs="+", type=Path, help="files and folders of the kit")
    p.add_argument("--out", type=Path, default=Path("autograder.zip"))
    p.add_argument("--python-root", action="append", default=[], dest="python_roots",
                   help="a folder of the kit holding packages (repeat)")
    p.add_argument("--install", action="append", default=[], dest="installs",
                   help="pip arguments for setup.sh (repeat)")
    p.add_argument("--torch", default="torch")
    args = p.parse_args(argv)
    print(build(args.out, args.paths, python_roots=args.python_roots,
                installs=args.installs, torch=args.torch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
