"""Grading engine for notebook homework: intake, extraction, sandboxed runs, scoring,
gradebook and reports. The homework itself is a plug-in (see ``plugin.py``)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hw3-kit")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
