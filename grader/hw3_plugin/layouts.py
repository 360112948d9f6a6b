"""The two notebook layouts Homework 3 grades under one rubric, and which one a notebook is.

* ``kit``: this kit's starter notebooks (Lab 2 as functions: ``load_model_and_tokenizer``,
  ``prepare_data``, ``make_trainer``, ...; Lab 1's stop words from ``english_stop_words``).
* ``handout-2025``: the course's Spring 2025 handout (``../shared/spec/handout-2025.md``):
  Lab 2 is top-level script code where only ``generate_text``, ``tokenize_function`` and
  ``evaluate_perplexity`` are functions; Lab 1's (f) names the handout's ``collate_fn``.

A layout is told by what the notebook defines, never by its file or cell names (students
copy cells into fresh notebooks): a notebook that defines one of the kit's own names is the
kit's; one that defines the lab's graded functions and none of the kit's names is the
handout's; anything else (an empty notebook) is graded as the kit's. Where the two
handouts' wording differs, a check follows the layout's wording (see ``Layout``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    """A handout's notebook layout and what its wording allows that the other's does not."""

    name: str
    title: str
    stop_words_as_unk: bool  # (c) may map stop words to UNK instead of dropping them

    def note(self, notebook: str) -> str:
        """The feedback line saying how a notebook was read."""
        return f"{notebook}: graded as {self.title}"


KIT = Layout("kit", "the kit's starter layout", stop_words_as_unk=False)
# The handout's (c) says only "for each word, find its index in the vocabulary": mapping
# stop words to UNK is a valid reading there.
HANDOUT_2025 = Layout("handout-2025", "the Spring 2025 handout layout", stop_words_as_unk=True)

# Names only the kit's notebooks define, and the graded names both layouts define.
KIT_ONLY = {
    "lab1": frozenset({"english_stop_words"}),
    "lab2": frozenset({"load_model_and_tokenizer", "load_wikitext", "prepare_data", "LMData",
                       "make_trainer", "full_fine_tune", "lora_model", "lora_fine_tune",
                       "TRAINING_ARGS", "FineTuneResult"}),
}
GRADED = {
    "lab1": frozenset({"load_imdb", "build_vocab", "tokenize", "IMDB", "LSTM",
                       "train_and_test_model_with_hparams"}),
    "lab2": frozenset({"generate_text", "tokenize_function", "evaluate_perplexity"}),
}


def detect(lab: str, defined: Iterable[str]) -> Layout:
    """The layout of a ``lab`` notebook that defines the top-level names ``defined``."""
    names = set(defined)
    if names & KIT_ONLY[lab] or not names & GRADED[lab]:
        return KIT
    return HANDOUT_2025
