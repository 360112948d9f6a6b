"""The grader's own model loading (reference perplexity, saved models it measures) prints
no progress bars or library warnings once the plug-in has quieted the libraries."""

from __future__ import annotations

import subprocess
import sys

import pytest

MEASURE = (
    "import warnings; warnings.simplefilter('default')\n"
    "from hw3_fixtures.sources import DataSource\n"
    "from hw3_plugin.lab2 import Lab2Plan\n"
    "from hw3_plugin.quiet import quiet_hugging_face\n"
    "if {quiet}: quiet_hugging_face()\n"
    "source = DataSource.fixtures()\n"
    "plan = Lab2Plan(source.gpt2_dir, source.wikitext_dir)\n"
    "print(round(plan.pretrained_perplexity, 3))\n"
)


def _measure(quiet: bool) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", MEASURE.format(quiet=quiet)],
                          capture_output=True, text=True, timeout=600, check=True)


@pytest.mark.slow
def test_the_graders_model_loading_is_quiet() -> None:
    loud, quiet = _measure(False), _measure(True)
    assert "Loading weights" in loud.stderr  # what the libraries print when left alone
    assert quiet.stderr == "", quiet.stderr
    assert quiet.stdout == loud.stdout  # the same measurement
