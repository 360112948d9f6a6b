"""tests/ci_no_skips.py (a plug-in that conftest.py registers): under CI a test that would
skip fails with the reason (a missing bubblewrap must not hide the sandbox tests); only
hardware-bound tests may still skip."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SUITE = '''
import pytest

@pytest.mark.skipif(True, reason="bubblewrap is missing")
def test_sandbox():
    pass

def test_skipped_while_running():
    pytest.skip("unshare is not permitted here")

@pytest.mark.gpu
@pytest.mark.skipif(True, reason="needs a CUDA GPU")
def test_cuda():
    pass
'''


def _run(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    shutil.copy(Path(__file__).with_name("ci_no_skips.py"), tmp_path / "conftest.py")
    (tmp_path / "test_suite.py").write_text(SUITE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
                           "-W", "ignore::pytest.PytestUnknownMarkWarning", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("ci", ["true", "1"])
def test_under_ci_a_skip_fails_with_its_reason(tmp_path: Path, ci: str) -> None:
    done = _run(tmp_path, ci)
    assert done.returncode != 0
    assert "would be skipped, which CI does not allow (CI is set): Skipped: bubblewrap is " \
           "missing" in done.stdout
    assert "Skipped: unshare is not permitted here" in done.stdout
    assert "1 skipped" in done.stdout  # the CUDA test


@pytest.mark.parametrize("ci", [None, "false"])
def test_elsewhere_skips_stay_skips(tmp_path: Path, ci: str | None) -> None:
    done = _run(tmp_path, ci)
    assert done.returncode == 0 and "3 skipped" in done.stdout, done.stdout
