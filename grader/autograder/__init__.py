"""Grading engine for notebook homework: intake, extraction, sandboxed runs, scoring,
gradebook and reports. The homework itself is a plug-in (see ``plugin.py``)."""

from importlib.metadata import PackageNotFoundError, packages_distributions, version

try:  # the version of whichever distribution installed this package
    __version__ = version(packages_distributions()[__name__][0])
except (KeyError, IndexError, PackageNotFoundError):  # a source tree never installed
    __version__ = "0+unknown"
