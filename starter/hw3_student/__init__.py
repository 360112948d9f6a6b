"""Homework 3's student tools: report skeleton (and, later, self-check and pack).

Installed on its own from the student bundle: it imports neither the grader nor the
solution."""
