"""A pytest plug-in of the suite (registered in conftest.py): no hidden skips under CI.

Under CI (the ``CI`` environment variable set, as CI services and ``.ci/run`` do), a test
that would be skipped fails instead, with the skip's reason: a missing tool (bubblewrap,
unshare) must not hide the sandbox and hostile-corpus tests. Tests that need hardware the
machine may lack (marker ``gpu``: CUDA; ``cpu_only``: a machine without CUDA) may still skip.
"""

from __future__ import annotations

import os

import pytest

HARDWARE_MARKERS = ("gpu", "cpu_only")


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and _under_ci()) or hasattr(report, "wasxfail"):
        return
    if any(item.get_closest_marker(name) for name in HARDWARE_MARKERS):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (f"{item.nodeid} would be skipped, which CI does not allow (CI is set): "
                       f"{reason}")
