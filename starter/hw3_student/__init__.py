"""Homework 3's student tools: self-check, report (Markdown and PDF), pack.

Installed on its own from the student bundle: it imports neither the grader nor the
solution. ``from hw3_student import check`` in a notebook; ``hw3-check``, ``hw3-report``,
``hw3-pack`` (or ``python -m hw3_student check|report|pack``) in a shell.
"""

from .selfcheck import check

__all__ = ["check"]
