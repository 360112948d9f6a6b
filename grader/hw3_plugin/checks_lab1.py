"""Lab 1 checks: pure comparisons of probe data against what the homework's contract asks.

Each function takes the probe's returned data (plain JSON) and the grader's own
expectations, and returns one `CheckResult` per check id (``keyed`` names it after its
key; the plug-in adds the status of the call that fed it). Nothing here runs student code.

Hidden checks canary (hw3_solution.REFERENCE_CANARY): hw3-canary-7c1e5a90d24b4f3e
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence

from autograder.models import CheckResult
from hw3_student import checks as public

from .results import failed as fail
from .results import keyed, result
from .results import passed as ok

# (a) load_imdb --------------------------------------------------------------------------


@keyed
def judge_split(data: Mapping, reviews: Sequence[str], labels: Sequence[str]
                ) -> dict[str, CheckResult]:
    """Sizes 7:1:2, every row used exactly once, labels aligned with their reviews.

    `reviews` are the digests of the data file's reviews and `labels` their sentiments.
    """
    if "error" in data:
        msg = data["error"]
        return {c: fail(msg) for c in ("lab1a.sizes", "lab1a.complete", "lab1a.aligned")}
    verdicts: dict[str, CheckResult] = {
        "lab1a.sizes": result("lab1a.sizes", *public.split_sizes(data, len(reviews)))}
    seen = Counter(d for part in data["x"] for d in part)
    wanted = Counter(reviews)
    if seen == wanted:
        verdicts["lab1a.complete"] = ok("every review appears in exactly one part")
    else:
        missing = sum((wanted - seen).values())
        extra = sum((seen - wanted).values())
        verdicts["lab1a.complete"] = fail(
            f"expected the three parts to hold every row of the file once; {missing} rows are "
            f"missing and {extra} rows are repeated or not from the file"
        )
    verdicts["lab1a.aligned"] = _judge_alignment(data, reviews, labels)
    return verdicts


def _judge_alignment(data: Mapping, reviews: Sequence[str], labels: Sequence[str]) -> CheckResult:
    """Each (review, label) pair is one of the file's, under one consistent label mapping."""
    truth: dict[str, set[str]] = {}
    for digest, label in zip(reviews, labels):
        truth.setdefault(digest, set()).add(label)
    mapping: dict[str, set[str]] = {}
    unknown = 0
    for xs, ys in zip(data["x"], data["y"]):
        for digest, label in zip(xs, ys):
            if digest not in truth:
                unknown += 1
                continue
            mapping.setdefault(label, set()).update(truth[digest])
    ambiguous = {k: sorted(v) for k, v in mapping.items() if len(v) > 1}
    if ambiguous or not mapping or len(mapping) != 2:
        return fail(
            "expected each review to keep its own label (one consistent mapping of the two "
            f"sentiments); saw labels {sorted(mapping)} standing for "
            f"{ {k: sorted(v) for k, v in mapping.items()} }"
        )
    return ok(f"labels stay with their reviews (mapping {sorted(mapping)}; {unknown} unmatched)")


# (b) build_vocab ------------------------------------------------------------------------


@keyed
def judge_vocab(data: Mapping, cases: Sequence[Mapping], pad: str, unk: str
                ) -> dict[str, CheckResult]:
    """Stop words gone, min_freq inclusive, PAD 0 / UNK 1, unique indices, nothing extra.

    Each case holds `kept` (words that must be in), `dropped_rare`, `dropped_stop`.
    """
    vocabs = data["vocabs"]
    v: dict[str, CheckResult] = {}
    v["lab1b.stop_words"] = result("lab1b.stop_words", *public.vocab_stop_words(
        data, [c["dropped_stop"] for c in cases]))
    missing = sorted({w for voc, c in zip(vocabs, cases) for w in c["kept"] if w not in voc})
    rare = sorted({w for voc, c in zip(vocabs, cases) for w in c["dropped_rare"] if w in voc})
    at_threshold = sorted({w for c in cases for w in c["at_threshold"]} & set(missing))
    if missing or rare:
        detail = []
        if at_threshold:
            detail.append(f"words seen exactly min_freq times are missing ({at_threshold[:3]}): "
                          "the threshold is inclusive (count >= min_freq)")
        if set(missing) - set(at_threshold):
            detail.append(f"frequent words missing: {sorted(set(missing) - set(at_threshold))[:5]}")
        if rare:
            detail.append(f"words rarer than min_freq kept: {rare[:5]}")
        v["lab1b.min_freq"] = fail("expected exactly the words with count >= min_freq; " +
                                   "; ".join(detail))
    else:
        v["lab1b.min_freq"] = ok("words are kept exactly when count >= min_freq")
    v["lab1b.special"] = result("lab1b.special", *public.vocab_special(data, pad, unk))
    dupes = [len(voc) - len(set(voc.values())) for voc in vocabs]
    v["lab1b.unique"] = (ok if not any(dupes) else fail)(
        "every word has its own index" if not any(dupes)
        else f"expected one index per word; {max(dupes)} indices are shared"
    )
    return v


# (c) tokenize ---------------------------------------------------------------------------


@keyed
def judge_tokenize(data: Mapping, expected: Sequence[Sequence[int]], unk_case: int,
                   stop_case: int, stop_as_unk: Sequence[int] | None = None
                   ) -> dict[str, CheckResult]:
    """Ids agree with the vocabulary, unknown words give UNK, stop words dropped as in (b).

    `stop_as_unk`: the stop-word case's ids when stop words map to UNK, accepted as well
    where the handout's wording allows it (the Spring 2025 handout's (c)); None: not.
    """
    seen = data["ids"]
    plain = [i for i in range(len(expected)) if i not in (unk_case, stop_case)]
    v: dict[str, CheckResult] = {}
    v["lab1c.ids"] = result("lab1c.ids", *public.tokenize_ids(data, expected, plain))
    v["lab1c.unk"] = ok(f"unknown words give the UNK index: {seen[unk_case]}") if (
        list(seen[unk_case]) == list(expected[unk_case])) else fail(
        f"expected unknown words to give the UNK index: {expected[unk_case]}; "
        f"saw {seen[unk_case]}")
    stop_seen = list(seen[stop_case])
    if stop_as_unk is None:
        v["lab1c.stop_words"] = ok(
            f"stop words are removed as in build_vocab: {stop_seen}") if (
            stop_seen == list(expected[stop_case])) else fail(
            f"expected stop words removed as in build_vocab: {expected[stop_case]}; "
            f"saw {stop_seen}")
    elif stop_seen in (list(expected[stop_case]), list(stop_as_unk)):
        v["lab1c.stop_words"] = ok(
            "stop words are " + ("left out" if stop_seen == list(expected[stop_case])
                                 else "mapped to UNK (the handout's (c) allows either)"))
    else:
        v["lab1c.stop_words"] = fail(
            f"expected stop words left out ({expected[stop_case]}) or mapped to UNK "
            f"({list(stop_as_unk)}); saw {stop_seen}")
    return v


# (d) IMDB.__getitem__ -------------------------------------------------------------------


@keyed
def judge_items(data: Mapping, expected_ids: Sequence[Sequence[int]], max_length: int,
                labels01: Sequence[int]) -> dict[str, CheckResult]:
    """Truncation to max_length, length = len(ids), label 1 positive / 0 negative."""
    runs = [r for r in data["runs"].values() if "items" in r]
    names = ("lab1d.keys", "lab1d.truncation", "lab1d.length", "lab1d.label")
    error = public.items_error(data)
    if error:
        return {c: fail(error) for c in names}
    own = data.get("own_tokenize") or []

    def ids_ok(item: Mapping, i: int) -> bool:
        candidates = [list(expected_ids[i])[:max_length]]
        if i < len(own) and own[i] is not None:
            candidates.append(list(own[i])[:max_length])
        return item["ids"] in candidates

    def best(predicate) -> list[Mapping] | None:
        """The items of a run where `predicate` holds for every item, else None."""
        return next((r["items"] for r in runs
                     if all(predicate(it, i) for i, it in enumerate(r["items"]))), None)

    def first_bad(predicate) -> tuple[int, Mapping]:
        """The first probe item of the first run where `predicate` fails."""
        items = runs[0]["items"]
        i = next(i for i, it in enumerate(items) if not predicate(it, i))
        return i, items[i]

    v: dict[str, CheckResult] = {  # public checks: hw3_student's logic and words
        "lab1d.keys": result("lab1d.keys", *public.items_keys(data)),
        "lab1d.length": result("lab1d.length", *public.items_length(data))}
    if best(ids_ok):
        v["lab1d.truncation"] = ok(f"each review's ids are cut to max_length={max_length}")
    else:
        i, it = first_bad(ids_ok)
        want = list(expected_ids[i])[:max_length]
        v["lab1d.truncation"] = fail(
            f"expected the ids of probe review {i + 1} ({len(expected_ids[i])} words) cut to "
            f"max_length={max_length}: {want}; saw {it['ids']} ({len(it['ids'])} ids)")
    if best(lambda it, i: it["label"] == labels01[i]):
        v["lab1d.label"] = ok("label is 1 for positive and 0 for negative reviews")
    else:
        v["lab1d.label"] = fail(
            "expected label 1 for positive and 0 for negative; saw "
            f"{[it['label'] for it in runs[0]['items']]} for {list(labels01)}")
    return v


# (e) LSTM -------------------------------------------------------------------------------


@keyed
def judge_init(data: Mapping, configs: Sequence[Mapping],
               expected_params: Sequence[int]) -> dict[str, CheckResult]:
    """Embedding (padding index), LSTM, linear and dropout layers with the right sizes."""
    problems: dict[str, list[str]] = {k: [] for k in ("lstm", "linear", "dropout", "params")}
    for model, cfg, n_params in zip(data["models"], configs, expected_params):
        layers = model["layers"]
        directions = 2 if cfg["bidirectional"] else 1
        if not any(m["input"] == cfg["embedding_dim"] and m["hidden"] == cfg["hidden_dim"]
                   and m["layers"] == cfg["n_layers"]
                   and m["bidirectional"] == cfg["bidirectional"] for m in layers["lstm"]):
            problems["lstm"].append(
                f"no LSTM {cfg['embedding_dim']} -> {cfg['hidden_dim']} with "
                f"{cfg['n_layers']} layer(s), bidirectional={cfg['bidirectional']}")
        if not any(m["out"] == cfg["output_dim"] and m["in"] == cfg["hidden_dim"] * directions
                   for m in layers["linear"]):
            problems["linear"].append(
                f"no linear layer {cfg['hidden_dim'] * directions} -> {cfg['output_dim']}")
        drops = [d["p"] for d in layers["dropout"]]
        if not any(math.isclose(p, cfg["dropout_rate"]) for p in drops):
            problems["dropout"].append(f"no dropout layer with p={cfg['dropout_rate']} "
                                       f"(saw {drops})")
        if model["trainable"] != n_params:
            problems["params"].append(
                f"{model['trainable']} trainable parameters, expected {n_params}")
    return {
        "lab1e_init.embedding": result("lab1e_init.embedding",
                                       *public.init_embedding(data, configs)),
        **{f"lab1e_init.{kind}": result(f"lab1e_init.{kind}", not found,
                                        "expected the layer sizes to follow the arguments; "
                                        + "; ".join(found) if found else f"{kind} as specified")
           for kind, found in problems.items()},
    }


@keyed
def judge_forward(data: Mapping, batch: int, output_dim: int,
                  reference_logits: Sequence[Sequence[float]] | None = None
                  ) -> dict[str, CheckResult]:
    """Output [batch, output_dim]; padding the batch further or running a row alone agrees;
    with the layers found by type set to the probe's weights, the same logits as the
    reference forward (up to a constant per row, so log-probabilities also pass: both give
    the same cross-entropy loss; probabilities do not)."""
    v: dict[str, CheckResult] = {}
    v["lab1e_forward.shape"] = result("lab1e_forward.shape",
                                      *public.forward_shape(data, batch, output_dim))
    wider = _max_gap(data["padded"], data["wider"])
    alone = _max_gap(data["padded"], data["alone"])
    if wider < 1e-4 and alone < 1e-4:
        v["lab1e_forward.padding"] = ok(
            "a sequence's output stays the same when the batch is padded further or when it "
            f"runs alone (largest change {max(wider, alone):.3g})")
    else:
        v["lab1e_forward.padding"] = fail(
            "expected a sequence's output not to change when the batch is padded further or "
            "when it runs alone (padding must be skipped, e.g. packed); largest change "
            f"{max(wider, alone):.3g}")
    v["lab1e_forward.logits"] = _judge_logits(data, reference_logits)
    return v


def _judge_logits(data: Mapping, reference: Sequence[Sequence[float]] | None) -> CheckResult:
    seen = data.get("logits")
    if seen is None or reference is None:
        return ok("outputs judged by their shape and padding only: "
                  + (data.get("layers") or "no reference to compare"))
    gap = _max_gap([_centred(r) for r in seen], [_centred(r) for r in reference])
    if gap < 1e-4:
        return ok("with the grader's weights in its embedding, LSTM and linear layer, the "
                  f"forward gives the reference's logits (largest difference {gap:.2g})")
    probabilities = all(math.isclose(sum(r), 1.0, abs_tol=1e-4) and min(r) >= 0 for r in seen)
    return fail(
        "expected the forward to return logits (the linear layer's output, as "
        "CrossEntropyLoss takes them); with the grader's weights in its embedding, LSTM and "
        f"linear layer it differs from the reference forward by up to {gap:.3g}"
        + (" and each row sums to 1: these are probabilities (remove the softmax)"
           if probabilities else ""))


def _centred(row: Sequence[float]) -> list[float]:
    mean = sum(row) / len(row) if row else 0.0
    return [x - mean for x in row]


def _max_gap(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> float:
    try:
        return max(abs(x - y) for ra, rb in zip(a, b, strict=True)
                   for x, y in zip(ra, rb, strict=True))
    except ValueError:
        return math.inf


# (f) training run -----------------------------------------------------------------------

_FLOAT = re.compile(r"[-+]?(\d*)\.(\d+)(?:[eE]([-+]?\d+))?|[-+]?\d+[eE][-+]?\d+")


def _printed_numbers(text: str) -> list[tuple[float, float]]:
    """Every decimal number printed, with half a unit of its last printed digit (the
    rounding it may carry: 0.05 for ``0.7``, 0.0005 for ``0.693``). Numbers beyond a float's
    range (``1e999``, or 400 printed decimals: student output may be anything) are skipped."""
    numbers = []
    for match in _FLOAT.finditer(text):
        decimals = len(match.group(2) or "")
        exponent = int(match.group(3) or 0) if match.group(2) is not None else int(
            match.group(0).lower().split("e")[1])
        if abs(exponent - decimals) > 300:  # no loss or accuracy: out of a float's range
            continue
        numbers.append((float(match.group(0)), 0.5 * 10.0 ** (exponent - decimals) + 1e-9))
    return numbers


def _was_printed(value: float, numbers: Sequence[tuple[float, float]]) -> bool:
    """True when `value` appears among printed numbers (as a fraction or a percentage),
    within the printed precision, and never stricter than 0.006 (0.6 points of a
    percentage): an epoch's mean loss may be weighted by batch size or summed in float32."""
    return any(abs(n - value) <= max(half, 0.006) or abs(n - 100 * value) <= max(half, 0.6)
               for n, half in numbers)


@keyed
def judge_training(data: Mapping, n_epochs: int,
                   accuracy_band: Sequence[float] | None = None) -> dict[str, CheckResult]:
    """Per-epoch loss reported, training loss falling, at full size the test accuracy inside
    the band of real runs (a check of its own), best-validation weights tested, a
    prediction printed."""
    calls = data["calls"]
    raised = data.get("raised")
    trains = [c for c in calls if c["kind"] == "train"]
    if raised and not trains:
        return {c: fail(f"train_and_test_model_with_hparams(...) raised {raised} before any "
                        "training epoch") for c in ("lab1f.epochs", "lab1f.falling",
                                                    "lab1f.accuracy", "lab1f.best_weights",
                                                    "lab1f.prediction")}
    evals = [c for c in calls if c["kind"] == "evaluate"]
    train_rows = {c["rows"] for c in trains}
    test_rows = evals[-1]["rows"] if evals else None
    valid = [c for c in evals if c["rows"] not in train_rows and c["rows"] != test_rows]
    tests = [c for c in evals if c["rows"] == test_rows][-1:]
    numbers = _printed_numbers(data["printed"])
    v: dict[str, CheckResult] = {}
    losses = [c["loss"] for c in trains]
    reported = sum(_was_printed(x, numbers) for x in losses if x is not None)
    if len(trains) == n_epochs and reported == n_epochs:
        v["lab1f.epochs"] = ok(f"{n_epochs} epochs ran, each epoch's mean training loss printed")
    else:
        v["lab1f.epochs"] = fail(
            f"expected {n_epochs} epochs, each training and validation loss printed; saw "
            f"{len(trains)} training epochs"
            + (f", only {reported} of their mean losses printed" if reported < len(trains)
               else ""))
    shown = ", ".join(f"{x:.3f}" for x in losses if x is not None)
    if len(losses) >= 2 and all(x is not None for x in losses) and losses[-1] < losses[0]:
        v["lab1f.falling"] = ok(f"the training loss falls over the epochs: {shown}")
    else:
        v["lab1f.falling"] = fail(
            f"expected the training loss to fall over the epochs; saw losses {shown or 'none'}")
    test_acc = tests[-1]["acc"] if tests else None
    if accuracy_band is None:
        v["lab1f.accuracy"] = ok(
            f"test accuracy {_show_acc(test_acc)}: the band of real runs applies to the full "
            "IMDB file only")
    elif test_acc is not None and accuracy_band[0] <= test_acc <= accuracy_band[1]:
        v["lab1f.accuracy"] = ok(f"test accuracy {test_acc:.3f} lies within "
                                 f"{accuracy_band[0]}-{accuracy_band[1]}, as in real runs")
    else:
        v["lab1f.accuracy"] = fail(
            f"expected a test accuracy within {accuracy_band[0]}-{accuracy_band[1]} as in real "
            f"runs; saw {_show_acc(test_acc)}")
    if valid and tests:
        epoch_evals = valid[:len(trains)] if trains else valid
        best = min(epoch_evals, key=lambda c: c["loss"])
        epoch = epoch_evals.index(best) + 1
        if _close(tests[-1]["weights"], best["weights"]):
            v["lab1f.best_weights"] = ok(
                f"the test set was evaluated with the weights of epoch {epoch}, the epoch with "
                "the lowest validation loss")
        else:
            last = _close(tests[-1]["weights"], epoch_evals[-1]["weights"])
            v["lab1f.best_weights"] = fail(
                "expected the test set to be evaluated with the weights of the epoch with the "
                f"lowest validation loss (epoch {epoch}); the tested weights differ"
                + (" (they are the last epoch's: keep a real copy, e.g. "
                   "copy.deepcopy(model.state_dict()), and load it back)" if last else ""))
    else:
        v["lab1f.best_weights"] = fail(
            f"expected validation after each epoch and one test evaluation; saw {len(valid)} "
            f"validation and {len(tests)} test evaluations"
        )
    predictions = [c for c in calls if c["kind"] == "predict"]
    probs = [float(x) for c in predictions for x in c["result"] if _is_prob(x)]
    if any(_was_printed(p, numbers) for p in probs):
        v["lab1f.prediction"] = ok("the first test review's class and probability were printed")
    else:
        v["lab1f.prediction"] = fail(
            "expected the first test review's predicted class and probability printed; "
            + ("a prediction was made but its probability was not printed" if predictions
               else f"the run stopped first: it raised {raised}" if raised
               else "no prediction was made"))
    return v


def _show_acc(value: float | None) -> str:
    return "none (no test evaluation)" if value is None else f"{value:.3f}"


def _is_prob(text: str) -> bool:
    try:
        return 0.0 <= float(text) <= 1.0 and "." in text
    except ValueError:
        return False


def _close(a: Sequence[float], b: Sequence[float]) -> bool:
    return len(a) == len(b) and all(math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-6)
                                    for x, y in zip(a, b))
