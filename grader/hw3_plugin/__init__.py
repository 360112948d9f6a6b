"""Homework 3's content for the grading engine: probes, checks and the plug-in."""

from .plugin import Hw3Plugin


def plugin() -> Hw3Plugin:
    """The Homework 3 plug-in (the engine's default)."""
    return Hw3Plugin()


__all__ = ["Hw3Plugin", "plugin"]
