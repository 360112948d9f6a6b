"""Tests of the faithful-vs-fast benchmark: its goals and table, and a CPU-sized run."""

import json

import pytest
import torch
from hw3_solution.fast import bench
from hw3_solution.fast.bench_report import format_report, goals


def _finetune(item, speedup, fast_seconds, step_max, cut=None):
    agreement = {"objective_first_batches": {"steps": 60, "max": step_max, "mean": step_max / 2},
                 "training_steps": {"steps": 60, "max": 0.05, "mean": 0.004}}
    if cut:
        agreement["eval_loss_after_steps"] = {"steps": cut, "diff": 0.001}
    else:
        agreement["final_eval_loss"] = 0.03
    return {
        "item": item, "speedup": speedup, "agreement": agreement,
        "faithful": {"seconds": speedup * fast_seconds, "prep_seconds": 5.0,
                     "tokens_per_second": 1e3, "peak_gib": 14.5, "estimated_from_steps": cut,
                     "total_steps": 1377, "step_seconds": 0.229, "eval_seconds": 3.0,
                     "setup_seconds": 2.0},
        "fast": {"seconds": fast_seconds, "prep_seconds": 0.7, "tokens_per_second": 1e5,
                 "peak_gib": None},
    }


def test_goals_and_table_read_the_report():
    lab1 = {"item": "lab1", "speedup": 6.0,
            "agreement": {"objective_first_batches": {"steps": 60, "max": 2e-6, "mean": 1e-6},
                          "first_epoch_train_loss": 0.0, "final_valid_loss": 0.05,
                          "test_acc": 0.0},
            "faithful": {"seconds": 60.0, "prep_seconds": 9.0, "tokens_per_second": 1.0,
                         "peak_gib": 0.1},
            "fast": {"seconds": 10.0, "prep_seconds": 9.0, "train_seconds": 8.0,
                     "tokens_per_second": 6.0, "peak_gib": 0.1}}
    report = {"device": "NVIDIA H100 80GB HBM3", "data": "real",
              "versions": {"torch": "2.11"},
              "results": [lab1, _finetune("full", 25.0, 9.0, 0.004, cut=60),
                          _finetune("lora", 12.0, 9.0, 0.02)]}
    report["goals"] = goals(report)
    verdicts = {g["goal"]: g["passed"] for g in report["goals"]}
    assert verdicts == {
        "lab1: per-batch losses of the first batches within 1%": True,
        "lab1: the training epochs < 10 s (prep apart)": True,
        "lab1: final validation loss within 2%": False,
        "full: fast >= 20x faithful and < 15 s": True,
        "full: per-token losses of the first batches within 1%": True,
        "full: eval loss after 60 steps within 2%": True,
        "lora: fast >= 20x faithful and < 15 s": False,
        "lora: per-token losses of the first batches within 1%": False,
        "lora: final eval loss within 2%": False,
    }
    table = format_report(report)
    assert table.startswith("Device: NVIDIA H100 80GB HBM3; data: real")
    assert "* full: faithful time extrapolated from 60 of 1377 steps" in table
    assert "[FAIL] lora: final eval loss within 2%: 3.00%" in table
    assert "25.0x" in table and "14.50" in table


def test_merge_joins_runs_of_one_device_and_refuses_others(tmp_path, capsys):
    base = {"device": "NVIDIA H200", "data": "real", "versions": {"torch": "2.11"},
            "faithful_steps": None}
    first = {**base, "results": [_finetune("full", 25.0, 9.0, 0.004)]}
    second = {**base, "results": [_finetune("lora", 30.0, 8.0, 0.004)]}
    names = []
    for index, report in enumerate((first, second)):
        names.append(tmp_path / f"part{index}.json")
        names[-1].write_text(json.dumps(report))
    out = tmp_path / "merged.json"
    assert bench.main(["--merge", *map(str, names), "--out", str(out)]) == 0
    merged = json.loads(out.read_text())
    assert [r["item"] for r in merged["results"]] == ["full", "lora"]
    assert {g["goal"] for g in merged["goals"]} >= {"full: fast >= 20x faithful and < 15 s",
                                                    "lora: fast >= 20x faithful and < 15 s"}
    assert "lora" in capsys.readouterr().out

    names[1].write_text(json.dumps({**second, "device": "NVIDIA H100 80GB HBM3"}))
    with pytest.raises(SystemExit, match="different device"):
        bench.main(["--merge", *map(str, names), "--out", str(out)])


@pytest.mark.slow
@pytest.mark.cpu_only
@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU-sized run is for CPU machines")
def test_cpu_sized_run_on_the_fixtures(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--only", "lab1,perplexity,lora", "--faithful-steps", "3",
                       "--rnn-epochs", "1",
                       "--train-rows", "40",
                       "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "No CUDA GPU here: running the CPU-sized version on the fixtures." in printed
    report = json.loads(out.read_text())
    assert report["data"] == "fixtures" and report["device"].startswith("CPU")
    lab1, perplexity, lora = report["results"]
    assert lab1["agreement"]["objective_first_batches"]["max"] < 1e-5  # same weights, fp32
    assert perplexity["agreement"]["log_perplexity"] < 1e-4  # fp32 on both sides
    assert lora["faithful"]["estimated_from_steps"] == 3
    assert lora["agreement"]["objective_first_batches"]["max"] < 1e-4  # fp32 on both sides
    assert lora["agreement"]["training_steps"]["steps"] >= 2
    assert lora["agreement"]["eval_loss_after_steps"]["steps"] == 3
    assert lora["fast"]["graph_widths"] == []  # no CUDA graphs on a CPU
    assert "Goals:" in printed and "lora: per-token losses of the first batches" in printed
