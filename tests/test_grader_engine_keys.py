"""One key derivation (autograder.keys) for the gradebook and the job cache, with code
entering as the hash of its source: change a check and rerun, and exactly the submissions
it judges are graded again (their sandbox jobs reused); change a probe, and the jobs that
use it run again; change nothing that decides a grade, and nothing is graded again."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

import pytest
from autograder.config import Settings
from autograder.keys import code_digest, derive_key, engine_digest, plugin_modules
from autograder.pipeline import run_batch
from engine_scenarios import toy_plugin
from engine_scenarios.engine_helpers import build_submission

TOY = Path(toy_plugin.__file__).parent


@pytest.fixture
def toy_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A copy of the toy plug-in as its own package ``toycopy``, and a loader that imports
    it afresh (as a new grader process would after an edit)."""
    package = tmp_path / "plugins" / "toycopy"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name in ("toy_plugin.py", "toy_probes.py", "toy_rubric.toml"):
        shutil.copy(TOY / name, package / name)
    monkeypatch.syspath_prepend(str(package.parent))

    def load():
        code_digest.cache_clear()
        for name in [m for m in sys.modules if m.startswith("toycopy")]:
            del sys.modules[name]
        importlib.invalidate_caches()
        return importlib.import_module("toycopy.toy_plugin").ToyPlugin()

    yield package, load
    for name in [m for m in sys.modules if m.startswith("toycopy")]:
        del sys.modules[name]
    code_digest.cache_clear()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _jobs(out: Path) -> set[str]:
    return {p.name for p in (out / ".cache" / "jobs").iterdir() if not p.name.startswith(".")}


def test_a_changed_check_regrades_exactly_what_it_judges(tmp_path: Path, toy_copy) -> None:
    package, load = toy_copy
    folder = tmp_path / "class"
    folder.mkdir()
    for student, name in {"ann": "perfect", "ben": "wrong_answers"}.items():
        build_submission(name, tmp_path / "build" / student).rename(folder / student)
    out = tmp_path / "out"
    settings = Settings(submissions=(folder,), out=out, progress=False, memory_mb=768)
    first = run_batch(settings, load(), say=lambda _: None)
    assert first.graded == ["ann", "ben"]
    jobs = _jobs(out)

    (package / "NOTES.md").write_text("not code: decides nothing\n")
    unchanged = run_batch(settings, load(), say=lambda _: None)
    assert (unchanged.graded, unchanged.skipped) == ([], ["ann", "ben"])

    _edit(package / "toy_plugin.py", '"add(a, b) should return a + b"',
          '"add(a, b) must return the sum a + b"')
    judged = run_batch(settings, load(), say=lambda _: None)
    assert (judged.graded, judged.skipped) == (["ann", "ben"], [])
    assert all("must return the sum" in r.item("a_add").checks[0].message
               for r in judged.reports)
    assert _jobs(out) == jobs  # the check only judges: every job outcome was reused

    _edit(package / "toy_probes.py", 'return list(ns["scale"](values, factor))',
          'return [v for v in ns["scale"](values, factor)]')
    probed = run_batch(settings, load(), say=lambda _: None)
    assert probed.graded == ["ann", "ben"]
    # Every toy job loads toy_probes.py, so every job ran again (new keys, as many as before)
    assert len(_jobs(out) - jobs) == len(jobs)
    assert [r.total for r in probed.reports] == [r.total for r in judged.reports]


def test_one_derivation_code_as_source_hash() -> None:
    assert derive_key(a=1, b="x") == derive_key(b="x", a=1) != derive_key(a=1, b="y")
    assert plugin_modules(toy_plugin.ToyPlugin()) == ("engine_scenarios",)
    import hw3_plugin

    assert plugin_modules(hw3_plugin.plugin()) == ("hw3_plugin", "hw3_solution",
                                                   "hw3_fixtures")
    assert len(engine_digest()) == 64 and engine_digest() != code_digest("autograder")
