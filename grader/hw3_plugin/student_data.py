"""The self-check's data, built from the rubric and the plug-in's own probe plans.

    python -m hw3_plugin.student_data [--out DIR] [--check]

Writes ``starter/hw3_student/data/`` (generated, not committed; the student wheel and
bundle carry it): ``selfcheck.json`` (per automatic item its public check ids and the count
of hidden ones, the probe arguments of the public checks, and the expected values those
checks compare with, computed here with the reference), a small IMDB file, the fixture
GPT-2 (a tiny model with GPT-2's tokenizer format), NLTK's stop words, the starter's own
definitions (``starter_defs.json``: the report shows only what a student added to them) and
the report templates (``report_template/``). Only values
cross over, never code: the public checks' logic already lives in ``hw3_student.checks``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import pandas as pd
from autograder.rubric import Rubric

from .lab1 import FIXED_MODEL, FORWARD_ROWS, OTHER_MODEL, TOKENIZE_TEXTS, Lab1Plan
from .lab2 import MAX_LENGTH, PROMPT, Lab2Plan
from .plugin import RUBRIC_FILE

KIT = Path(__file__).resolve().parents[2]
STARTER_DIR = KIT / "starter"
STUDENT_DATA = STARTER_DIR / "hw3_student" / "data"
TEMPLATES = KIT / "report_template"  # the report's Typst and Markdown templates
IMDB_ROWS = 200  # reviews in the self-check's IMDB file: load_imdb splits them 140/20/40
PLAIN_TEXTS = (0, 1)  # TOKENIZE_TEXTS of known, non-stop words only (lab1c.ids)


def selfcheck_spec(imdb_csv: Path, gpt2_dir: Path, wikitext_dir: Path) -> dict:
    """What the self-check needs, as plain JSON: items, probe arguments, expected values."""
    from hw3_solution import lab_rnn

    rubric = Rubric.load(RUBRIC_FILE)
    lab1, lab2 = Lab1Plan(imdb_csv), Lab2Plan(gpt2_dir, wikitext_dir)
    args1, args2 = lab1.probe_args(), lab2.probe_args()
    hp = lab_rnn.HyperParams()
    from .lab1 import TOKENIZE_VOCAB, VOCAB_CASES

    plain = [TOKENIZE_TEXTS[i] for i in PLAIN_TEXTS]
    items = [{"id": it.item_id, "title": it.title, "lab": it.lab, "public": list(it.public),
              "hidden": len(set(it.checks) - set(it.public))}
             for it in rubric.items if not it.manual]  # a list: the rubric's order
    return {
        "items": items,
        "args": {
            "split": {"csv_path": "imdb.csv"},
            "vocab": args1["vocab"],
            "tokenize": {"vocab": TOKENIZE_VOCAB, "texts": plain},
            "dataset_items": args1["dataset_items"],
            "model_init": {"configs": [FIXED_MODEL, OTHER_MODEL]},
            "model_forward": args1["model_forward"],
            "generate": {**args2["generate"], "model": "gpt2"},
            "tokenize_function": {**args2["tokenize_function"], "model": "gpt2"},
            "perplexity": {**args2["perplexity"], "model": "gpt2"},
        },
        "expected": {
            "split_total": len(pd.read_csv(imdb_csv)),
            "stop_words": [list(c["stop"]) for c in VOCAB_CASES],
            "pad": hp.PAD_TOKEN, "unk": hp.UNK_TOKEN,
            "tokenize_ids": [lab_rnn.tokenize(TOKENIZE_VOCAB, t) for t in plain],
            "model_configs": [FIXED_MODEL, OTHER_MODEL],
            "forward_batch": len(FORWARD_ROWS), "output_dim": FIXED_MODEL["output_dim"],
            "prompt": PROMPT, "max_length": MAX_LENGTH,
            "perplexity": lab2.perplexity_of(lab2.model(), args2["perplexity"]["batches"]),
        },
    }


def build(out: Path = STUDENT_DATA) -> Path:
    """Write the self-check's data folder `out` (replaced whole); returns it."""
    from hw3_fixtures.sources import DataSource

    source = DataSource.fixtures()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    pd.read_csv(source.imdb_csv).head(IMDB_ROWS).to_csv(out / "imdb.csv", index=False)
    shutil.copytree(source.gpt2_dir, out / "gpt2")
    shutil.copytree(source.nltk_dir, out / "nltk_data")
    import nltk  # the reference's stop words (the tokenize expectations) from the fixtures

    if str(source.nltk_dir) not in nltk.data.path:
        nltk.data.path.insert(0, str(source.nltk_dir))
    from hw3_student.added_code import starter_defs_of

    starters = [STARTER_DIR / "LabRNN.ipynb", STARTER_DIR / "LabLLM.ipynb"]
    (out / "starter_defs.json").write_text(
        json.dumps(starter_defs_of(starters), indent=1, sort_keys=True) + "\n",
        encoding="utf-8")
    shutil.copytree(TEMPLATES, out / "templates")
    spec = selfcheck_spec(out / "imdb.csv", Path(source.gpt2_dir), Path(source.wikitext_dir))
    (out / "selfcheck.json").write_text(json.dumps(spec, indent=1, sort_keys=True) + "\n",
                                        encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=STUDENT_DATA)
    parser.add_argument("--check", action="store_true",
                        help="fail when the data folder differs from a fresh build")
    args = parser.parse_args(argv)
    if args.check:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            fresh = build(Path(tmp) / "data")
            stale = [p.name for p in (fresh / "selfcheck.json", fresh / "imdb.csv",
                                      fresh / "starter_defs.json")
                     if not (args.out / p.name).is_file()
                     or (args.out / p.name).read_bytes() != p.read_bytes()]
        if stale:
            print(f"stale self-check data in {args.out}: {stale}; rebuild with "
                  "python -m hw3_plugin.student_data", file=sys.stderr)
            return 1
        return 0
    print(f"wrote {build(args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
