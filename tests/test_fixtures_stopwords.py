"""NLTK's English stop words (hw3_fixtures.stopwords), served offline from an NLTK data folder."""

import os
import subprocess
import sys
from pathlib import Path

from hw3_fixtures.stopwords import ENGLISH_STOP_WORDS, write_nltk_data


def test_the_long_standing_list_of_179_lower_case_words() -> None:
    assert len(ENGLISH_STOP_WORDS) == len(set(ENGLISH_STOP_WORDS)) == 179
    assert all(word == word.lower() and " " not in word for word in ENGLISH_STOP_WORDS)
    assert ENGLISH_STOP_WORDS[:3] == ("i", "me", "my")
    assert ENGLISH_STOP_WORDS[-1] == "wouldn't"
    assert {"not", "no", "don't", "should've", "ain", "ma"} <= set(ENGLISH_STOP_WORDS)


def test_nltk_reads_the_written_folder_offline(tmp_path: Path) -> None:
    path = write_nltk_data(tmp_path / "nltk_data")
    assert path == tmp_path / "nltk_data" / "corpora" / "stopwords" / "english"
    code = "from nltk.corpus import stopwords; print('\\n'.join(stopwords.words('english')))"
    env = {**os.environ, "NLTK_DATA": str(tmp_path / "nltk_data")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=60, check=True)
    assert tuple(result.stdout.split("\n")[:-1]) == ENGLISH_STOP_WORDS
