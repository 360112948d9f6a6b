"""The synthetic IMDB reviews (hw3_fixtures.imdb): reproducible and shaped like Kaggle's CSV."""

import pandas as pd
import pytest
from hw3_fixtures import imdb
from hw3_fixtures.sources import FIXTURE_DATA
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    return imdb.make_reviews()


def test_committed_csv_is_a_fresh_make_reviews(reviews: pd.DataFrame) -> None:
    committed = (FIXTURE_DATA / "IMDBDataset.csv").read_bytes()
    assert reviews.to_csv(index=False, lineterminator="\n").encode() == committed


def test_same_seed_same_rows_other_seed_other_rows(reviews: pd.DataFrame) -> None:
    small = imdb.make_reviews(200, 4, seed=5)
    pd.testing.assert_frame_equal(small, imdb.make_reviews(200, 4, seed=5))
    assert not small.equals(imdb.make_reviews(200, 4, seed=6))
    assert not small["review"].isin(reviews["review"]).all()


def test_columns_labels_and_size(reviews: pd.DataFrame) -> None:
    assert list(reviews.columns) == ["review", "sentiment"]
    assert len(reviews) == imdb.N_REVIEWS
    assert reviews["sentiment"].value_counts().to_dict() == {
        "positive": imdb.N_REVIEWS // 2, "negative": imdb.N_REVIEWS // 2}


def test_lengths_tags_case_and_duplicates(reviews: pd.DataFrame) -> None:
    words = reviews["review"].str.split().str.len()
    assert words.min() >= imdb.MIN_WORDS and words.max() <= imdb.MAX_WORDS
    assert 40 <= words.median() <= 60  # short enough for a few seconds an epoch on CPU
    tagged = reviews["review"].str.contains("<br /><br />", regex=False)
    assert 0.4 < tagged.mean() < 0.8
    assert not reviews["review"].str.contains(r"<br />\s*$|^\s*<br />").any()
    assert (reviews["review"] == reviews["review"].str.lower()).mean() > 0.03
    assert reviews["review"].str.contains(r"\b[A-Z]{4,}\b").any()  # some SHOUTING
    assert reviews["review"].str.contains("!!!", regex=False).any()
    assert reviews["review"].duplicated().sum() == imdb.N_DUPLICATES
    copies = reviews[reviews["review"].duplicated(keep=False)]
    assert (copies.groupby("review")["sentiment"].nunique() == 1).all()


def test_articles_agree_with_the_next_word(reviews: pd.DataFrame) -> None:
    assert not reviews["review"].str.contains(r"\b[Aa] [aeiou]").any()
    assert reviews["review"].str.contains(r"\ban [aeiou]").any()


def test_labels_are_learnable_but_not_trivially(reviews: pd.DataFrame) -> None:
    """A bag of words separates most reviews; misleading verdicts keep it below 100%."""
    train, test = reviews.iloc[:4000], reviews.iloc[4000:]
    vectorizer = CountVectorizer(min_df=5)
    model = LogisticRegression(max_iter=1000).fit(
        vectorizer.fit_transform(train["review"]), train["sentiment"])
    accuracy = model.score(vectorizer.transform(test["review"]), test["sentiment"])
    assert 0.85 < accuracy < 0.995


@pytest.mark.parametrize("n_reviews, n_duplicates", [(7, 0), (0, 0), (10, 5), (10, -1)])
def test_bad_sizes_are_refused(n_reviews: int, n_duplicates: int) -> None:
    with pytest.raises(ValueError, match="make_reviews: need an even n_reviews"):
        imdb.make_reviews(n_reviews, n_duplicates)
