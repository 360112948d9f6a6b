"""A quiet grader console: the grader's own model and data loading (the reference
perplexities, the saved models it measures) shows no progress bars, info logs or
deprecation warnings of the Hugging Face libraries. Student code runs in the sandbox and
is not affected; its output is captured there."""

from __future__ import annotations

import warnings

_LIBRARIES = r"(transformers|peft|datasets|huggingface_hub|accelerate|torch)(\.|$)"


def quiet_hugging_face() -> None:
    """Turn off the libraries' progress bars and info logs in this (the grader's) process,
    and their FutureWarning/DeprecationWarning/UserWarning about their own API."""
    import datasets
    import huggingface_hub
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.utils.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    huggingface_hub.utils.disable_progress_bars()
    for category in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category, module=_LIBRARIES)
