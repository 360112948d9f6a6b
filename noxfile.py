"""Entry points of the kit: tests, grade, validate, starter, bundle, bench, lint.

Each session installs what it needs into its own virtual environment, so a fresh machine
needs only Python and nox.
"""

from __future__ import annotations

import os
import shutil

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
# The CPU build of torch that lies on the CI machine's disk; an unpinned torch would pull
# a CUDA build of several GB.
TORCH = "torch==2.13.0"


def _install(session: nox.Session, extras: str = "") -> None:
    session.install(TORCH)
    session.install("-e", "./starter", "-e", f".{extras}")


# Programs the sandbox uses: bubblewrap (student code under namespaces) and, as root,
# util-linux's setpriv (the child drops to a user of its own) and unshare.
SANDBOX_TOOLS = {"bwrap": "bubblewrap", "setpriv": "util-linux", "unshare": "util-linux"}


def _sandbox_tools(session: nox.Session) -> None:
    """Install the sandbox's programs with apt-get when they are missing and we are root
    (a failed install fails the session); else say what is missing."""
    missing = sorted({pkg for tool, pkg in SANDBOX_TOOLS.items() if shutil.which(tool) is None})
    if not missing:
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        session.log(f"installing {', '.join(missing)} with apt-get (running as root)")
        session.run("apt-get", "update", "-qq", external=True)
        session.run("apt-get", "install", "-y", "-qq", *missing, external=True)
    else:
        session.log(f"{', '.join(missing)} missing and cannot be installed here (needs root "
                    "and apt-get): the grader uses the strongest isolation that works, and "
                    "the sandbox tests skip (under CI=true they fail instead)")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the linter, the import contracts (pyproject's [tool.importlinter]) and the kit's
    test suite (pytest with per-test time limits). As root with apt-get, installs
    bubblewrap and util-linux first; under CI=true a test that would skip (e.g. for want of
    bubblewrap) fails instead, with the reason."""
    _install(session, "[test]")
    _sandbox_tools(session)
    session.run("ruff", "check", ".")
    session.run("lint-imports")
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON)
def grade(session: nox.Session) -> None:
    """Grade submissions: `nox -s grade -- [SUBMISSIONS...] [--out DIR] [--data fixtures|PATH]
    [--regrade] [--isolation auto|bwrap|unshare|rlimits] [--gpu auto|on|off]
    [--timeout-scale X]` (`-- --help`).

    Student code runs under bubblewrap when it works here; as root with apt-get, a missing
    bubblewrap is installed first. Otherwise `auto` takes unshare, or stops and says what
    to install.
    """
    _install(session)
    _sandbox_tools(session)
    session.run("autograde", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Lint the code with ruff."""
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session(python=PYTHON)
def validate(session: nox.Session) -> None:
    """Run the solution notebooks headlessly and print their results.

    Default: fixtures, every lab. Real data: `nox -s validate -- --data ../shared/data --lab rnn`
    (options: --data fixtures|PATH, --lab rnn|llm|all, --out DIR, --timeout SECONDS).
    """
    _install(session)
    session.run("python", "-m", "hw3_solution.validate", *session.posargs)


@nox.session(python=PYTHON)
def starter(session: nox.Session) -> None:
    """Regenerate starter/*.ipynb from the solution and its layouts (`-- --check` compares)."""
    _install(session)
    session.run("python", "-m", "hw3_solution.notebooks", *session.posargs)


@nox.session(python=PYTHON)
def bundle(session: nox.Session) -> None:
    """Write the student bundle (`dist/hw3-student-bundle.zip`, `-- --out FILE`): the two
    starter notebooks, the student package's wheel with its self-check data, a README.
    Students then use the package's own commands: hw3-check, hw3-report, hw3-pack."""
    _install(session)
    session.run("python", "-m", "hw3_plugin.bundle", *session.posargs)


@nox.session(python=PYTHON)
def bench_grade(session: nox.Session) -> None:
    """Median seconds to grade one whole submission on the fixtures, on this machine."""
    _install(session)
    session.run("python", "-m", "hw3_plugin.bench_grade", *session.posargs)


@nox.session(venv_params=["--system-site-packages"])
def bench(session: nox.Session) -> None:
    """Faithful vs fast mode side by side (`-- --help` lists the options).

    On a CUDA GPU it reads the real data (`-- --data-dir ../shared/data`, staged under
    `--work-dir`); with no GPU it runs the CPU-sized version on the fixtures. The session's
    environment sees the system's packages, so a GPU machine's CUDA build of torch is used.
    """
    if shutil.which("nvidia-smi") is None:
        session.install(TORCH)  # no GPU: the CPU build
    session.install("-e", ".")
    session.run("python", "-m", "hw3_solution.fast.bench", *session.posargs)
