"""Helpers of the Lab 1 tests: a small learnable IMDB-shaped CSV, torch threads, kernel env."""

import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import torch
from hw3_fixtures.offline import prepare_offline_home
from hw3_fixtures.sources import DataSource
from hw3_fixtures.stopwords import ENGLISH_STOP_WORDS

POSITIVE = "great wonderful superb moving brilliant loved charming delightful".split()
NEGATIVE = "awful boring terrible dull waste hated clumsy tedious".split()
NEUTRAL = "film movie plot actor scene story director camera music ending script".split()
FILLER = NEUTRAL + list(ENGLISH_STOP_WORDS[:40])


def synthetic_reviews(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """Balanced reviews whose sentiment shows in a few telling words among filler."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_rows):
        positive = i % 2 == 0
        cue = POSITIVE if positive else NEGATIVE
        words = [
            rng.choice(cue) if rng.random() < 0.25 else rng.choice(FILLER)
            for _ in range(rng.randint(8, 40))
        ]
        words.insert(rng.randint(0, len(words)), "<br /><br />")
        rows.append(
            {
                "review": " ".join(words).capitalize() + ".",
                "sentiment": "positive" if positive else "negative",
            }
        )
    return pd.DataFrame(rows)


def write_imdb_csv(path: Path, n_rows: int = 1000, seed: int = 0) -> Path:
    """Write `synthetic_reviews` as an IMDB-shaped CSV (columns review, sentiment)."""
    synthetic_reviews(n_rows, seed).to_csv(path, index=False)
    return path


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch on `n` intra-op threads (one: no OpenMP spinning on shared, busy cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fixture_kernel_env(home: Path) -> dict[str, str]:
    """Environment for a notebook kernel: the kit's offline home for the fixtures under
    `home`, and one torch thread (OpenMP spinning on busy shared cores costs 10x or more)."""
    return {**prepare_offline_home(DataSource.fixtures(), home), "OMP_NUM_THREADS": "1"}
