"""The job cache keeps outcomes it can give back whole, and no trained weights: an outcome
whose outbox is over the bound is not stored (running the job again re-derives it)."""

from __future__ import annotations

from pathlib import Path

from autograder.jobcache import JobCache
from autograder.models import CallOutcome, Isolation, JobOutcome, Status


def outcome(outbox: Path) -> JobOutcome:
    step = CallOutcome("notebook", Status.OK, {"loss": 1.5}, "", 2.0, "")
    return JobOutcome("lab2.notebook", {"notebook": step}, Isolation.RLIMITS, (), 2.0, outbox)


def test_small_outbox_is_kept_and_given_back(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    (outbox / "facts.json").write_text('{"done": true}')
    cache = JobCache(tmp_path / "cache", max_outbox_bytes=1024)
    cache.put("k", outcome(outbox))
    back = cache.get("k", "lab2.notebook")
    assert back is not None and back["notebook"].value == {"loss": 1.5}
    assert (back.outbox / "facts.json").read_text() == '{"done": true}'


def test_weights_over_the_bound_are_not_stored(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    (outbox / "model.safetensors").write_bytes(b"\0" * 2048)
    cache = JobCache(tmp_path / "cache", max_outbox_bytes=1024)
    cache.put("k", outcome(outbox))
    assert cache.get("k", "lab2.notebook") is None
    assert not (tmp_path / "cache").exists()  # nothing written
