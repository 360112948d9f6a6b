"""The feedback page and the class summary page in headless Chromium: they render (the
inlined charts show: the chart blue is on the screenshot), no console error, and the
screenshots are kept in ``$FINAL_SCREENSHOTS`` (default: the test's temporary folder) to
be looked at. A control page with a script error proves the console check can fail."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from autograder.config import Settings
from autograder.pipeline import run_batch
from engine_scenarios.engine_helpers import build_submission
from engine_scenarios.toy_plugin import ToyPlugin
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHART_BLUE = (0x44, 0x72, 0xC4)


def render(page: Path, shot: Path, profile: Path) -> list[str]:
    """Load ``page`` in headless Chromium, screenshot it; returns the console's errors."""
    assert CHROMIUM, "no chromium here: apt-get install chromium (.ci/run does)"
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--no-first-run", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
         "--window-size=1200,2400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return [line for line in done.stderr.splitlines()
            if re.search(r"CONSOLE|Uncaught|ERR_FILE_NOT_FOUND", line)]


def blue_pixels(shot: Path) -> int:
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    return int((np.abs(pixels - CHART_BLUE).sum(axis=1) < 30).sum())


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("pages")
    folder = tmp / "class"
    folder.mkdir()
    for student, scenario in {"ann": "perfect", "ben": "wrong_answers",
                              "dan": "missing_lab2"}.items():
        build_submission(scenario, tmp / "build" / student).rename(folder / student)
    out = tmp / "out"
    run_batch(Settings(submissions=(folder,), out=out, progress=False, memory_mb=768),
              ToyPlugin(), say=lambda _: None)
    return out


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("FINAL_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_summary_page_renders(outputs: Path, shots: Path, tmp_path: Path) -> None:
    page = outputs / "summary" / "summary.html"
    html = page.read_text()
    assert "Pending manual items" in html and "essay: still to grade for 3 students" in html
    assert "<code>b_scale.value</code>" in html  # failed by dan: among the most failed
    errors = render(page, shots / "summary.png", tmp_path / "profile")
    assert errors == []
    assert blue_pixels(shots / "summary.png") > 2000  # both charts drawn


def test_feedback_page_renders(outputs: Path, shots: Path, tmp_path: Path) -> None:
    page = outputs / "feedback" / "ben.html"
    errors = render(page, shots / "feedback.png", tmp_path / "profile")
    assert errors == []
    shot = np.asarray(Image.open(shots / "feedback.png").convert("RGB"))
    assert shot.shape[1] == 1200 and (shot < 200).any()  # text drawn on the page


def test_console_errors_are_seen(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><p>x</p>"
                    "<script>undefinedFunction();</script></body></html>")
    errors = render(page, tmp_path / "broken.png", tmp_path / "profile")
    assert any("undefinedFunction" in e for e in errors)
