"""Jobs and their cache: a job that reads another job's outbox runs after it in a fresh
sandbox (the outbox bound read-only); the cache holds outcomes as JSON only (never an
outbox: no weights), is bounded (least recently used out first); --workers above the
pool of sandbox users is refused with a clear error instead of waiting forever."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from autograder.archives import ArchiveLimits, Budget
from autograder.cli import main
from autograder.config import Settings, resolve
from autograder.errors import ConfigError
from autograder.jobcache import JobCache
from autograder.models import CallOutcome, Isolation, Job, JobOutcome, Status, Step
from autograder.pipeline import Grader, run_batch
from autograder.plugin import BatchContext
from autograder.sandbox import isolation
from autograder.sandbox.isolation import USERS_PER_GRADER, choose
from engine_scenarios.engine_helpers import build_submission
from engine_scenarios.toy_plugin import ToyPlugin

PROBES = '''
import os, pathlib

def leave(ns, text):
    (pathlib.Path(os.environ["GRADER_OUTBOX"]) / "model.safetensors").write_text(text)
    return "left"

def read(ns):
    inbox = pathlib.Path(os.environ["GRADER_WORK"]) / "previous-outbox"
    text = (inbox / "model.safetensors").read_text()
    try:
        (inbox / "model.safetensors").write_text("changed")
        writable = True
    except OSError:
        writable = False
    return {"read": text, "writable": writable}
'''


def _grader(tmp_path: Path, **kw) -> Grader:
    settings = Settings(submissions=(tmp_path,), out=tmp_path / "out", progress=False,
                        memory_mb=768, **kw)
    batch = BatchContext(settings, tmp_path / "cache")
    batch.cache_dir.mkdir(exist_ok=True)
    plugin = ToyPlugin()
    return Grader(plugin, batch, plugin.prepare(batch), choose("auto"), tmp_path / "staging",
                  lambda: Budget(ArchiveLimits()))


def _chain(tmp_path: Path, text: str) -> list[Job]:
    probes = tmp_path / "chain_probes.py"
    probes.write_text(PROBES)
    return [Job("notebook", probe_modules=(probes,),
                steps=(Step("leave", "chain_probes:leave", (text,)),)),
            Job("measure", probe_modules=(probes,), reads_outbox_of="notebook",
                steps=(Step("read", "chain_probes:read"),))]


def test_a_job_reads_the_outbox_of_the_job_before_it(tmp_path: Path) -> None:
    grader = _grader(tmp_path)
    out = grader._run_jobs(_chain(tmp_path, "weights v1"), tmp_path / "work")
    assert out["notebook"]["leave"].value == "left"
    assert out["measure"]["read"].value == {"read": "weights v1", "writable": False}
    entries = list((tmp_path / "cache" / "jobs").iterdir())
    assert len(entries) == 2
    assert [p.name for e in entries for p in e.rglob("*")] == ["outcome.json"] * 2  # no weights

    again = grader._run_jobs(_chain(tmp_path, "weights v1"), tmp_path / "work2")
    assert again["measure"]["read"].value["read"] == "weights v1"
    assert not (tmp_path / "work2").exists()  # both from the cache: no sandbox ran

    measure_entry = max(entries, key=lambda e: "read" in (e / "outcome.json").read_text())
    shutil.rmtree(measure_entry)  # the follower is missing: the whole chain runs again
    third = grader._run_jobs(_chain(tmp_path, "weights v1"), tmp_path / "work3")
    assert third["measure"]["read"].value["read"] == "weights v1"
    assert (tmp_path / "work3" / "notebook").exists()


def test_a_follower_of_an_unplanned_job_is_a_plug_in_fault(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="reads the outbox of 'notebook', which is not planned"):
        _grader(tmp_path)._run_jobs(_chain(tmp_path, "x")[1:], tmp_path / "work")


def _outcome(job_id: str, value: str, outbox: Path | None = None) -> JobOutcome:
    return JobOutcome(job_id, {"s": CallOutcome("s", Status.OK, value)}, Isolation.BWRAP,
                      outbox=outbox)


def test_the_cache_never_holds_an_outbox(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    (outbox / "trainer0").mkdir(parents=True)
    (outbox / "trainer0" / "model.safetensors").write_bytes(bytes(1 << 20))
    cache = JobCache(tmp_path / "jobs")
    cache.put("k", _outcome("j", "v", outbox))
    assert [p.name for p in (tmp_path / "jobs" / "k").iterdir()] == ["outcome.json"]
    got = cache.get("k", "j")
    assert got["s"].value == "v" and got.outbox is None


def test_the_cache_is_bounded_least_recently_used_out_first(tmp_path: Path) -> None:
    cache = JobCache(tmp_path / "jobs", max_bytes=3500)
    big = "x" * 900
    for key in ("a", "b", "c"):
        cache.put(key, _outcome(key, big))
    assert cache.get("a", "a") is not None  # a used again: b is now the oldest
    cache.put("d", _outcome("d", big))
    kept = sorted(p.name for p in (tmp_path / "jobs").iterdir())
    assert kept == ["a", "c", "d"]
    assert sum(p.stat().st_size for p in (tmp_path / "jobs").rglob("*") if p.is_file()) <= 3500
    assert json.loads((tmp_path / "jobs" / "d" / "outcome.json").read_text())["steps"]


def test_cache_max_gb_is_a_setting() -> None:
    assert Settings(cache_max_gb=0.5).cache_max_gb == 0.5
    with pytest.raises(ConfigError, match="cache_max_gb"):
        resolve({"cache_max_gb": "0"}, env={})


def test_workers_above_the_pool_of_sandbox_users_are_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(isolation, "drops_privileges", lambda level: True)  # root with bwrap
    folder = build_submission("perfect", tmp_path / "in")
    workers = USERS_PER_GRADER + 1
    with pytest.raises(ConfigError, match=f"--workers {workers} is more than the "
                                          f"{USERS_PER_GRADER} sandbox users"):
        run_batch(Settings(submissions=(folder,), out=tmp_path / "out", progress=False,
                           workers=workers), ToyPlugin(), say=lambda _: None)
    assert not (tmp_path / "out").exists()
    args = [str(folder), "--out", str(tmp_path / "out"), "--plugin",
            "engine_scenarios.toy_plugin:plugin", "--no-progress", "--workers", str(workers)]
    assert main(args) == 2 and f"use --workers {USERS_PER_GRADER} or fewer" in \
        capsys.readouterr().err
