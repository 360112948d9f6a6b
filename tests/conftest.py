"""Fixtures shared by several test files (one definition each)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import nltk
import pytest
from autograder.config import Settings

pytest_plugins = ("ci_no_skips",)  # under CI, a skip fails with its reason


@pytest.fixture(scope="module")
def fixture_stop_words() -> Iterator[None]:
    """The fixture NLTK stop words on NLTK's search path (for the reference's HyperParams),
    the reference's cached stop-word list cleared before and after."""
    from hw3_fixtures.sources import DataSource
    from hw3_solution import lab_rnn

    folder = str(DataSource.fixtures().nltk_dir)
    nltk.data.path.insert(0, folder)
    lab_rnn.english_stop_words.cache_clear()
    yield
    nltk.data.path.remove(folder)
    lab_rnn.english_stop_words.cache_clear()


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """One intra-op torch thread: LSTM steps this small only lose time to hand-offs."""
    from solution_rnn_data import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of a notebook kernel that reads the fixtures offline."""
    from solution_rnn_data import fixture_kernel_env

    return fixture_kernel_env(tmp_path_factory.mktemp("home"))


@pytest.fixture
def code_cells() -> Callable:
    """The code cells of a notebook."""
    return lambda notebook: [cell for cell in notebook.cells if cell.cell_type == "code"]


@pytest.fixture
def engine_settings() -> Callable[..., Settings]:
    """Settings of an engine test batch: quiet, a small memory cap, ``**kw`` on top."""
    def make(submissions: Path, out: Path, **kw) -> Settings:
        return Settings(submissions=(submissions,), out=out, progress=False, memory_mb=768,
                        **kw)

    return make
