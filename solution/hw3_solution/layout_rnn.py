"""Layout of LabRNN.ipynb (Lab 1: an LSTM sentiment classifier on IMDB)."""

from hw3_solution.layout import Code, Imports, Layout, Markdown, Source, setup_code

INTRO = """\
# Lab 1: LSTM sentiment classifier on IMDB

In this lab you train a one-layer LSTM to tell positive from negative movie reviews of the
IMDB data set (50,000 reviews). Fill in the cells marked **TODO**; every other piece of
code is given and must not be changed (in particular `HyperParams`, the weight
initialisation, the optimizer, the loss and the learning-rate scheduler).

* Run it on a GPU if you can (Colab: *Runtime > Change runtime type > GPU*); a CPU works
  too, only slower.
* Download the IMDB CSV (columns `review` and `sentiment`) and put it next to this notebook
  as `./IMDBDataset.csv` (on Colab: upload it to the session's files).
* Keep the function names and signatures: the grader calls them.
* Check a question as you go with the grader's public checks:
  `from hw3_student import check; check("lab1b")` (`check()` runs all you have defined).
* `hw3-report` turns your executed notebooks into a report skeleton (PDF and Markdown) with
  your code and results; `hw3-pack` builds `code.zip`.
"""

Q_LAB1A = """\
## (a) Data loader (5 points)

Write `load_imdb(base_csv)`: read the CSV and split it into training, validation and test
parts in the ratio **7:1:2** (35,000 / 5,000 / 10,000 reviews). Return
`x_train, x_valid, x_test, y_train, y_valid, y_test`: the reviews in `x`, their labels in
`y`, aligned row by row (pandas Series or numpy arrays; `.shape` is printed below).
"""

Q_LAB1B = """\
## (b) Vocabulary (5 points)

Write the start of `build_vocab(x_train, min_freq, hparams)`: count how often each word
occurs in the training reviews, leave out the stop words (`hparams.STOP_WORDS`) and keep
the words that occur **at least** `min_freq` times in a dictionary `corpus` of
word -> count. The given tail numbers the kept words from 2 upward (most frequent first)
and adds `PAD_TOKEN` -> `PAD_INDEX` (0) and `UNK_TOKEN` -> `UNK_INDEX` (1). How you split a
review into words (lower-casing, punctuation) is your choice: use the same rule in (c).
"""

Q_LAB1C = """\
## (c) Tokenize (5 points)

Write `tokenize(vocab, example)`: the list of vocabulary indices of the words of one
review, split the same way as in (b), with the stop words left out; a word that is not in
the vocabulary maps to `UNK_INDEX`.
"""

Q_LAB1D = """\
## (d) Dataset (5 points)

Write `IMDB.__getitem__(idx)`: return a dictionary
`{'ids': ..., 'length': ..., 'label': ...}` where `ids` are the token ids of review `idx`
truncated to `max_length`, `length` is `len(ids)` and `label` is 1 for a positive review,
0 for a negative one. The given `collate` pads a list of such examples into a batch.
"""

GIVEN_TRAINING = """\
## Given: weight initialisation, training and evaluation

Do not change these. `train` and `evaluate` run one pass over a data loader and return
the per-batch losses and accuracies; `ConstantWithWarmup` raises the learning rate
linearly over its warm-up steps and then keeps it constant (it is stepped every batch);
`predict_sentiment` returns the predicted class of one review and its probability.
"""

Q_LAB1E = """\
## (e) Model (5 + 5 points)

Complete `LSTM`:

* `__init__` (5 points): create an embedding layer (with `padding_idx=pad_index`), an
  `nn.LSTM` (`n_layers`, `bidirectional`), a linear output layer and a dropout layer. The
  given last lines initialise the weights. With the fixed hyperparameters the model has
  *vocabulary size + 41,402* trainable parameters.
* `forward(ids, length)` (5 points): `ids` is a padded batch `[batch, seq_len]`, `length`
  the true lengths; return logits of shape `[batch, output_dim]`. The padding must not
  change the result (hint: `nn.utils.rnn.pack_padded_sequence`; its lengths live on the
  CPU).
"""

Q_LAB1F = """\
## (f) Training and observations (5 points)

Complete `train_and_test_model_with_hparams`. The given part seeds everything, loads the
data, builds the vocabulary, datasets, loaders, model, optimizer, loss and scheduler. Write
the epoch loop: train and evaluate every epoch and print the training and validation loss
and accuracy; keep a copy of the weights of the epoch with the **lowest validation loss**;
after the loop load them back, evaluate on the test set, and predict the sentiment of the
first test review (print the text, the class and its probability). Return a dictionary
with at least `'num_params'`, `'test_loss'` and `'test_acc'`.
"""

OBSERVATIONS = """\
### Observations (report)

In your report, describe how the training and validation loss and accuracy change over
the epochs, which epoch's weights were kept and why, and the test accuracy you reached.
"""

RUN_LOAD = """\
x_train, x_valid, x_test, y_train, y_valid, y_test = load_imdb()
print(f"shape of train data is {x_train.shape}")
print(f"shape of valid data is {x_valid.shape}")
print(f"shape of test data is {x_test.shape}")"""

RUN_VOCAB = """\
vocab = build_vocab(x_train, hparams=hparams)
print(f"Length of vocabulary is {len(vocab)}")"""

RUN_TOKENIZE = """\
print(tokenize(vocab, x_train[0])[:20])"""

RUN_DATASET = """\
train_data = IMDB(x_train, y_train, vocab, hparams.MAX_LENGTH)
example = train_data[0]
print(example["length"], example["label"], example["ids"][:20])"""

RUN_MODEL = """\
model = LSTM(
    len(vocab),
    hparams.EMBEDDING_DIM,
    hparams.HIDDEN_DIM,
    hparams.OUTPUT_DIM,
    hparams.N_LAYERS,
    hparams.DROPOUT_RATE,
    hparams.PAD_INDEX,
    hparams.BIDIRECTIONAL,
)
print(f"The model has {count_parameters(model):,} trainable parameters")
batch = collate([train_data[0], train_data[1]], hparams.PAD_INDEX)
print(model(batch["ids"], batch["length"]).shape)"""

RUN_TRAINING = """\
results = train_and_test_model_with_hparams(hparams, "lstm")
print({key: results[key] for key in ("num_params", "test_loss", "test_acc")})"""

LAYOUT = Layout(
    lab="rnn",
    notebook="LabRNN.ipynb",
    module="hw3_solution.lab_rnn",
    hints={
        "lab1a": "read the CSV and split it 7:1:2 into x_train, x_valid, x_test, "
        "y_train, y_valid, y_test",
        "lab1b": "count the words of x_train without stop words and keep those seen at "
        "least min_freq times in corpus",
        "lab1c": "return the vocabulary indices of the words of example (UNK for unknown "
        "words, stop words left out)",
        "lab1d": "return {'ids': ..., 'length': ..., 'label': ...} for review idx",
        "lab1e_init": "create the embedding, LSTM, linear and dropout layers",
        "lab1e_forward": "return the logits [batch, output_dim] of the padded batch",
        "lab1f": "write the epoch loop, reload the best weights, test and predict",
    },
    cells=(
        Markdown("intro", INTRO),
        Code("setup", setup_code({"nltk": "nltk", "sklearn": "scikit-learn"}, ("stopwords",))),
        Imports("imports"),
        Markdown("given-hparams", "## Given: hyperparameters (do not change)"),
        Source("hparams-def", ("english_stop_words", "HyperParams")),
        Code("hparams", "hparams = HyperParams()\nprint(len(hparams.STOP_WORDS), 'stop words')"),
        Markdown("lab1a-question", Q_LAB1A, ("lab1a",)),
        Source("lab1a", ("load_imdb",)),
        Code("lab1a-run", RUN_LOAD),
        Markdown("lab1b-question", Q_LAB1B, ("lab1b",)),
        Source("lab1b", ("build_vocab",)),
        Code("lab1b-run", RUN_VOCAB),
        Markdown("lab1c-question", Q_LAB1C, ("lab1c",)),
        Source("lab1c", ("tokenize",)),
        Code("lab1c-run", RUN_TOKENIZE),
        Markdown("lab1d-question", Q_LAB1D, ("lab1d",)),
        Source("lab1d", ("IMDB", "collate")),
        Code("lab1d-run", RUN_DATASET),
        Markdown("given-training", GIVEN_TRAINING),
        Source(
            "given-training-def",
            (
                "init_weights",
                "count_parameters",
                "get_accuracy",
                "train",
                "evaluate",
                "ConstantWithWarmup",
                "predict_sentiment",
            ),
        ),
        Markdown("lab1e-question", Q_LAB1E, ("lab1e_init", "lab1e_forward")),
        Source("lab1e", ("LSTM",)),
        Code("lab1e-run", RUN_MODEL),
        Markdown("lab1f-question", Q_LAB1F, ("lab1f",)),
        Source("lab1f", ("train_and_test_model_with_hparams",)),
        Code("lab1f-run", RUN_TRAINING),
        Markdown("lab1f-observations", OBSERVATIONS, ("lab1f_obs",)),
    ),
)
