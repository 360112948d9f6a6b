"""Test data for the Lab 1 tests: a small learnable IMDB-shaped CSV and NLTK stop words."""

import random
from pathlib import Path

import pandas as pd

# NLTK's English stop-word list (the long-standing 179-word release).
STOP_WORDS = """i me my myself we our ours ourselves you you're you've you'll you'd your yours
yourself yourselves he him his himself she she's her hers herself it it's its itself they them
their theirs themselves what which who whom this that that'll these those am is are was were be
been being have has had having do does did doing a an the and but if or because as until while
of at by for with about against between into through during before after above below to from up
down in out on off over under again further then once here there when where why how all any
both each few more most other some such no nor not only own same so than too very s t can will
just don don't should should've now d ll m o re ve y ain aren aren't couldn couldn't didn didn't
doesn doesn't hadn hadn't hasn hasn't haven haven't isn isn't ma mightn mightn't mustn mustn't
needn needn't shan shan't shouldn shouldn't wasn wasn't weren weren't won won't wouldn
wouldn't""".split()

POSITIVE = "great wonderful superb moving brilliant loved charming delightful".split()
NEGATIVE = "awful boring terrible dull waste hated clumsy tedious".split()
NEUTRAL = "film movie plot actor scene story director camera music ending script".split()


def write_nltk_stopwords(root: Path) -> Path:
    """An NLTK data folder holding corpora/stopwords/english; returns the folder."""
    folder = root / "corpora" / "stopwords"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "english").write_text("\n".join(STOP_WORDS) + "\n", encoding="utf-8")
    return root


def synthetic_reviews(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """Balanced reviews whose sentiment shows in a few telling words among filler."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_rows):
        positive = i % 2 == 0
        cue = POSITIVE if positive else NEGATIVE
        words = [
            rng.choice(cue) if rng.random() < 0.25 else rng.choice(NEUTRAL + STOP_WORDS[:40])
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
