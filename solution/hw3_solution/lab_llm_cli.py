"""Run the whole Lab 2 reference (`hw3_solution.lab_llm.run_lab`) and report its numbers.

    python -m hw3_solution.lab_llm_cli [--model gpt2] [--json report.json] ...

Kept apart from `lab_llm` so that the notebook's import cell stays the lab's own. Set the
Hugging Face environment (for example `hw3_fixtures.offline.prepare_offline_home`'s) before
starting it: the libraries read it when they are imported.
"""

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from hw3_solution import lab_llm


def summary(report: lab_llm.LabLLMReport) -> str:
    """The comparison of question (f) as a few lines of text."""
    lines = [
        f"rows: train {report.train_rows}, validation {report.eval_rows}",
        f"perplexity before fine-tuning: {report.initial_perplexity:.4f}",
    ]
    for result in (report.full, report.lora):
        lines.append(
            f"{result.method}: perplexity {result.perplexity:.4f}, "
            f"{result.trainable_params:,} trainable parameters, "
            f"{result.train_seconds:.1f} s training, "
            f"train loss {[round(x, 3) for x in result.train_loss]}, "
            f"valid loss {[round(x, 3) for x in result.eval_loss]}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hw3_solution.lab_llm_cli",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default=lab_llm.MODEL_NAME, help="model name or folder")
    parser.add_argument("--dataset", default=lab_llm.DATASET_NAME)
    parser.add_argument("--dataset-config", default=lab_llm.DATASET_CONFIG)
    parser.add_argument("--fraction", type=float, default=0.1, help="share of rows kept")
    parser.add_argument("--full-output-dir", default=lab_llm.FULL_OUTPUT_DIR)
    parser.add_argument("--lora-output-dir", default=lab_llm.LORA_OUTPUT_DIR)
    parser.add_argument("--seed", type=int, default=lab_llm.SEED)
    parser.add_argument("--json", type=Path, help="also write the whole report here as JSON")
    args = parser.parse_args(argv)
    report = lab_llm.run_lab(
        model_name=args.model,
        dataset_name=args.dataset,
        dataset_config=args.dataset_config,
        fraction=args.fraction,
        full_output_dir=args.full_output_dir,
        lora_output_dir=args.lora_output_dir,
        seed=args.seed,
    )
    if args.json:
        args.json.write_text(json.dumps(dataclasses.asdict(report), indent=2), encoding="utf-8")
    print(summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
