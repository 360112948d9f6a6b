"""The student bundle: what students download, and nothing of the solution or the grader.

    python -m hw3_plugin.bundle [--out dist/hw3-student-bundle.zip]   (nox -s bundle)

The zip holds the two starter notebooks, the student package as a wheel (its self-check
data built fresh by ``hw3_plugin.student_data``, the data its checks need inside it) and
the student README (``starter/README.md``). ``tests/test_student_bundle.py`` proves by
content that no reference function body and no hidden check is in it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .student_data import KIT, STARTER_DIR, build

DEFAULT_OUT = KIT / "dist" / "hw3-student-bundle.zip"
NOTEBOOKS = ("LabRNN.ipynb", "LabLLM.ipynb")


def build_wheel(out_dir: Path) -> Path:
    """Build the student package's wheel into `out_dir` (from a copy of starter/, so the
    build leaves nothing in the tree; no network: the installed setuptools builds it)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "starter"
        src.mkdir()
        shutil.copy2(STARTER_DIR / "pyproject.toml", src)
        shutil.copytree(STARTER_DIR / "hw3_student", src / "hw3_student",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                        "--no-build-isolation", "--wheel-dir", str(out_dir), str(src)],
                       check=True)
    return next(out_dir.glob("hw3_student-*.whl"))


def build_bundle(out: Path = DEFAULT_OUT) -> Path:
    """Write the bundle zip at `out`; returns it."""
    build()  # fresh self-check data, from today's rubric and reference
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = build_wheel(Path(tmp))
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in NOTEBOOKS:
                zf.write(STARTER_DIR / name, arcname=name)
            zf.write(wheel, arcname=wheel.name)
            zf.write(STARTER_DIR / "README.md", arcname="README.md")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    print(f"wrote {build_bundle(args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
