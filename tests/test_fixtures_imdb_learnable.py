"""The committed IMDB fixture is learnable by the handout's Lab 1 recipe within its 5 epochs."""

import pytest
from hw3_fixtures.sources import FIXTURE_DATA
from hw3_solution import lab_rnn


@pytest.mark.slow
@pytest.mark.usefixtures("fixture_stop_words", "one_torch_thread")
def test_reference_lstm_learns_the_fixture_in_five_epochs() -> None:
    """EMBEDDING_DIM=1 and a warm-up longer than the run: the loss still falls every epoch."""
    result = lab_rnn.train_and_test_model_with_hparams(
        lab_rnn.HyperParams(), csv_path=str(FIXTURE_DATA / "IMDBDataset.csv"))
    history = result["history"]
    train_loss = [row["train_loss"] for row in history]
    assert len(history) == 5
    assert all(later < earlier for earlier, later in zip(train_loss, train_loss[1:])), train_loss
    assert train_loss[-1] < 0.4, train_loss
    assert history[-1]["valid_acc"] >= 0.85, history
    assert 0.85 <= result["test_acc"] < 0.995, result["test_acc"]
